"""Experiment files (YAML or TOML): prompts x models x a labelled dataset.

A file names the prompts (inline text, or a prompt version id from the store),
the models, the dataset (any task format ``neuroforge.knowledge.datasets`` reads) with the
split and scorer, the metrics, repeats and concurrency. Relative dataset paths
are read relative to the file. Errors say which field is wrong.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["DatasetSpec", "ExperimentSpec", "ExperimentSpecError", "PromptSpec", "load_spec",
           "validate_spec", "METRICS"]

Metric = Literal["accuracy", "quality", "latency", "tokens", "consistency"]
METRICS: tuple[Metric, ...] = ("accuracy", "quality", "latency", "tokens", "consistency")
MAX_SPEC_BYTES = 1_000_000


def _default_metrics() -> list[Metric]:
    return ["accuracy", "latency", "tokens", "consistency"]


class ExperimentSpecError(ValueError):
    """The experiment file is missing, unreadable or invalid; the message says where."""


class PromptSpec(BaseModel):
    """One prompt variant: inline ``text`` or a stored prompt ``version``."""

    model_config = ConfigDict(extra="forbid")
    key: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    text: str | None = Field(None, min_length=1, max_length=20_000)
    version: str | None = Field(None, min_length=1, max_length=32)
    category: str = Field("general", min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_source(self) -> PromptSpec:
        if (self.text is None) == (self.version is None):
            raise ValueError("give a prompt either `text` or `version` (a prompt version id)")
        return self


class DatasetSpec(BaseModel):
    """The labelled examples every prompt runs on."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1)
    split: Literal["train", "dev", "test", "all"] = "test"
    limit: int = Field(20, ge=1, le=100_000)
    scorer: Literal["exact", "contains", "numeric"] = "contains"
    seed: int = 0


class ExperimentSpec(BaseModel):
    """A whole experiment: the matrix and how to run it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    prompts: list[PromptSpec] = Field(min_length=1)
    models: list[str] = Field(min_length=1)
    dataset: DatasetSpec
    metrics: list[Metric] = Field(default_factory=_default_metrics)
    repeats: int = Field(1, ge=1, le=50)
    concurrency: int = Field(2, ge=1, le=64)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(64, ge=1, le=4096)
    cache: bool = True
    judge_model: str | None = None

    @model_validator(mode="after")
    def _distinct(self) -> ExperimentSpec:
        for i, prompt in enumerate(self.prompts):
            if prompt.key is None:
                prompt.key = f"p{i + 1}"
        keys = [p.key for p in self.prompts]
        if len(set(keys)) != len(keys):
            raise ValueError(f"prompt keys must be distinct; got {keys}")
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models are listed twice: {self.models}")
        if any(not m.strip() for m in self.models):
            raise ValueError("a model name is empty")
        return self

    def fingerprint(self) -> str:
        """Stable hash of what the experiment measures (not how fast it runs it)."""
        data = self.model_dump(exclude={"concurrency", "description"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _where(error: Any) -> str:
    return ".".join(str(p) for p in error["loc"]) or "file"


def validate_spec(raw: Any, source: str = "spec") -> ExperimentSpec:
    """``raw`` (a parsed file, or a dict given to the graph) as a spec; raises
    ``ExperimentSpecError`` naming ``source`` and up to five problems."""
    if not isinstance(raw, dict | ExperimentSpec):
        raise ExperimentSpecError(f"{source}: an experiment spec is a mapping of prompts, "
                                  f"models and dataset, not {type(raw).__name__}")
    try:
        return ExperimentSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{_where(e)}: {e['msg']}" for e in exc.errors()[:5])
        raise ExperimentSpecError(f"{source}: {problems}") from exc


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate an experiment file; dataset paths become absolute."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ExperimentSpecError(f"experiment file not found: {path}")
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise ExperimentSpecError(f"experiment file {path} is larger than 1 MB")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentSpecError(f"cannot read {path}: {exc}") from exc
    spec = validate_spec(_parse(path, text), str(path))
    dataset = Path(spec.dataset.path).expanduser()
    if not dataset.is_absolute():
        spec.dataset.path = str((path.parent / dataset).resolve())
    return spec


def _parse(path: Path, text: str) -> Any:
    if path.suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ExperimentSpecError(f"{path}: not TOML ({exc})") from exc
    if path.suffix not in (".yaml", ".yml"):
        raise ExperimentSpecError(f"{path}: use a .yaml, .yml or .toml experiment file")
    import yaml

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ExperimentSpecError(f"{path}: not YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(raw, dict):
        raise ExperimentSpecError(f"{path}: expected a mapping of fields, got "
                                  f"{type(raw).__name__}")
    return raw
