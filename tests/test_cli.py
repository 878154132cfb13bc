import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neuroforge.cli import app
from tests.ollama_replay import OllamaReplay

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("doctor", "config", "models", "db", "demo"):
        assert command in result.output


def test_config_show_json_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROFORGE_OLLAMA_API_KEY", "sk-live-123")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["ollama_api_key"] == "***" and "sk-live-123" not in result.output
    assert data["database_url"].startswith("sqlite:///")


def test_bad_setting_is_a_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROFORGE_BACKEND", "gpu")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert "invalid configuration" in result.output and "backend" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("content", [b"garbage", b"\xff\xfe = 1", b"[budgets]\nmax_tokens = "])
def test_a_config_file_that_is_not_toml_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(content)
    monkeypatch.setenv("NEUROFORGE_CONFIG", str(path))
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2, result.output
    assert f"cannot read the config file {path}" in result.output
    assert "Traceback" not in result.output


def test_models_list_json_merges_embedded_and_ollama(
    ollama: OllamaReplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEUROFORGE_OLLAMA_BASE_URL", ollama.url)
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    names = [m["name"] for m in data["models"]]
    assert names == ["smollm2-135m", "llama3.2:3b", "qwen2.5:0.5b"]
    assert data["ollama_error"] is None
    assert data["models"][1]["details"]["parameter_size"] == "3.2B"


def test_model_checks_know_every_spelling_resolve_model_takes(
    ollama: OllamaReplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    from neuroforge.cli.model_checks import unknown_models
    from neuroforge.settings import load_settings

    monkeypatch.setenv("NEUROFORGE_OLLAMA_BASE_URL", ollama.url)
    settings = load_settings()
    assert unknown_models(settings, ["embedded", "smollm2-135m", "llama3.2:3b",
                                     "ollama:qwen2.5:0.5b"]) == []
    [problem] = unknown_models(settings, ["ollama:nope"])
    assert problem.startswith("unknown model 'ollama:nope' (no such model)")


def test_models_list_with_ollama_down_still_lists_embedded() -> None:
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert [m["name"] for m in data["models"]] == ["smollm2-135m"]
    assert "not reachable" in data["ollama_error"]


def test_optimize_with_a_configured_ollama_down_is_one_line_and_keeps_the_run(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEUROFORGE_BACKEND", "ollama")
    result = runner.invoke(app, ["optimize", "Write about dogs.", "--budget", "40"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "Ollama is not reachable" in result.output
    run_id = result.output.split("--resume ")[1].split("`")[0]
    runs = json.loads(runner.invoke(app, ["runs", "--json"]).stdout)["runs"]
    assert [r["status"] for r in runs if r["id"] == run_id] == ["interrupted"]


def test_chat_with_a_configured_ollama_down_is_one_line_before_any_session(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEUROFORGE_BACKEND", "ollama")
    result = runner.invoke(app, ["chat"], input="hi\n")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "Ollama is not reachable" in result.output
    runs = json.loads(runner.invoke(app, ["runs", "--json"]).stdout)["runs"]
    assert not [r for r in runs if r["graph"] == "chat"]


def test_profile_unknown_model_is_a_clear_error() -> None:
    result = runner.invoke(app, ["models", "profile", "gpt-17"])
    assert result.exit_code == 2
    assert "unknown or unavailable model 'gpt-17'" in result.output
    assert "smollm2-135m" in result.output


def test_profile_ollama_model_against_recording_stores_profile(
    ollama: OllamaReplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEUROFORGE_OLLAMA_BASE_URL", ollama.url)
    result = runner.invoke(app, ["models", "profile", "llama3.2:3b", "--probes", "2", "--json"])
    assert result.exit_code == 0, result.output
    [profile] = json.loads(result.output)["profiles"]
    # The recording always answers {"label": "positive", ...}: valid for sentiment, not for
    # the second probe's schema; the numbers must say exactly that.
    assert profile["structured_valid_rate"] == 0.5
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    llama = next(m for m in listed["models"] if m["name"] == "llama3.2:3b")
    assert llama["profile"]["probes"] == 2


def test_db_status_reports_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    data = json.loads(runner.invoke(app, ["db", "status", "--json"]).output)
    assert data["up_to_date"] and data["revision"] == data["head"]
    monkeypatch.setenv("NEUROFORGE_DATABASE_URL", "nosuchdialect://x")
    result = runner.invoke(app, ["db", "status"])
    assert result.exit_code == 1 and "error" in result.output


def test_console_script_reports_errors_without_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "neuroforge", "models", "profile", "nope"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "unknown or unavailable model" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
