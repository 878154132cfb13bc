"""Choosing among the free prompts without test: which rule's choice is right more often.

The optimizer's guard keeps the instruction unless a prompt beats it by a paired test
(McNemar p < 0.05, or a lead of 10 % with p < 0.2) on the labelled examples it chooses
on. The price: a free prompt a few answers ahead of the instruction is refused, which
the free pick (any lead) would take. Which of the two is right more often is measured
here with no test example: the five free prompts (the instruction, + 3 nearest, + 3
random with seeds 0, 1, 2) are run on the two labelled parts the optimizer chooses on,
dev and the confirmation slice (as many slice examples as dev has); each rule chooses on
one part and its choice is judged on the other, both ways. Tasks whose slice is smaller
than ``MIN_SLICE`` are left out. Tasks: the 34 of the three optimizer benchmarks.

Per set and pooled: each rule's right answers on the judged parts, its mean difference
from the guard over tasks (95 % bootstrap interval, sign-flip p), the tasks where it is
ahead of or behind the guard, and how often its choice is right less often than the
instruction on the judged part (the human target's risk). Results:
``benchmarks/results/free_prompt_choice.json``; ``NEUROFORGE_BENCH_RESUME=1`` keeps the
tasks already there.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchmarks.optimizer import (
    _model_for,
    free_prompts,
    scored_on,
    scorer_for,
    starting_instruction,
    task_paths,
)
from benchmarks.optimizer_targets import margin_cell
from benchmarks.optimizer_unseen import unseen_task_paths
from benchmarks.optimizer_unseen_bbh import unseen_bbh_paths
from neuroforge.agents.evolution import guard_rule
from neuroforge.analysis.stats import mcnemar
from neuroforge.graphs.optimize import OptimizeDeps

RESULTS = Path(__file__).parent / "results" / "free_prompt_choice.json"
SETS: dict[str, Callable[[], dict[str, Path]]] = {
    "14 tasks": task_paths, "12 unseen": unseen_task_paths, "8 unseen BBH": unseen_bbh_paths}
# Below this, a part is too small to judge a choice on (the guard's MIN_CONFIRM).
MIN_SLICE = 16
INSTRUCTION, NEAREST = "human", "nearest3"
PARTS = ("dev", "slice")

# Right (1) or wrong (0) per example, by part, then by free prompt in tie order.
Hits = Mapping[str, str]
Rule = Callable[[Hits], str]


def prompt_hits(path: Path) -> dict[str, dict[str, str]] | None:
    """The five free prompts' right/wrong answers on dev and the slice, as "1"/"0"
    strings by part and prompt; None when the task's slice is under ``MIN_SLICE``."""
    task = OptimizeDeps(model_for=_model_for).task(str(path))
    if len(task.confirm) < MIN_SLICE:
        return None
    prompts = free_prompts(starting_instruction(path.stem, path), task.train)
    hits = {}
    for part in PARTS:
        run = scored_on(path, scorer_for(path), part)
        hits[part] = {name: "".join("1" if hit else "0" for hit in run(prompt).hits)
                      for name, prompt in prompts.items()}
    return hits


def _bools(hits: str) -> list[bool]:
    return [c == "1" for c in hits]


def leader(hits: Hits) -> str:
    """The prompt right most often; a tie goes to the earlier (the free pick)."""
    return max(hits, key=lambda name: hits[name].count("1"))


def guarded(hits: Hits) -> str:
    """The leader if it beats the instruction by the optimizer's guard rule, else the
    instruction."""
    best = leader(hits)
    if best == INSTRUCTION:
        return best
    return best if guard_rule(_bools(hits[best]), _bools(hits[INSTRUCTION]))[0] else INSTRUCTION


def nearest_first(hits: Hits) -> str:
    """``guarded``, except that a leader with fixed demonstrations gives way to + 3
    nearest when that beats the instruction by the guard rule too and the leader does
    not beat it by the same rule (as the optimizer's searched leader gives way to its
    free seed): among near-equal demonstration prompts, the dev count is mostly noise."""
    chosen = guarded(hits)
    if chosen in (INSTRUCTION, NEAREST):
        return chosen
    nearest, instruction = _bools(hits[NEAREST]), _bools(hits[INSTRUCTION])
    if guard_rule(nearest, instruction)[0] and not guard_rule(_bools(hits[chosen]), nearest)[0]:
        return NEAREST
    return chosen


def lead_if_p_below(alpha: float) -> Rule:
    """The leader if McNemar's p against the instruction is under ``alpha``."""
    def rule(hits: Hits) -> str:
        best = leader(hits)
        if best == INSTRUCTION:
            return best
        p = mcnemar(_bools(hits[best]), _bools(hits[INSTRUCTION])).p_value
        return best if p < alpha else INSTRUCTION
    return rule


GUARD = "the guard (today's rule)"
RULES: dict[str, Rule] = {
    "the instruction": lambda hits: INSTRUCTION,
    "+ 3 nearest": lambda hits: NEAREST,
    GUARD: guarded,
    "the guard, + 3 nearest first": nearest_first,
    "the leader if p < 0.5": lead_if_p_below(0.5),
    "the free pick (any lead)": leader,
}


def judged(row: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per rule, over both directions (choose on one part, judge on the other): right
    answers on the judged part and the times they were fewer than the instruction's."""
    out = {name: {"right": 0, "below_instruction": 0} for name in RULES}
    for fit, judge in (PARTS, PARTS[::-1]):
        answers = row["hits"][judge]
        for name, rule in RULES.items():
            right = answers[rule(row["hits"][fit])].count("1")
            out[name]["right"] += right
            out[name]["below_instruction"] += right < answers[INSTRUCTION].count("1")
    return out


def judged_examples(row: dict[str, Any]) -> int:
    """How many answers a rule is judged on in ``row``: both parts, once each."""
    return sum(len(row["hits"][part][INSTRUCTION]) for part in PARTS)


def set_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per rule over ``rows``: right answers, percent, the mean difference from the guard
    over tasks with how sure it is, tasks ahead / behind it, times below the instruction."""
    scored = [(judged(row), judged_examples(row)) for row in rows]
    total = sum(n for _, n in scored)
    rules = {}
    for name in RULES:
        points = [100 * (s[name]["right"] - s[GUARD]["right"]) / n for s, n in scored]
        right = sum(s[name]["right"] for s, _ in scored)
        rules[name] = {"right": right, "percent": round(100 * right / total, 1) if total else None,
                       "minus_guard": margin_cell(points) if name != GUARD else "-",
                       "tasks_ahead": sum(p > 0 for p in points),
                       "tasks_behind": sum(p < 0 for p in points),
                       "below_instruction": sum(s[name]["below_instruction"] for s, _ in scored)}
    return {"tasks": len(rows), "judged_answers": total, "rules": rules}


def summaries(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``set_summary`` per task set, then over the two unseen sets and over all."""
    by_set = {name: [r for r in rows if r["set"] == name] for name in SETS}
    unseen = by_set["12 unseen"] + by_set["8 unseen BBH"]
    groups = by_set | {"unseen, pooled": unseen, "all": rows}
    return {name: set_summary(group) for name, group in groups.items() if group}


def table(result: dict[str, Any]) -> str:
    """A markdown table: a line a rule, a column a set (right %, and the mean difference
    from the guard over tasks in points), then how often over all tasks the rule's
    choice was right less often than the instruction."""
    sets = result["summary"]
    every = sets["all"]
    head = " | ".join(f"{name} ({s['tasks']})" for name, s in sets.items())
    lines = [f"| rule | {head} | below the instruction (of {2 * every['tasks']}) |",
             "|---" * (len(sets) + 2) + "|"]
    for rule in RULES:
        cells = [f"{s['rules'][rule]['percent']}" + (
            "" if rule == GUARD else f", {s['rules'][rule]['minus_guard']}")
            for s in sets.values()]
        lines.append(f"| {rule} | " + " | ".join(cells)
                     + f" | {every['rules'][rule]['below_instruction']} |")
    return "\n".join(lines)


def _kept_rows() -> list[dict[str, Any]]:
    if os.environ.get("NEUROFORGE_BENCH_RESUME") != "1" or not RESULTS.is_file():
        return []
    return list(json.loads(RESULTS.read_text()).get("tasks", []))


def run() -> dict[str, Any]:
    """Every task's hits (kept ones reused with ``NEUROFORGE_BENCH_RESUME=1``), written
    as each task ends, and the summaries."""
    rows, left_out = _kept_rows(), []
    done = {r["task"] for r in rows}
    for set_name, paths in SETS.items():
        for name, path in paths().items():
            if name in done:
                continue
            started = time.perf_counter()
            hits = prompt_hits(path)
            if hits is None:
                left_out.append(name)
                continue
            rows.append({"task": name, "set": set_name, "hits": hits,
                         "seconds": round(time.perf_counter() - started, 1)})
            RESULTS.write_text(json.dumps({"tasks": rows}, indent=1) + "\n")
    return {"min_slice": MIN_SLICE, "left_out": left_out, "tasks": rows,
            "summary": summaries(rows)}


def main() -> int:
    """Print the table of the results file."""
    print(table(json.loads(RESULTS.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
