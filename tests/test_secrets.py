"""Credentials in URLs never leave in clear; memories can be forgotten by pattern."""

import json
from urllib.parse import urlparse

import pytest
from typer.testing import CliRunner

from neuroforge.cli import app
from neuroforge.knowledge.redaction import mask_secrets, mask_url
from neuroforge.knowledge.registry import DiscoveredModel, Discovery, list_models, sync_models
from neuroforge.models.backends import ModelError
from neuroforge.models.ollama_api import OllamaUnreachableError
from neuroforge.settings import load_settings
from neuroforge.wiring import long_term_memory, open_store

runner = CliRunner()


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://user:hunter2@ollama:11434", "http://user:***@ollama:11434"),
        ("postgresql+psycopg://nf:s3cr3t@db/nf", "postgresql+psycopg://nf:***@db/nf"),
        ("https://sk-token@api.example.com/v1", "https://***@api.example.com/v1"),
        ("http://localhost:11434", "http://localhost:11434"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert mask_secrets(f"failed to reach {url} twice") == f"failed to reach {masked} twice"


def test_errors_config_and_store_never_show_the_password(
        monkeypatch: pytest.MonkeyPatch, isolated_env) -> None:
    port = urlparse(load_settings().ollama_base_url).port  # a closed loopback port
    secret_url = f"http://admin:hunter2@127.0.0.1:{port}"
    monkeypatch.setenv("NEUROFORGE_OLLAMA_BASE_URL", secret_url)
    shown = runner.invoke(app, ["config", "show", "--json"])
    assert "hunter2" not in shown.output and json.loads(shown.output)["ollama_base_url"] == (
        f"http://admin:***@127.0.0.1:{port}")
    assert "hunter2" not in str(ModelError("m", secret_url, f"POST {secret_url}/api/chat: 500"))
    assert "hunter2" not in str(OllamaUnreachableError(secret_url, "refused"))
    listed = runner.invoke(app, ["models", "list", "--json"])
    assert "hunter2" not in listed.output
    text = runner.invoke(app, ["models", "list"])
    assert "hunter2" not in text.output and "admin:***@" in " ".join(text.output.split())
    with open_store(load_settings()).session() as session:
        sync_models(session, Discovery([DiscoveredModel("remote", "ollama", secret_url)], None))
        assert all("hunter2" not in m.location for m in list_models(session))


def test_memory_forget_by_pattern() -> None:
    memory = long_term_memory(load_settings())
    memory.remember("My locker code is 4411 at the gym.", session_id="a")
    memory.remember("My API key for the weather site is abc123.", session_id="b")
    memory.remember("I like hiking in the Alps in summer.", session_id="b")
    result = runner.invoke(app, ["memory", "forget", "--matching", "locker code|api key",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["forgotten"] == 2
    assert [m.text for m in memory.recall("hobbies", 5)] == [
        "I like hiking in the Alps in summer."]
    bad = runner.invoke(app, ["memory", "forget", "--matching", "(unclosed"])
    assert bad.exit_code == 2 and "not a valid pattern" in bad.output
    none = runner.invoke(app, ["memory", "forget", "--matching", "zebra"])
    assert none.exit_code == 1 and "no memory matching 'zebra'" in none.output
