"""Store access for the autopilot: the facts proposals are made from, and action records."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from neuroforge.knowledge.schema import AutopilotAction, RoutingOutcome, Run, utcnow

__all__ = ["fallen_prompts", "last_applied", "outcomes_since", "record_action", "set_status"]


def last_applied(session: Session, kind: str) -> datetime | None:
    """When an action of ``kind`` was last applied (and not rolled back)."""
    return session.scalar(select(func.max(AutopilotAction.applied_at))
                          .where(AutopilotAction.kind == kind,
                                 AutopilotAction.status == "applied"))


def outcomes_since(session: Session, since: datetime | None) -> tuple[int, int]:
    """(routing outcomes recorded after ``since``, distinct models among all outcomes)."""
    query = select(func.count(RoutingOutcome.id))
    if since is not None:
        query = query.where(RoutingOutcome.created_at > since)
    models = session.scalar(select(func.count(func.distinct(RoutingOutcome.model)))) or 0
    return int(session.scalar(query) or 0), int(models)


def fallen_prompts(session: Session, *, drop: float = 0.1, scan: int = 2000
                   ) -> list[dict[str, Any]]:
    """Prompts whose latest optimization scored ``drop`` or more below their best earlier one.

    Scores are compared only between runs of the same prompt with the same task and
    score kind, so a rubric score is never compared with a task accuracy.
    """
    runs = session.execute(
        select(Run.id, Run.outputs).where(Run.graph == "optimize", Run.status == "succeeded")
        .order_by(Run.started_at.desc()).limit(scan)).all()
    history: dict[tuple[str, str, str], list[tuple[str, float]]] = defaultdict(list)
    for run_id, outputs in reversed(runs):  # oldest first
        if not outputs or outputs.get("optimized_score") is None:
            continue
        key = (outputs["original"], str((outputs.get("options") or {}).get("task") or ""),
               outputs.get("score_kind", ""))
        history[key].append((run_id, float(outputs["optimized_score"])))
    fallen = []
    for (prompt, task, _kind), scores in history.items():
        if len(scores) < 2:
            continue
        best = max(score for _, score in scores[:-1])
        run_id, latest = scores[-1]
        if best - latest >= drop:
            fallen.append({"prompt": prompt, "task": task or None, "best": best,
                           "latest": latest, "run_id": run_id})
    return fallen


def record_action(session: Session, run_id: str | None, action: dict[str, Any],
                  status: str, votes: list[dict[str, Any]]) -> None:
    """Insert an action as proposed, rejected or approved, with its ballots."""
    session.add(AutopilotAction(id=action["id"], run_id=run_id, kind=action["kind"],
                                params=action["params"], reason=action["reason"],
                                status=status, votes=votes))
    session.flush()


def set_status(session: Session, action_id: str, status: str, *,
               before: dict[str, Any] | None = None, after: dict[str, Any] | None = None
               ) -> AutopilotAction:
    """Move an action to ``status``, keeping what rollback needs and what it produced."""
    action = session.get(AutopilotAction, action_id)
    if action is None:
        raise KeyError(f"no autopilot action {action_id!r}")
    action.status = status
    if before is not None:
        action.before = before
    if after is not None:
        action.after = after
    if status == "applied":
        action.applied_at = utcnow()
    if status == "rolled_back":
        action.rolled_back_at = utcnow()
    session.flush()
    return action
