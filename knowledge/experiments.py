"""Experiments in the store: definitions, runs, matrix cells, routing outcomes they feed.

An ``Experiment`` row is identified by its name; each execution is a ``Run`` of graph
"experiment" whose inputs hold the spec it ran. Cells are written one by one as they
finish, so an interrupted run keeps them and a resumed run skips them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from neuroforge.knowledge.schema import (
    Experiment,
    ExperimentResult,
    PromptVersion,
    RoutingOutcome,
    Run,
)

__all__ = [
    "CellKey",
    "cell_rows",
    "experiment_of_run",
    "feed_routing_outcomes",
    "stored_cells",
    "list_experiment_runs",
    "load_report",
    "previous_runs",
    "resumable_run",
    "result_row",
    "prompt_version_texts",
    "register_experiment",
]

CellKey = tuple[str, str, str, int]  # (prompt_key, model, example_key, repeat)


def register_experiment(session: Session, name: str, spec: Mapping[str, Any]) -> str:
    """The id of the experiment called ``name``, created or updated to ``spec``."""
    row = session.scalars(select(Experiment).where(Experiment.name == name)
                          .order_by(Experiment.created_at)).first()
    if row is None:
        row = Experiment(name=name, spec=dict(spec))
        session.add(row)
        session.flush()
    else:
        row.spec = dict(spec)
    return row.id


def prompt_version_texts(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """Texts of stored prompt versions; ids that do not exist are left out."""
    wanted = list(ids)
    if not wanted:
        return {}
    rows = session.execute(select(PromptVersion.id, PromptVersion.text)
                           .where(PromptVersion.id.in_(wanted))).all()
    return {row.id: row.text for row in rows}


def result_row(experiment_id: str, run_id: str, cell: Mapping[str, Any]) -> dict[str, Any]:
    """The ``experiment_results`` columns of one finished cell."""
    return {"experiment_id": experiment_id, "run_id": run_id, "prompt_key": cell["prompt_key"],
            "model": cell["model"], "example_key": cell["example_key"],
            "repeat": cell["repeat"], "output": cell.get("output", "")[:20_000],
            "correct": cell.get("correct"), "score": cell.get("score"),
            "latency_ms": cell.get("latency_ms"), "tokens": cell.get("tokens"),
            "error": cell.get("error")}


def stored_cells(session: Session, run_id: str) -> dict[CellKey, bool]:
    """Every stored cell of ``run_id`` and whether it holds an error."""
    rows = session.execute(select(
        ExperimentResult.prompt_key, ExperimentResult.model, ExperimentResult.example_key,
        ExperimentResult.repeat, ExperimentResult.error).where(
            ExperimentResult.run_id == run_id)).all()
    return {(r[0], r[1], r[2], r[3]): r[4] is not None for r in rows}


def cell_rows(session: Session, run_id: str) -> list[dict[str, Any]]:
    """Every stored cell of a run as plain dicts."""
    rows = session.scalars(select(ExperimentResult).where(ExperimentResult.run_id == run_id)
                           .order_by(ExperimentResult.id)).all()
    return [{"prompt_key": r.prompt_key, "model": r.model, "example_key": r.example_key,
             "repeat": r.repeat, "output": r.output, "correct": r.correct, "score": r.score,
             "latency_ms": r.latency_ms, "tokens": r.tokens, "error": r.error} for r in rows]


def experiment_of_run(session: Session, run_id: str) -> tuple[Run, Experiment]:
    """The run and its experiment; ``LookupError`` naming the id when either is missing."""
    run = session.get(Run, run_id)
    if run is None or run.graph != "experiment":
        raise LookupError(f"no experiment run {run_id!r}; list them with "
                          "`neuroforge experiment list`")
    experiment = session.get(Experiment, run.inputs.get("experiment_id", ""))
    if experiment is None:
        raise LookupError(f"run {run_id!r} names no stored experiment")
    return run, experiment


def previous_runs(session: Session, experiment_id: str, before: datetime | None = None,
                  limit: int = 10) -> list[Run]:
    """Earlier finished runs of the same experiment, oldest first."""
    runs = session.scalars(select(Run).where(Run.graph == "experiment",
                                             Run.status.in_(("succeeded", "partial")))
                           .order_by(Run.started_at.desc())).all()
    mine = [r for r in runs if r.inputs.get("experiment_id") == experiment_id
            and (before is None or _naive(r.started_at) < _naive(before))]
    return list(reversed(mine[:limit]))


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def list_experiment_runs(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """Recent experiment runs, newest first, with their cell counts."""
    runs = session.scalars(select(Run).where(Run.graph == "experiment")
                           .order_by(Run.started_at.desc()).limit(limit)).all()
    counts = dict(session.execute(
        select(ExperimentResult.run_id, func.count()).where(
            ExperimentResult.run_id.in_([r.id for r in runs]))
        .group_by(ExperimentResult.run_id)).all())
    return [{"run_id": r.id, "experiment": r.inputs.get("name", "?"), "status": r.status,
             "started_at": r.started_at.isoformat(timespec="seconds"),
             "seconds": r.seconds, "cells": counts.get(r.id, 0),
             "planned": r.inputs.get("planned_cells"),
             "best": (r.outputs or {}).get("best")} for r in runs]


def feed_routing_outcomes(session: Session, rows: Iterable[Mapping[str, Any]],
                          tasks: Mapping[tuple[str, str], str], fed: set[str] | None = None
                          ) -> tuple[int, set[str]]:
    """Turn finished cells into routing outcomes, one per (task text, model).

    ``tasks`` maps (prompt_key, example_key) to the text the model was given. Quality
    is the mean correctness over repeats (the judged quality when a cell has no
    correctness); the router trains on these records like on executed routes.
    Groups named in ``fed`` ("prompt|example|model") are skipped; returns how many
    outcomes were added and the updated set.
    """
    fed = set(fed or ())
    grouped: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("error") is None:
            grouped[(row["prompt_key"], row["example_key"], row["model"])].append(row)
    added = 0
    for (prompt_key, example_key, model), cells in grouped.items():
        name = f"{prompt_key}|{example_key}|{model}"
        if name in fed:
            continue
        values: list[float] = [
            float(c["correct"]) if c.get("correct") is not None else float(c["score"])
            for c in cells if c.get("correct") is not None or c.get("score") is not None]
        if not values:
            continue
        latencies = [c["latency_ms"] for c in cells if c.get("latency_ms") is not None]
        session.add(RoutingOutcome(
            task=tasks[(prompt_key, example_key)], model=model,
            quality=sum(values) / len(values), source="experiment",
            latency_ms=sum(latencies) / len(latencies) if latencies else None))
        fed.add(name)
        added += 1
    return added, fed


def load_report(session: Session, run_id: str
                ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """(analysis, cell rows, meta) of a stored run; ``LookupError`` when it has none."""
    run, experiment = experiment_of_run(session, run_id)
    summary = (run.outputs or {}).get("analysis")
    if summary is None:
        raise LookupError(f"run {run_id} has not finished (status {run.status}); resume it "
                          f"with `neuroforge experiment run FILE --resume {run_id}`")
    meta = {"run_id": run.id, "name": experiment.name, "status": run.status,
            "started_at": run.started_at.isoformat(timespec="seconds"), "seconds": run.seconds}
    return summary, cell_rows(session, run_id), meta


def resumable_run(session: Session, run_id: str, fingerprint: str | None = None
                  ) -> dict[str, Any]:
    """What a resume needs of a stored experiment run: planned and finished cell counts.

    Raises ``LookupError`` when there is no such run, it is not an experiment, or it ran
    another experiment file (``fingerprint`` differs): resuming it would mix two matrices.
    """
    run = session.get(Run, run_id)
    if run is None:
        raise LookupError(f"no experiment run {run_id!r} to resume; "
                          "`neuroforge experiment list` shows run ids")
    if run.graph != "experiment":
        raise LookupError(f"run {run_id} is a {run.graph} run, not an experiment")
    stored = run.inputs.get("fingerprint")
    if fingerprint is not None and stored is not None and stored != fingerprint:
        raise LookupError(f"run {run_id} ran a different experiment file (its prompts, models "
                          "or dataset differ); resume it with the file it was started with")
    finished = sum(1 for failed in stored_cells(session, run_id).values() if not failed)
    return {"status": run.status, "planned": int(run.inputs.get("planned_cells") or 0),
            "finished": finished}
