"""The optimizer with ``--train-evidence`` against the optimizer as it runs by default.

On the 34 tasks of the three optimizer benchmarks (``optimizer``, ``optimizer_unseen``,
``optimizer_unseen_bbh``; the unseen sets first), the optimizer is run again with the
free choice made on train + dev (``agents.free_choice``), with the same target, split,
scorer, budget and time limit. Every other figure of a row (the free baselines, the
free pick, DSPy, the default optimizer) is read from that set's results file, measured
on the same machine: an A/B of one option, not a new table. Its rows:
``benchmarks/results/optimizer_train_evidence.json``, written as each task ends;
``NEUROFORGE_BENCH_RESUME=1`` keeps the rows already there. About two hours on 2 cores.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import optimizer, optimizer_unseen, optimizer_unseen_bbh
from benchmarks.optimizer import _optimize, scorer_for, starting_instruction

RESULTS = Path(__file__).parent / "results" / "optimizer_train_evidence.json"
# name -> (the set's task paths, the set's results file); the unseen sets first.
SETS: dict[str, tuple[Callable[[], dict[str, Path]], Path]] = {
    "8 unseen BBH": (optimizer_unseen_bbh.unseen_bbh_paths, optimizer_unseen_bbh.RESULTS),
    "12 unseen": (optimizer_unseen.unseen_task_paths, optimizer_unseen.RESULTS),
    "14 tasks": (optimizer.task_paths, optimizer.RESULTS),
}
KEPT = ("human", "random3", "nearest3", "best_baseline", "free_pick", "dspy", "optimized")


def _stored_rows(results: Path) -> dict[str, dict[str, Any]]:
    """A set's stored rows by task, when they were run with this benchmark's settings."""
    if not results.is_file():
        return {}
    stored = json.loads(results.read_text())
    if stored.get("settings") != optimizer.RUN:
        raise SystemExit(f"{results} was run with other settings; measure it again first")
    return {r["task"]: r for r in stored.get("tasks", [])}


def _row(set_name: str, name: str, path: Path, stored: dict[str, Any], store_url: str
         ) -> dict[str, Any]:
    """One task: the stored figures and the optimizer with train evidence."""
    start = stored["instruction"]
    if start != starting_instruction(name, path):
        raise SystemExit(f"{name}: the stored row started from another instruction")
    again = _optimize(path, start, store_url, scorer_for(path), train_evidence=True)
    kept = {k: stored[k] for k in KEPT if k in stored}
    return {"task": name, "set": set_name, **kept, "train_evidence": again}


def _test(row: dict[str, Any], key: str) -> float:
    value = row[key]
    return float(value["test_accuracy"] if isinstance(value, dict) else value)


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per set (and for all): mean test accuracy in points of the default optimizer, the
    one with train evidence, the best baseline and DSPy; the paired difference; and the
    issue's two per-set targets for each optimizer."""
    out: dict[str, Any] = {}
    for name in [*SETS, "all"]:
        part = [r for r in rows if name in ("all", r["set"])]
        if not part:
            continue
        mean = {k: round(100 * statistics.mean(_test(r, k) for r in part), 1)
                for k in ("best_baseline", "optimized", "train_evidence", "dspy")
                if all(k in r for r in part)}
        diffs = [_test(r, "train_evidence") - _test(r, "optimized") for r in part]
        out[name] = {"tasks": len(part), "mean": mean,
                     "train_evidence_minus_optimized": round(100 * statistics.mean(diffs), 1),
                     "ahead_behind_even": [sum(d > 0 for d in diffs), sum(d < 0 for d in diffs),
                                           sum(d == 0 for d in diffs)],
                     "targets": {k: _targets(part, k) for k in ("optimized", "train_evidence")}}
    return out


def _targets(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The issue's targets for the optimizer ``key`` on ``rows``."""
    gaps = [_test(r, key) - float(r["best_baseline"]) for r in rows]
    return {"every task >= best baseline - 2": min(gaps) >= -0.02 - 1e-9,
            "mean >= best baseline + 3": statistics.mean(gaps) >= 0.03 - 1e-9,
            "worst minus best baseline, points": round(100 * min(gaps), 1),
            "misses": {r["task"]: round(100 * g) for r, g in zip(rows, gaps, strict=True)
                       if g < -0.02 - 1e-9}}


def run() -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    if os.environ.get("NEUROFORGE_BENCH_RESUME") == "1" and RESULTS.is_file():
        rows = json.loads(RESULTS.read_text()).get("tasks", [])
    done = {(r["set"], r["task"]) for r in rows}
    header = {"settings": optimizer.RUN | {"train_evidence": True},
              "compared_with": {k: str(v[1].name) for k, v in SETS.items()},
              "load": "nothing else running (2 cores)"}
    with tempfile.TemporaryDirectory() as tmp:
        for set_name, (paths, results) in SETS.items():
            stored = _stored_rows(results)
            for name, path in paths().items():
                if (set_name, name) in done or name not in stored:
                    continue
                rows.append(_row(set_name, name, path, stored[name],
                                 f"sqlite:///{tmp}/bench.db"))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
                RESULTS.write_text(json.dumps({**header, "tasks": rows,
                                               "summary": summary(rows)}, indent=2) + "\n")
    return {**header, "tasks": rows, "summary": summary(rows)}
