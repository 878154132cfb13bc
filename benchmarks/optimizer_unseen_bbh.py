"""The optimizer's targets on BIG-Bench Hard tasks it was never developed on.

A second family of unseen tasks beside ``benchmarks/optimizer_unseen.py``: reasoning and
multiple-choice questions with long inputs, where the instruction-induction tasks are
short transformations. The 14 tasks of ``benchmarks/optimizer.py`` use 2 of the 27 BBH
tasks; these are the first ``FIRST`` of the other 25 in alphabetical order, none of them
run by any benchmark or test of this project before. Each starts from the BBH authors'
description of the task (the BBH README), is scored ``exact`` as the other BBH rows (a
Dyck word's closing brackets compared symbol by symbol), and every row is measured as
there (same target, split rule, budget, time limit, baselines and DSPy peer); no
ablations. Results: ``benchmarks/results/optimizer_unseen_bbh.json``;
``NEUROFORGE_BENCH_RESUME=1`` keeps the rows already there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.optimizer import SHARED, run_tasks, unused_task_paths

RESULTS = Path(__file__).parent / "results" / "optimizer_unseen_bbh.json"
FIRST = 8  # tasks per run on 2 cores (each 20-40 min with its DSPy row); the rule takes more


def unseen_bbh_paths(first: int = FIRST) -> dict[str, Path]:
    """The first ``first`` BBH tasks not among the 14, alphabetically."""
    return dict(list(unused_task_paths(SHARED / "bbh").items())[:first])


def run() -> dict[str, Any]:
    return run_tasks(unseen_bbh_paths(), RESULTS, ablated=set())
