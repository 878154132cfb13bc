"""SQLAlchemy 2 schema of what NeuroForge learns.

Tables change only through migrations in ``knowledge/migrations/versions``;
``neuroforge.knowledge.db.upgrade_database`` brings any older database to the head revision.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AgentMessage",
    "AutopilotAction",
    "Alert",
    "Base",
    "Experiment",
    "ExperimentCell",
    "ExperimentResult",
    "MemoryRecord",
    "ModelProfile",
    "ModelRecord",
    "PromptVersion",
    "RoutingDecision",
    "RoutingOutcome",
    "Run",
    "Vote",
    "new_id",
    "utcnow",
]


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the store uses."""
    return datetime.now(UTC)


def new_id() -> str:
    """A short random identifier, readable in a terminal."""
    return uuid.uuid4().hex[:12]


class Base(DeclarativeBase):
    """Declarative base with JSON mapped for ``dict``/``list`` annotations."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class ModelRecord(Base):
    """A model the registry knows: the embedded one or one an Ollama host serves."""

    __tablename__ = "models"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    backend: Mapped[str] = mapped_column(String(20))
    location: Mapped[str] = mapped_column(Text, doc="Ollama URL or GGUF path")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    discovered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    profiles: Mapped[list[ModelProfile]] = relationship(
        back_populates="model", cascade="all, delete-orphan", order_by="ModelProfile.created_at"
    )


class ModelProfile(Base):
    """One profiling pass of a model over the probe set."""

    __tablename__ = "model_profiles"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    probes: Mapped[int] = mapped_column(Integer)
    latency_p50_ms: Mapped[float] = mapped_column(Float)
    latency_p95_ms: Mapped[float] = mapped_column(Float)
    tokens_per_s: Mapped[float] = mapped_column(Float)
    first_token_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    structured_valid_rate: Mapped[float] = mapped_column(Float)
    first_try_valid_rate: Mapped[float] = mapped_column(Float)
    error_rate: Mapped[float] = mapped_column(Float)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    model: Mapped[ModelRecord] = relationship(back_populates="profiles")


class Run(Base):
    """One execution of a graph: what went in, what came out, how long, how it ended."""

    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    graph: Mapped[str] = mapped_column(String(50), index=True)
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    calls_used: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)


class AgentMessage(Base):
    """A message one agent passed inside a run."""

    __tablename__ = "agent_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    agent: Mapped[str] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    content: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Vote(Base):
    """A ballot cast by one voter on one subject (a prompt, a route, an action)."""

    __tablename__ = "votes"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    subject_kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    voter: Mapped[str] = mapped_column(String(100), index=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decision: Mapped[str] = mapped_column(String(10), doc="accept, reject or abstain")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    rationale: Mapped[str] = mapped_column(Text, default="")
    round: Mapped[int] = mapped_column(Integer, default=0)
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RoutingDecision(Base):
    """Which model was chosen for a task, by what method, how confidently."""

    __tablename__ = "routing_decisions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    task: Mapped[str] = mapped_column(Text)
    chosen_model: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(30))
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    explanation: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RoutingOutcome(Base):
    """How well a model did on a task: the router's training signal."""

    __tablename__ = "routing_outcomes"
    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[str | None] = mapped_column(
        ForeignKey("routing_decisions.id", ondelete="SET NULL"), nullable=True, index=True
    )
    task: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200), index=True)
    quality: Mapped[float] = mapped_column(Float)
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(30), default="execute")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


prompt_parents = Table(
    "prompt_parents",
    Base.metadata,
    Column("child_id", ForeignKey("prompt_versions.id", ondelete="CASCADE"), primary_key=True),
    Column("parent_id", ForeignKey("prompt_versions.id", ondelete="CASCADE"), primary_key=True),
)


class PromptVersion(Base):
    """One prompt text in a lineage; a crossover child has two parents."""

    __tablename__ = "prompt_versions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), nullable=True, index=True
    )
    text: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(20), doc="original, rewrite, mutation, crossover")
    generation: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    parents: Mapped[list[PromptVersion]] = relationship(
        secondary=prompt_parents,
        primaryjoin=lambda: PromptVersion.id == prompt_parents.c.child_id,
        secondaryjoin=lambda: PromptVersion.id == prompt_parents.c.parent_id,
    )


class Experiment(Base):
    """A named experiment definition; each execution is a ``Run`` of graph "experiment"."""

    __tablename__ = "experiments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExperimentResult(Base):
    """One cell of an experiment matrix: a prompt on a model on an example, one repeat."""

    __tablename__ = "experiment_results"
    __table_args__ = (
        UniqueConstraint("run_id", "prompt_key", "model", "example_key", "repeat"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    prompt_key: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    example_key: Mapped[str] = mapped_column(String(64))
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    output: Mapped[str] = mapped_column(Text, default="")
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ExperimentCell(Base):
    """A cell waiting to be worked, claimed by a worker, or done: the queue several worker
    processes (on one host or many) share. What a worker needs to run the cell is here,
    so a worker on another host needs only the store and the model."""

    __tablename__ = "experiment_cells"
    __table_args__ = (
        UniqueConstraint("run_id", "prompt_key", "model", "example_key", "repeat"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    prompt_key: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    example_key: Mapped[str] = mapped_column(String(64))
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    prompt: Mapped[str] = mapped_column(Text)
    input: Mapped[str] = mapped_column(Text)
    target: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default="todo")  # todo | claimed | done
    claim: Mapped[str | None] = mapped_column(String(32), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)  # host:pid
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)  # epoch seconds
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Alert(Base):
    """A monitor finding; repeats of one fingerprint update it instead of piling up."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10), default="warning")
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)


class MemoryRecord(Base):
    """A long-term memory; the Chroma collection holds its embedding under the same id."""

    __tablename__ = "memories"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(20), index=True, doc="fact, optimization, routing")
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    text: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    count: Mapped[int] = mapped_column(Integer, default=1, doc="times seen, merges included")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AutopilotAction(Base):
    """An action the autopilot proposed, how it was voted, and what applying it changed.

    ``before`` holds what rollback needs to restore; ``after`` what applying produced.
    """

    __tablename__ = "autopilot_actions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(
        String(20), default="proposed",
        doc="proposed, rejected, approved, applied, failed, rolled_back")
    votes: Mapped[list[Any]] = mapped_column(default=list)
    before: Mapped[dict[str, Any]] = mapped_column(default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rolled_back_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                            nullable=True)
