"""The Q8_0 copy of the bundled GGUF (``models.quantized_copy``), on the real file."""

from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from neuroforge.models.backends import LLMConfig, create_chat_model, model_identity
from neuroforge.models.embedded import (
    EmbeddedChatModel,
    EmbeddedModelMissingError,
    _made_copy,
    default_gguf_path,
)
from neuroforge.models.quantized_copy import QuantizedCopyError, copy_path, ensure_copy
from neuroforge.settings import Settings
from neuroforge.wiring import llm_config
from tests.conftest import closed_port_url

pytestmark = pytest.mark.embedded

Q8_0_FILE_TYPE = 7  # llama.cpp's LLAMA_FTYPE_MOSTLY_Q8_0, as general.file_type records it


def _file_type(path: Path) -> int:
    from llama_cpp import Llama

    llama = Llama(model_path=str(path), n_ctx=64, vocab_only=True, verbose=False)
    return int(llama.metadata["general.file_type"])


def test_the_copy_is_q8_0_written_once_and_replaces_stale_ones(tmp_path: Path) -> None:
    source = default_gguf_path()
    stale = tmp_path / f"{source.stem}.q8_0-000000000000.gguf"
    stale.write_bytes(b"an older copy")
    copy = ensure_copy(source, tmp_path, "q8_0")
    assert copy == copy_path(source, tmp_path, "q8_0") and copy.parent == tmp_path
    assert _file_type(copy) == Q8_0_FILE_TYPE != _file_type(source)
    written = copy.stat().st_mtime_ns
    assert ensure_copy(source, tmp_path, "q8_0").stat().st_mtime_ns == written
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [copy.name]  # no partial file left
    assert ensure_copy(source, tmp_path, "bundled") == source


def test_a_directory_that_cannot_be_written_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "models"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(QuantizedCopyError, match="cannot write the q8_0 copy.*bundled"):
        ensure_copy(default_gguf_path(), blocker, "q8_0")
    with pytest.raises(QuantizedCopyError, match="not found"):
        ensure_copy(tmp_path / "missing.gguf", tmp_path, "q8_0")


def test_a_source_llama_cpp_cannot_read_leaves_nothing_behind(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"GGUF" + b"\x00" * 64)
    copies = tmp_path / "copies"
    with pytest.raises(QuantizedCopyError, match="llama.cpp gave up"):
        ensure_copy(garbage, copies, "q8_0")
    assert list(copies.iterdir()) == []


def test_the_settings_run_the_bundled_file_as_its_copy(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, embedded_quantization="q8_0",
                        ollama_base_url=closed_port_url(), backend="embedded")
    model = create_chat_model(None, llm_config(settings), temperature=0.0, max_tokens=8)
    assert isinstance(model, EmbeddedChatModel) and model.quantization == "q8_0"
    assert model.invoke([HumanMessage("Is the sky blue? Answer yes or no.")]).text.strip()
    assert Path(model.run_path()).parent == tmp_path / "models"
    assert model_identity(model)[1].endswith("(run as q8_0)")
    # A file the user names runs as it is.
    named = Settings(data_dir=tmp_path, embedded_quantization="q8_0",
                     embedded_model_path=default_gguf_path(), backend="embedded")
    as_is = create_chat_model(None, llm_config(named))
    assert isinstance(as_is, EmbeddedChatModel) and as_is.quantization == "bundled"
    assert as_is.run_path() == str(default_gguf_path())


def test_a_copy_that_cannot_be_made_is_a_missing_model(tmp_path: Path) -> None:
    (tmp_path / "models").write_text("not a directory")
    config = LLMConfig(backend="embedded", embedded_quantization="q8_0",
                       embedded_copy_dir=str(tmp_path / "models"))
    model = create_chat_model(None, config)
    with pytest.raises(EmbeddedModelMissingError, match="cannot write the q8_0 copy"):
        model.invoke("hello")
    with pytest.raises(EmbeddedModelMissingError, match="copy_dir"):
        EmbeddedChatModel(quantization="q8_0").invoke("hello")


def test_doctor_checks_the_copy_it_would_run(isolated_env: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from neuroforge.cli import app

    monkeypatch.setenv("NEUROFORGE_EMBEDDED_QUANTIZATION", "q8_0")
    doctor = CliRunner().invoke(app, ["doctor", "--json"])
    checks = {c["name"]: c for c in json.loads(doctor.output)["checks"]}
    assert checks["embedded model"]["status"] == "ok", checks["embedded model"]
    assert str(isolated_env / "models") in checks["embedded model"]["detail"]
    for copy in (isolated_env / "models").iterdir():
        copy.unlink()
    (isolated_env / "models").rmdir()
    (isolated_env / "models").write_text("not a directory")
    _made_copy.cache_clear()  # as a new process would: this one remembers the copy it made
    doctor = CliRunner().invoke(app, ["doctor", "--json"])
    embedded = {c["name"]: c for c in json.loads(doctor.output)["checks"]}["embedded model"]
    assert embedded["status"] == "fail" and "cannot write the q8_0 copy" in embedded["detail"]
    assert doctor.exit_code != 0
