"""Model registry: which models exist, where, and how they performed when profiled."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from neuroforge.knowledge.redaction import mask_url
from neuroforge.knowledge.schema import ModelProfile, ModelRecord, utcnow

__all__ = [
    "DiscoveredModel",
    "Discovery",
    "ModelSummary",
    "ProfileStats",
    "list_models",
    "record_profile",
    "sync_models",
]


@dataclass(frozen=True)
class DiscoveredModel:
    """A model seen on a backend just now."""

    name: str
    backend: str
    location: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Discovery:
    """What discovery found, and why Ollama contributed nothing when it did not."""

    models: list[DiscoveredModel]
    ollama_error: str | None
    openai_error: str | None = None


@dataclass(frozen=True)
class ProfileStats:
    """Figures from one profiling pass (see ``neuroforge.models.profiler``)."""

    probes: int
    latency_p50_ms: float
    latency_p95_ms: float
    tokens_per_s: float
    first_token_ms: float | None
    structured_valid_rate: float
    first_try_valid_rate: float
    error_rate: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSummary:
    """A registry row with its latest profile, ready to print."""

    name: str
    backend: str
    location: str
    available: bool
    details: dict[str, Any]
    profile: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` output."""
        return asdict(self)


def sync_models(session: Session, discovery: Discovery) -> list[ModelRecord]:
    """Upsert discovered models; mark Ollama models gone from a reachable host unavailable."""
    seen = {model.name for model in discovery.models}
    records = {r.name: r for r in session.scalars(select(ModelRecord))}
    now = utcnow()
    for model in discovery.models:
        record = records.get(model.name)
        if record is None:
            record = ModelRecord(name=model.name, backend=model.backend,
                                 location=mask_url(model.location))
            session.add(record)
            records[model.name] = record
        record.backend, record.location = model.backend, mask_url(model.location)
        record.details = model.details
        record.available, record.last_seen_at = True, now
    for record in records.values():
        gone = record.name not in seen
        # An unreachable Ollama says nothing about its models: leave them as they were.
        # An OpenAI-compatible server that is down takes its models out of routing.
        if gone and (record.backend != "ollama" or discovery.ollama_error is None):
            record.available = False
    session.flush()
    return sorted(records.values(), key=lambda r: (r.backend != "embedded", r.name))


def record_profile(session: Session, name: str, stats: ProfileStats) -> ModelProfile:
    """Store one profiling pass for the model called ``name``."""
    record = session.scalar(select(ModelRecord).where(ModelRecord.name == name))
    if record is None:
        raise KeyError(f"model {name!r} is not in the registry; run `neuroforge models list`")
    profile = ModelProfile(model=record, **asdict(stats))
    session.add(profile)
    session.flush()
    return profile


def _profile_dict(profile: ModelProfile) -> dict[str, Any]:
    return {
        "created_at": profile.created_at.isoformat(),
        "probes": profile.probes,
        "latency_p50_ms": round(profile.latency_p50_ms, 1),
        "latency_p95_ms": round(profile.latency_p95_ms, 1),
        "tokens_per_s": round(profile.tokens_per_s, 1),
        "first_token_ms": None if profile.first_token_ms is None else round(profile.first_token_ms),
        "structured_valid_rate": round(profile.structured_valid_rate, 3),
        "first_try_valid_rate": round(profile.first_try_valid_rate, 3),
        "error_rate": round(profile.error_rate, 3),
    }


def list_models(session: Session) -> list[ModelSummary]:
    """Every model the registry knows, embedded first, each with its latest profile."""
    records = session.scalars(select(ModelRecord)).all()
    summaries = [
        ModelSummary(
            name=r.name,
            backend=r.backend,
            location=r.location,
            available=r.available,
            details=dict(r.details or {}),
            profile=_profile_dict(r.profiles[-1]) if r.profiles else None,
        )
        for r in records
    ]
    return sorted(summaries, key=lambda s: (s.backend != "embedded", s.name))
