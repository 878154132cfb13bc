"""Every test runs offline in its own data directory with no config file."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ollama_replay import OllamaReplay
from tests.servers import ChromaServer, PostgresServer, postgres_bin_dir


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data directory, no config file, Ollama pointed at a closed port."""
    for name in list(__import__("os").environ):
        if name.startswith("NEUROFORGE_"):
            monkeypatch.delenv(name)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("NEUROFORGE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("NEUROFORGE_OLLAMA_BASE_URL", closed_port_url())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    from neuroforge.models import backends as llm

    llm._PROBE_CACHE.clear()
    return data_dir


@pytest.fixture
def ollama() -> Iterator[OllamaReplay]:
    """A replaying Ollama server on a free port."""
    with OllamaReplay() as server:
        yield server


def _server_missing(what: str) -> None:
    # In CI the Makefile installs the servers: a missing one is a setup bug, not a skip.
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed; `make test` installs it")
    pytest.skip(f"{what} is not installed (`make test` installs it)")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL cluster for the whole session."""
    if postgres_bin_dir() is None:
        _server_missing("PostgreSQL (Debian package postgresql)")
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def chroma_server() -> Iterator[ChromaServer]:
    """One ``chroma run`` server for the whole session."""
    with ChromaServer() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.server)])
def store_url(request: pytest.FixtureRequest, isolated_env: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty knowledge store: SQLite in the data directory, then PostgreSQL.

    The URL is also the configured one (``NEUROFORGE_DATABASE_URL``), so code that opens
    the store from settings, and the checkpointer that follows it, use the same backend.
    """
    from neuroforge import process_cache

    if request.param == "sqlite":
        url = f"sqlite:///{isolated_env / 'neuroforge.db'}"
        monkeypatch.setenv("NEUROFORGE_DATABASE_URL", url)
        yield url
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.new_database()
    monkeypatch.setenv("NEUROFORGE_DATABASE_URL", url)
    yield url
    process_cache.clear()
    server.drop_database(url)  # also ends connections a test left open


@pytest.fixture(params=["local", pytest.param("server", marks=pytest.mark.server)])
def chroma_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """Long-term memory in a local folder (``None``), then on a Chroma server: a fresh
    database per test on the session's ``chroma run``, also set as the configured URL."""
    if request.param == "local":
        return None
    server: ChromaServer = request.getfixturevalue("chroma_server")
    url = f"{server.url}/t_{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("NEUROFORGE_CHROMA_URL", url)
    return url


def pytest_collection_finish(session: pytest.Session) -> None:
    """Stop at once, in one line, when the embedded model's llama.cpp build crashes on this
    CPU: otherwise the first embedded test takes the whole run down with a bare
    segfault, and nothing says why."""
    if not any(item.get_closest_marker("embedded") for item in session.items):
        return
    from neuroforge.doctor import REBUILD_LLAMA, native_crash
    from neuroforge.models.embedded import EmbeddedModelMissingError, default_gguf_path

    try:
        path = default_gguf_path()
    except EmbeddedModelMissingError:
        return  # the embedded tests say so themselves, one by one
    crash = native_crash(str(path))
    if crash:
        pytest.exit(f"llama.cpp {crash} running the bundled model on this CPU; rebuild "
                    f"llama-cpp-python: {REBUILD_LLAMA}", returncode=1)
