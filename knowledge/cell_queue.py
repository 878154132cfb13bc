"""An experiment run's cells as a work queue in the store, shared by worker processes.

A worker claims a few cells at a time: one ``UPDATE ... WHERE id IN (SELECT ... FOR
UPDATE SKIP LOCKED)`` on PostgreSQL, so concurrent workers on any host never claim the
same cell and never wait for each other; on SQLite the same single statement is atomic
because SQLite has one writer at a time. A claim carries a lease: cells of a worker that
died are claimed again once the lease runs out, or at once when the dead worker ran on
this host. A result is stored only by the worker that holds the cell's current claim, in
the same transaction that marks the cell done, so no cell is stored twice.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from neuroforge.knowledge.db import Database
from neuroforge.knowledge.experiments import result_row
from neuroforge.knowledge.schema import ExperimentCell, ExperimentResult

__all__ = [
    "DEFAULT_LEASE_S",
    "QueuedCell",
    "QueueCounts",
    "claim_cells",
    "enqueue_cells",
    "finish_cell",
    "free_dead_local_claims",
    "new_claim",
    "queue_counts",
    "queued_targets",
    "release_claim",
    "reopen_failed",
    "this_worker",
]

DEFAULT_LEASE_S = 300.0  # a claim outlives a slow model call; renewed after every cell


@dataclass(frozen=True)
class QueuedCell:
    """A claimed cell: its queue id and everything needed to run it."""

    id: int
    prompt_key: str
    model: str
    example_key: str
    repeat: int
    prompt: str
    input: str
    target: str
    attempts: int = 1


@dataclass(frozen=True)
class QueueCounts:
    """How many of a run's cells wait, are claimed (with a live lease), or are done."""

    todo: int
    claimed: int
    done: int

    @property
    def total(self) -> int:
        """Every queued cell."""
        return self.todo + self.claimed + self.done


def this_worker() -> str:
    """``host:pid``: who holds a claim, so a dead local worker's claims can be freed."""
    return f"{socket.gethostname()}:{os.getpid()}"


def new_claim() -> str:
    """A fresh claim token (one per worker thread)."""
    return uuid.uuid4().hex


def enqueue_cells(session: Session, run_id: str, cells: Iterable[Mapping[str, Any]]) -> int:
    """Add the cells not queued yet for ``run_id``; returns how many were added.

    A cell whose successful result is already stored (a run from before the queue
    existed, resumed) is queued as done.
    """
    queued = {tuple(row) for row in session.execute(select(
        ExperimentCell.prompt_key, ExperimentCell.model, ExperimentCell.example_key,
        ExperimentCell.repeat).where(ExperimentCell.run_id == run_id)).all()}
    finished = {tuple(row) for row in session.execute(select(
        ExperimentResult.prompt_key, ExperimentResult.model, ExperimentResult.example_key,
        ExperimentResult.repeat).where(ExperimentResult.run_id == run_id,
                                       ExperimentResult.error.is_(None))).all()}
    rows = []
    for cell in cells:
        key = (cell["prompt_key"], cell["model"], cell["example_key"], cell["repeat"])
        if key in queued:
            continue
        rows.append({"run_id": run_id, "prompt_key": key[0], "model": key[1],
                     "example_key": key[2], "repeat": key[3], "prompt": cell["prompt"],
                     "input": cell["input"], "target": cell["target"],
                     "state": "done" if key in finished else "todo", "attempts": 0})
    if rows:
        session.execute(insert(ExperimentCell), rows)
    return len(rows)


def reopen_failed(session: Session, run_id: str) -> int:
    """Queue again the done cells whose stored result is an error (a resume retries them)."""
    failed = select(ExperimentResult.prompt_key, ExperimentResult.model,
                    ExperimentResult.example_key, ExperimentResult.repeat).where(
        ExperimentResult.run_id == run_id, ExperimentResult.error.is_not(None))
    keys = {tuple(row) for row in session.execute(failed).all()}
    if not keys:
        return 0
    done = session.execute(select(
        ExperimentCell.id, ExperimentCell.prompt_key, ExperimentCell.model,
        ExperimentCell.example_key, ExperimentCell.repeat).where(
        ExperimentCell.run_id == run_id, ExperimentCell.state == "done")).all()
    ids = [row[0] for row in done if tuple(row[1:]) in keys]
    if ids:
        session.execute(update(ExperimentCell).where(ExperimentCell.id.in_(ids))
                        .values(state="todo", claim=None, worker=None, lease_until=None))
    return len(ids)


def free_dead_local_claims(db: Database, run_id: str) -> None:
    """Hand back the claims of this host's workers that are gone (killed, crashed) now,
    rather than after their lease; claims of other hosts wait for their lease."""
    host = socket.gethostname()
    with db.session() as session:
        workers = session.scalars(select(ExperimentCell.worker).distinct().where(
            ExperimentCell.run_id == run_id, ExperimentCell.state == "claimed")).all()
    dead = [w for w in workers if w and _is_dead_local(w, host)]
    if dead:
        with db.session() as session:
            session.execute(update(ExperimentCell).where(
                ExperimentCell.run_id == run_id, ExperimentCell.state == "claimed",
                ExperimentCell.worker.in_(dead)).values(
                state="todo", claim=None, worker=None, lease_until=None))


def _is_dead_local(worker: str, host: str) -> bool:
    name, _, pid = worker.rpartition(":")
    if name != host or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False


def claim_cells(db: Database, run_id: str, claim: str, limit: int,
                lease_s: float = DEFAULT_LEASE_S, worker: str | None = None
                ) -> list[QueuedCell]:
    """Claim up to ``limit`` waiting cells of ``run_id`` (in queue order) for ``claim``.

    Waiting means never claimed, or claimed under a lease that ran out. Returns the
    claimed cells, empty when none is free now (others may still hold claims: see
    ``queue_counts``).
    """
    now = time.time()
    free = (select(ExperimentCell.id).where(
        ExperimentCell.run_id == run_id,
        or_(ExperimentCell.state == "todo",
            and_(ExperimentCell.state == "claimed", ExperimentCell.lease_until < now)))
        .order_by(ExperimentCell.id).limit(limit).with_for_update(skip_locked=True))
    statement = (update(ExperimentCell).where(ExperimentCell.id.in_(free.scalar_subquery()))
                 .values(state="claimed", claim=claim, worker=worker or this_worker(),
                         lease_until=now + lease_s, attempts=ExperimentCell.attempts + 1)
                 .returning(ExperimentCell.id, ExperimentCell.prompt_key, ExperimentCell.model,
                            ExperimentCell.example_key, ExperimentCell.repeat,
                            ExperimentCell.prompt, ExperimentCell.input, ExperimentCell.target,
                            ExperimentCell.attempts))
    with db.engine.begin() as connection:
        rows = connection.execute(statement).all()
    cells = [QueuedCell(id=row[0], prompt_key=row[1], model=row[2], example_key=row[3],
                        repeat=row[4], prompt=row[5], input=row[6], target=row[7],
                        attempts=row[8]) for row in rows]
    return sorted(cells, key=lambda cell: cell.id)


# Built once: the per-cell statements dominate a run's overhead with fast models.
_MARK_DONE = (update(ExperimentCell)
              .where(ExperimentCell.id == bindparam("cell_id"),
                     ExperimentCell.claim == bindparam("claim_token"),
                     ExperimentCell.state == "claimed")
              .values(state="done", claim=None, lease_until=None))
_RENEW = (update(ExperimentCell)
          .where(ExperimentCell.claim == bindparam("claim_token"),
                 ExperimentCell.state == "claimed")
          .values(lease_until=bindparam("until")))
_DROP_EARLIER = delete(ExperimentResult).where(
    ExperimentResult.run_id == bindparam("r_run"),
    ExperimentResult.prompt_key == bindparam("r_prompt"),
    ExperimentResult.model == bindparam("r_model"),
    ExperimentResult.example_key == bindparam("r_example"),
    ExperimentResult.repeat == bindparam("r_repeat"))
_STORE = insert(ExperimentResult)


def finish_cell(db: Database, cell: QueuedCell, claim: str, experiment_id: str,
                run_id: str, result: Mapping[str, Any], renew_s: float | None = None) -> bool:
    """Store ``result`` and mark the cell done, in one transaction, if ``claim`` still
    holds the cell.

    Returns ``False`` (and stores nothing) when the claim was lost: the lease ran out and
    another worker took the cell. With ``renew_s``, the claim's other cells get a lease
    of that many seconds from now.
    """
    with db.engine.begin() as connection:
        won = connection.execute(_MARK_DONE, {"cell_id": cell.id, "claim_token": claim})
        if won.rowcount != 1:
            return False
        if cell.attempts > 1:  # an earlier attempt may have stored an error
            connection.execute(_DROP_EARLIER, {
                "r_run": run_id, "r_prompt": cell.prompt_key, "r_model": cell.model,
                "r_example": cell.example_key, "r_repeat": cell.repeat})
        connection.execute(_STORE, result_row(experiment_id, run_id, result))
        if renew_s is not None:
            connection.execute(_RENEW, {"claim_token": claim, "until": time.time() + renew_s})
    return True


def release_claim(db: Database, claim: str) -> int:
    """Hand back the cells ``claim`` holds but has not run (a worker stopping)."""
    with db.session() as session:
        released = session.execute(update(ExperimentCell).where(
            ExperimentCell.claim == claim, ExperimentCell.state == "claimed").values(
            state="todo", claim=None, worker=None, lease_until=None),
            execution_options={"synchronize_session": False})
    return int(released.rowcount)  # type: ignore[attr-defined]


def queued_targets(session: Session, run_id: str) -> list[str]:
    """The distinct targets of ``run_id``'s cells: the task's gold answers, against which
    a reply that gives another of them is checked (``tools.prompt_eval.is_right``)."""
    return list(session.scalars(select(ExperimentCell.target)
                                .where(ExperimentCell.run_id == run_id).distinct()))


def queue_counts(session: Session, run_id: str) -> QueueCounts:
    """Waiting, claimed-under-a-live-lease and done cells of ``run_id`` (an expired claim
    counts as waiting)."""
    expired = func.sum(case((ExperimentCell.lease_until < time.time(), 1), else_=0))
    rows = session.execute(select(ExperimentCell.state, func.count(), expired)
                           .where(ExperimentCell.run_id == run_id)
                           .group_by(ExperimentCell.state)).all()
    todo = claimed = done = 0
    for state, count, lapsed in rows:
        if state == "done":
            done += count
        elif state == "claimed":
            claimed += count - int(lapsed or 0)
            todo += int(lapsed or 0)
        else:
            todo += count
    return QueueCounts(todo=todo, claimed=claimed, done=done)
