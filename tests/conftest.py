"""Every test runs offline in its own data directory with no config file."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ollama_replay import OllamaReplay


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
