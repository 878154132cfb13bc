"""The optimizer's targets on tasks it was never developed on.

The 14 tasks of ``benchmarks/optimizer.py`` are the ones the method was built and
checked against; a user's task is none of them. These are every other
instruction-induction task (12 of the 24), in alphabetical order. No benchmark or test
of this project used them before (negation and synonyms appear only in the issue's
report on the old method), so nothing in the current method was shaped by them. The
first 4 were run first; the rest were added later by the same rule, with no change to
the optimizer between. Every row is measured as there (same target, splits, scorer,
budget, time limit, baselines and DSPy peer); no ablations. Results:
``benchmarks/results/optimizer_unseen.json``; ``NEUROFORGE_BENCH_RESUME=1`` keeps the
rows already there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.optimizer import INDUCE, run_tasks, unused_task_paths

RESULTS = Path(__file__).parent / "results" / "optimizer_unseen.json"


def unseen_task_paths() -> dict[str, Path]:
    """Every instruction-induction task not among the 14, alphabetically."""
    return unused_task_paths(INDUCE)


def run() -> dict[str, Any]:
    return run_tasks(unseen_task_paths(), RESULTS, ablated=set())
