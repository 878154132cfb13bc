"""Writing and reading run records: runs, prompt versions, ballots, agent messages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from neuroforge.knowledge.schema import (
    AgentMessage,
    PromptVersion,
    RoutingDecision,
    Run,
    Vote,
    utcnow,
)

__all__ = [
    "chat_sessions",
    "finish_run",
    "mark_interrupted",
    "recent_runs",
    "save_ballots",
    "save_candidates",
    "save_message",
    "start_run",
    "voter_reliability",
]


def start_run(session: Session, graph: str, inputs: Mapping[str, Any], run_id: str | None = None
              ) -> str:
    """Create a run in state "running" and return its id."""
    run = Run(graph=graph, inputs=dict(inputs), status="running")
    if run_id:
        run.id = run_id
    session.add(run)
    session.flush()
    return run.id


def finish_run(session: Session, run_id: str, *, status: str, outputs: Mapping[str, Any],
               calls_used: int, error: str | None = None) -> None:
    """Close a run with its outputs, status and timing."""
    run = session.get(Run, run_id)
    if run is None:
        raise KeyError(f"no run {run_id!r}")
    run.status, run.outputs, run.calls_used, run.error = status, dict(outputs), calls_used, error
    run.finished_at = utcnow()
    started = run.started_at if run.started_at.tzinfo else run.started_at.replace(
        tzinfo=run.finished_at.tzinfo)
    run.seconds = (run.finished_at - started).total_seconds()


def save_candidates(session: Session, run_id: str, candidates: Iterable[Mapping[str, Any]]) -> None:
    """Insert or update prompt versions (with parent links) for candidate dicts."""
    rows: dict[str, PromptVersion] = {}
    for candidate in candidates:
        row = session.get(PromptVersion, candidate["id"])
        if row is None:
            row = PromptVersion(id=candidate["id"], run_id=run_id)
            session.add(row)
        row.text, row.origin = candidate["text"], candidate["origin"]
        row.generation, row.score = candidate.get("generation", 0), candidate.get("score")
        row.details = {k: candidate.get(k) for k in
                       ("dev_score", "test_score", "addresses", "note", "accepted", "final")
                       if candidate.get(k) is not None}
        rows[row.id] = row
    session.flush()
    for candidate in candidates:
        row = rows[candidate["id"]]
        parents = [rows.get(p) or session.get(PromptVersion, p)
                   for p in candidate.get("parents", [])]
        row.parents = [p for p in parents if p is not None]
    session.flush()


def save_ballots(session: Session, run_id: str, ballots: Iterable[Mapping[str, Any]],
                 models: Mapping[str, str] | None = None) -> None:
    """Store ballots as votes on prompt versions."""
    for b in ballots:
        session.add(Vote(
            run_id=run_id, subject_kind="prompt", subject_id=b["candidate_id"], voter=b["voter"],
            model=(models or {}).get(b["voter"]), decision=b["decision"], score=b.get("score"),
            rationale=b.get("rationale", ""), round=b.get("round", 0),
            valid=b.get("valid", True),
        ))
    session.flush()


def save_message(session: Session, run_id: str, agent: str, content: str,
                 payload: Mapping[str, Any] | None = None, model: str | None = None) -> None:
    """Store one agent message of a run."""
    session.add(AgentMessage(run_id=run_id, agent=agent, content=content,
                             payload=dict(payload or {}), model=model))
    session.flush()


def voter_reliability(session: Session, voters: Iterable[str]) -> dict[str, float]:
    """Each voter's agreement with final decisions on past prompts, Laplace-smoothed.

    A decision agrees when the voter accepted a prompt that was finally accepted,
    or rejected one that was not. Voters without history get 0.5.
    """
    names = list(voters)
    rows = session.execute(
        select(Vote.voter, Vote.decision, PromptVersion.details)
        .join(PromptVersion, PromptVersion.id == Vote.subject_id)
        .where(Vote.subject_kind == "prompt", Vote.valid.is_(True), Vote.voter.in_(names))
    ).all()
    agree: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for voter, decision, details in rows:
        if decision == "abstain" or "accepted" not in (details or {}):
            continue
        total[voter] += 1
        agree[voter] += (decision == "accept") == bool(details["accepted"])
    return {v: (agree[v] + 1) / (total[v] + 2) for v in names}


def recent_runs(session: Session, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` runs of every graph, routing decisions included, as dicts.

    A route call records a decision rather than a run; it is listed as graph "route"
    with the model it chose.
    """
    rows = session.scalars(select(Run).order_by(Run.started_at.desc()).limit(limit)).all()
    found: list[dict[str, Any]] = [{"id": r.id, "graph": r.graph, "status": r.status,
              "started_at": r.started_at.isoformat(), "seconds": r.seconds,
              "calls_used": r.calls_used} for r in rows]
    decisions = session.scalars(select(RoutingDecision).where(RoutingDecision.run_id.is_(None))
                                .order_by(RoutingDecision.created_at.desc()).limit(limit)).all()
    found += [{"id": d.id, "graph": "route", "status": f"chose {d.chosen_model}",
               "started_at": d.created_at.isoformat(), "seconds": None, "calls_used": None}
              for d in decisions]
    return sorted(found, key=lambda r: str(r["started_at"]), reverse=True)[:limit]


def mark_interrupted(session: Session, run_id: str) -> None:
    """A run still "running" becomes "interrupted" (it can be resumed)."""
    run = session.get(Run, run_id)
    if run is not None and run.status == "running":
        run.status = "interrupted"


def chat_sessions(session: Session, limit: int | None = 20) -> list[dict[str, Any]]:
    """Chat sessions, most recently used first: id, last use, turns over all visits."""
    rows = session.scalars(select(Run).where(Run.graph == "chat")
                           .order_by(Run.started_at.desc())).all()
    found: dict[str, dict[str, Any]] = {}
    for r in rows:
        session_id = (r.inputs or {}).get("session_id")
        if not session_id:
            continue
        entry = found.setdefault(session_id, {"session_id": session_id, "turns": 0,
                                              "last_used": r.started_at.isoformat()})
        entry["turns"] += int((r.outputs or {}).get("turns") or 0)
    return list(found.values())[:limit]


def chat_session_turns(session: Session, session_id: str) -> int | None:
    """Turns a chat session has had over all its visits; None when it was never opened."""
    for entry in chat_sessions(session, limit=None):
        if entry["session_id"] == session_id:
            return int(entry["turns"])
    return None
