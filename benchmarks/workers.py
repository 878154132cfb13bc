"""Several worker processes on one experiment: 2,000 cells on PostgreSQL with 1, 2 and 4
processes, a resume after SIGKILL, and the same on SQLite.

Models are scripted and near-instant (2 ms a call), so the figures are the queue's own
cost: claims, result writes and lease bookkeeping. On this 2-core machine the point is
that more workers lose and double nothing, not that they go faster. Each configuration
starts one ``start`` process (the run's graph with one worker branch) and N-1 ``join``
processes (``tests.queue_worker``, the same code path as ``neuroforge experiment work``).
The PostgreSQL server is a throw-away cluster on this machine (``tests.servers``).
"""

from __future__ import annotations

import json
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from neuroforge.knowledge.cell_queue import queue_counts
from neuroforge.knowledge.db import open_database
from neuroforge.knowledge.schema import ExperimentCell, ExperimentResult
from tests.queue_worker import matrix_spec, spawn
from tests.servers import PostgresServer, postgres_bin_dir

ROOT = Path(__file__).resolve().parents[1]
CELLS = (4, 5, 100)  # prompts x models x examples = 2,000 cells
DELAY_S = 0.002


def _wait_planned(url: str, run_id: str, total: int) -> None:
    db = open_database(url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with db.session() as session:
            if queue_counts(session, run_id).total == total:
                return
        time.sleep(0.05)
    raise RuntimeError("the run was not planned within 2 minutes")


def _audit(url: str, run_id: str, calls: Path) -> dict[str, Any]:
    db = open_database(url)
    with db.session() as session:
        stored = session.scalar(select(func.count()).select_from(ExperimentResult)
                                .where(ExperimentResult.run_id == run_id))
        states = Counter(session.scalars(select(ExperimentCell.state)
                                         .where(ExperimentCell.run_id == run_id)).all())
    lines = calls.read_text().splitlines() if calls.exists() else []
    by_pid = Counter(line.split("\t", 1)[0] for line in lines)
    return {"stored": stored, "queue_states": dict(states), "model_calls": len(lines),
            "calls_per_process": sorted(by_pid.values(), reverse=True)}


def _one(url: str, tmp: Path, workers: int, kill_after: int | None = None) -> dict[str, Any]:
    run_id = f"{url.split(':', 1)[0].split('+')[0]}{workers}{'k' if kill_after else ''}"
    spec = tmp / f"{run_id}.json"
    spec.write_text(json.dumps(matrix_spec(tmp / f"{run_id}.jsonl", *CELLS)))
    calls = tmp / f"{run_id}.calls"
    total = CELLS[0] * CELLS[1] * CELLS[2]
    started = time.perf_counter()
    starter = spawn("start", url, run_id, calls, "--spec", str(spec), delay=DELAY_S)
    _wait_planned(url, run_id, total)
    joiners = [spawn("join", url, run_id, calls, delay=DELAY_S) for _ in range(workers - 1)]
    killed = None
    if kill_after is not None and joiners:
        victim = joiners[0]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = sum(line.startswith(f"{victim.pid}\t")
                       for line in (calls.read_text().splitlines() if calls.exists() else []))
            if done >= kill_after:
                break
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed = {"pid": victim.pid, "calls_before_kill": done}
        joiners = joiners[1:]
    out, err = starter.communicate(timeout=900)
    if starter.returncode != 0:
        raise RuntimeError(f"start process failed: {err[-2000:]}")
    for joiner in joiners:
        joiner.communicate(timeout=300)
    seconds = time.perf_counter() - started
    audit = _audit(url, run_id, calls)
    result = {"workers": workers, "cells": total, "seconds": round(seconds, 2),
              "cells_per_s": round(total / seconds, 1),
              "ms_per_cell_per_worker": round(1000 * seconds * workers / total, 2),
              "model_delay_ms": DELAY_S * 1000, **audit,
              "lost_cells": total - audit["stored"],
              "cells_called_twice": max(0, audit["model_calls"] - total)}
    if killed:
        result["killed"] = killed
    return result


def run() -> dict[str, Any]:
    if postgres_bin_dir() is None:
        return {"skipped": "PostgreSQL server programs are not installed (make bench "
                           "installs Debian's postgresql)"}
    results: dict[str, Any] = {"load": "nothing else running on the 2 cores"}
    with tempfile.TemporaryDirectory() as name, PostgresServer() as server:
        tmp = Path(name)
        results["postgresql"] = [_one(server.new_database(), tmp, n) for n in (1, 2, 4)]
        results["postgresql_sigkill"] = _one(server.new_database(), tmp, 3, kill_after=200)
        results["sqlite"] = [_one(f"sqlite:///{tmp}/s{n}.db", tmp, n) for n in (1, 2, 4)]
        results["sqlite_sigkill"] = _one(f"sqlite:///{tmp}/sk.db", tmp, 3, kill_after=200)
    runs = [*results["postgresql"], results["postgresql_sigkill"], *results["sqlite"],
            results["sqlite_sigkill"]]
    results["every_cell_stored_once"] = all(r["lost_cells"] == 0 and
                                            r["queue_states"] == {"done": r["cells"]}
                                            for r in runs)
    return results
