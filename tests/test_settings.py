from pathlib import Path

import pytest
from pydantic import ValidationError

from neuroforge.settings import config_file_path, load_settings, masked_settings


def test_defaults_live_under_the_data_dir(isolated_env: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == isolated_env
    assert settings.effective_database_url == f"sqlite:///{isolated_env / 'neuroforge.db'}"
    assert settings.chroma_dir.parent == isolated_env
    assert settings.backend == "auto"


def test_environment_sets_nested_role_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROFORGE_MODELS__ANALYST", "llama3.2:3b")
    monkeypatch.setenv("NEUROFORGE_DEFAULT_MODEL", "qwen2.5:0.5b")
    monkeypatch.setenv("NEUROFORGE_TEMPERATURES__CREATIVE", "1.2")
    settings = load_settings()
    assert settings.model_for("analyst") == "llama3.2:3b"
    assert settings.model_for("validator") == "qwen2.5:0.5b"
    assert settings.temperature_for("creative") == 1.2


def test_toml_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "nf.toml"
    config.write_text(
        'backend = "embedded"\nollama_base_url = "http://gpu-box:11434/"\n'
        "[budgets]\nmax_model_calls = 40\n[models]\ncreative = \"mistral\"\n"
    )
    monkeypatch.setenv("NEUROFORGE_CONFIG", str(config))
    monkeypatch.setenv("NEUROFORGE_BACKEND", "ollama")
    monkeypatch.delenv("NEUROFORGE_OLLAMA_BASE_URL")
    settings = load_settings()
    assert config_file_path() == config
    assert settings.backend == "ollama"  # environment beats file
    assert settings.ollama_base_url == "http://gpu-box:11434"  # trailing slash dropped
    assert settings.budgets.max_model_calls == 40
    assert settings.models.creative == "mistral"


def test_default_config_file_sits_in_the_data_dir(isolated_env: Path) -> None:
    isolated_env.mkdir(parents=True)
    (isolated_env / "config.toml").write_text("embedded_n_ctx = 1024\n")
    assert load_settings().embedded_n_ctx == 1024


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NEUROFORGE_BACKEND", "gpu"),
        ("NEUROFORGE_OLLAMA_BASE_URL", "localhost:11434"),
        ("NEUROFORGE_BUDGETS__MAX_MODEL_CALLS", "0"),
        ("NEUROFORGE_EMBEDDED_N_CTX", "lots"),
        ("NEUROFORGE_EMBEDDED_QUANTIZATION", "q2_k"),
    ],
)
def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        load_settings()


def test_masked_settings_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROFORGE_DATABASE_URL", "postgresql+psycopg://nf:hunter2@db:5432/nf")
    monkeypatch.setenv("NEUROFORGE_OLLAMA_API_KEY", "sk-secret")
    data = masked_settings(load_settings())
    text = str(data)
    assert "hunter2" not in text and "sk-secret" not in text
    assert data["database_url"] == "postgresql+psycopg://nf:***@db:5432/nf"
    assert data["ollama_api_key"] == "***"


def test_target_model_defaults_to_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROFORGE_DEFAULT_MODEL", "llama3.2:3b")
    settings = load_settings()
    assert settings.model_for("target") == "embedded"
    assert settings.model_for("creative") == "llama3.2:3b"
    monkeypatch.setenv("NEUROFORGE_MODELS__TARGET", "qwen2.5:0.5b")
    assert load_settings().model_for("target") == "qwen2.5:0.5b"


def test_a_misspelt_key_is_refused_with_what_it_may_have_meant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ignored, a typo runs with other models or budgets than the user set, silently."""
    from typer.testing import CliRunner

    from neuroforge.cli import app

    runner = CliRunner()
    monkeypatch.setenv("NEUROFORGE_MODELS__DEFAULT", "llama3.2:3b")
    nested = runner.invoke(app, ["config", "show"])
    assert nested.exit_code == 2 and "Traceback" not in nested.output
    assert "models.default: not a setting (known here: analyst, chat," in " ".join(
        nested.output.split())
    monkeypatch.delenv("NEUROFORGE_MODELS__DEFAULT")
    config = tmp_path / "nf.toml"
    config.write_text('bakend = "ollama"\nzzz = 1\n[budgets]\nmax_calls = 40\n')
    monkeypatch.setenv("NEUROFORGE_CONFIG", str(config))
    said = " ".join(runner.invoke(app, ["config", "show"]).output.split())
    assert "bakend: not a setting (did you mean backend?)" in said
    assert "budgets.max_calls: not a setting (did you mean max_model_calls?)" in said
    assert "zzz: not a setting;" in said or "zzz: not a setting)" in said
    monkeypatch.delenv("NEUROFORGE_CONFIG")
    monkeypatch.setenv("NEUROFORGE_SOMETHING_ELSE", "1")  # not a setting's name: not read
    assert load_settings().backend


def test_langgraph_dev_is_told_the_bad_key_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`langgraph dev` imports neuroforge.studio and prints what it raises: the message,
    not pydantic's chain, says what to fix."""
    import importlib
    import sys

    config = tmp_path / "nf.toml"
    config.write_text('bakend = "embedded"\n')
    monkeypatch.setenv("NEUROFORGE_CONFIG", str(config))
    monkeypatch.delitem(sys.modules, "neuroforge.studio", raising=False)
    with pytest.raises(ValueError, match=r"invalid NeuroForge configuration \(bakend: not a "
                       r"setting \(did you mean backend\?\)\)") as raised:
        importlib.import_module("neuroforge.studio")
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    sys.modules.pop("neuroforge.studio", None)
