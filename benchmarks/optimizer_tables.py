"""The README's prompt-optimizer tables, written from the results files.

``python -m benchmarks.optimizer_tables`` prints one markdown table a task set
(``results/optimizer.json``, ``optimizer_unseen.json``, ``optimizer_unseen_bbh.json``),
so the README shows exactly what the benchmark measured. Figures are held-out test %.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.optimizer_targets import (
    margins_table,
    percent,
    resolution_table,
    targets_table,
)
from neuroforge.tools.prompt_eval import runnable_prompt

RESULTS = Path(__file__).parent / "results"
SETS = {"optimizer": "14 tasks", "optimizer_unseen": "12 unseen instruction-induction tasks",
        "optimizer_unseen_bbh": "8 unseen BIG-Bench Hard tasks"}
# The same sets as the targets' columns name them.
SHORT = {"optimizer": "14 tasks", "optimizer_unseen": "12 unseen",
         "optimizer_unseen_bbh": "8 unseen BBH"}
HEADER = ("| task | human | + 3 random (3 seeds) | + 3 nearest | free pick on dev "
          "| + 3 nearest, all labelled | **optimized** (rule, what) | vs best "
          "| search calls / time (with test) | DSPy (calls) |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
# How the free pick's cell names the prompt it picked.
PICKED = {"human": "human", "nearest3": "nearest", "random3_seed0": "random 0",
          "random3_seed1": "random 1", "random3_seed2": "random 2"}


def adopted(optimized: dict[str, Any]) -> str:
    """What the optimizer adopted, and by which rule of its guard: "original kept", or
    e.g. "paired test, the nearest-5 seed held to the labels, the free seed"."""
    if not optimized["changed"]:
        return "original kept"
    guard = optimized.get("guard") or {}
    run = runnable_prompt(optimized["prompt"], pool=[])  # how it runs; the pool is not shown
    shown = len(run.get("demonstrations", []))
    what = (f"the nearest-{run['k']} seed" if run["mode"] == "nearest"
            else f"{shown} fixed examples" if shown else "a rewritten instruction")
    if run["mode"] == "knn":
        what += ", answers read by kNN"
    if "answer_choices" in run:
        what += " held to the labels"
    parts = [guard.get("rule") or "no rule", what]
    # Step 5: a searched leader that did not beat the best free seed by the guard's rule
    # gives way to it, unless that seed does not beat the original.
    over_seed = guard.get("over_seed") or {}
    if over_seed.get("seed") == guard.get("candidate"):
        parts.append("the free seed")
    text = ", ".join(parts)
    if over_seed.get("searched") == guard.get("candidate") and over_seed.get("rule") is None:
        text += "; the seed could not beat the original"
    return text


def free_pick_cell(row: dict[str, Any]) -> str:
    """The free pick's test figure and which prompt it is, e.g. "56 (nearest)"."""
    pick = row.get("free_pick")
    if pick is None:
        return "-"
    return f"{percent(pick['test_accuracy'])} ({PICKED[pick['picked']]})"


def task_line(row: dict[str, Any]) -> str:
    """One task's line of the table."""
    optimized, dspy = row["optimized"], row.get("dspy")
    seeds = "/".join(str(percent(s)) for s in row["random3_per_seed"])
    gap = percent(row["optimized_minus_best_baseline"])
    cells = [row["task"], str(percent(row["human"])), f"{percent(row['random3'])} ({seeds})",
             str(percent(row["nearest3"])), free_pick_cell(row),
             str(percent(row["nearest3_all_labelled"])),
             f"**{percent(optimized['test_accuracy'])}** ({adopted(optimized)})",
             f"{gap:+d}",
             f"{optimized['calls']} / {round(optimized['search_seconds'])} s "
             f"({round(optimized['seconds'])} s)",
             f"{percent(dspy['test_accuracy'])} ({dspy['calls']})" if dspy else "-"]
    return "| " + " | ".join(cells) + " |"


def mean_line(result: dict[str, Any]) -> str:
    """The table's last line: the means over the tasks and the worst calls and times."""
    mean = result["mean"]
    cells = [f"**mean ({result['tasks_measured']} tasks)**", str(mean["human"]),
             str(mean["random3"]), str(mean["nearest3"]),
             "-" if mean.get("free_pick") is None else str(mean["free_pick"]),
             str(mean["nearest3_all_labelled"]),
             f"**{mean['optimized']}**", f"best baseline {mean['best_baseline']}",
             f"max {result['max_search_calls']} / {round(result['max_search_seconds'])} s "
             f"({round(result['max_seconds_with_test'])} s)",
             str(mean["dspy"]) if mean["dspy"] is not None else "-"]
    return "| " + " | ".join(cells) + " |"


def table(result: dict[str, Any]) -> str:
    """A results file's markdown table: a line a task, then the means."""
    return "\n".join([HEADER, *(task_line(r) for r in result["tasks"]), mean_line(result)])


def pooled_unseen(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``results`` with one more set: the tasks of both unseen sets together."""
    unseen = [results[SHORT[name]]["tasks"] for name in ("optimizer_unseen", "optimizer_unseen_bbh")
              if SHORT[name] in results]
    if len(unseen) < 2:
        return results
    tasks = unseen[0] + unseen[1]
    return results | {f"{len(tasks)} unseen, pooled": {"tasks": tasks}}


def main() -> int:
    """Print every task set's table whose results file exists, then the targets'
    verdicts, the optimizer's mean leads with how sure they are, and how far apart
    one prompt's two fair runs land (what a per-task target of 2 points can resolve)."""
    results = {}
    for name, title in SETS.items():
        path = RESULTS / f"{name}.json"
        if path.is_file():
            results[SHORT[name]] = result = json.loads(path.read_text())
            print(f"#### {title}\n\n{table(result)}\n")
    if results:
        print(f"#### Targets\n\n{targets_table(results)}\n")
        print(f"#### How sure\n\n{margins_table(pooled_unseen(results))}\n")
        print(f"#### How fine the test is\n\n{resolution_table(pooled_unseen(results))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
