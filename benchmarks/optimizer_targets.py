"""Issue 10's targets, judged from the optimizer results files rather than by hand.

``targets_table`` gives each target's verdict on each task set (met or missed, with the
figure that decides it); ``margins_table`` gives how sure the mean differences are: a
95 % bootstrap interval over the tasks of a set (a task drawn again is a task like
these, with its own test noise) and a two-sided sign-flip test over them;
``resolution_table`` gives how often one prompt's two fair runs differ by more than the
per-task target's 2 points. Figures are held-out test points.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from neuroforge.analysis.stats import bootstrap_ci, paired_permutation

# The targets, in points of held-out test accuracy.
WITHIN_BEST = -2
BELOW_HUMAN = -2
MEAN_OVER_BEST = 3
MAX_CALLS = 300
MAX_SEARCH_SECONDS = 360
# The free rows the optimizer is compared with, by their field in a results row.
COMPARED = {"best_baseline": "the best baseline (picked on test)",
            "free_pick": "the free pick on dev", "nearest3": "+ 3 nearest",
            "random3": "+ 3 random", "nearest3_all_labelled": "+ 3 nearest, all labelled",
            "dspy": "DSPy"}


def percent(share: float) -> int:
    """A 0-1 accuracy, or a difference of two, as whole percent (points)."""
    return round(100 * share)


def _verdict(met: bool, detail: str) -> str:
    return f"**{'met' if met else 'missed'}** ({detail})"


def human_target(result: dict[str, Any]) -> str:
    """Never more than 2 points below the human instruction, with the worst task's gap."""
    worst = min(percent(r["optimized_minus_human"]) for r in result["tasks"])
    return _verdict(worst >= BELOW_HUMAN, f"worst {worst:+d}")


def dspy_target(result: dict[str, Any]) -> str:
    """The optimized mean at least DSPy's."""
    mean = result["mean"]
    if mean.get("dspy") is None:
        return "not measured"
    return _verdict(mean["optimized"] >= mean["dspy"],
                    f"{mean['optimized']} against {mean['dspy']}")


def budget_target(result: dict[str, Any]) -> str:
    """At most 300 calls and 6 minutes of search on every task."""
    calls, seconds = result["max_search_calls"], result["max_search_seconds"]
    return _verdict(calls <= MAX_CALLS and seconds <= MAX_SEARCH_SECONDS,
                    f"{calls}, {round(seconds)} s")


def per_task_target(result: dict[str, Any]) -> str:
    """Every task within 2 points of its best baseline; the misses, worst first."""
    rows = result["tasks"]
    gaps = [(percent(r["optimized_minus_best_baseline"]), i, r["task"]) for i, r in enumerate(rows)]
    misses = sorted(g for g in gaps if g[0] < WITHIN_BEST)
    if not misses:
        worst = min(gaps)
        return _verdict(True, f"worst {worst[0]:+d}, {worst[2]}")
    named = ", ".join(f"{task} {gap:+d}" for gap, _, task in misses)
    return _verdict(False, f"on {len(misses)} of {len(rows)}: {named}")


def mean_target(result: dict[str, Any]) -> str:
    """The optimized mean at least the best baseline's + 3 points."""
    mean = result["mean"]
    lead = round(mean["optimized"] - mean["best_baseline"], 1)
    return _verdict(lead >= MEAN_OVER_BEST, f"{mean['optimized']} against "
                    f"{mean['best_baseline']}, {lead:+.1f}")


TARGETS = (("never more than 2 points below the human instruction", human_target),
           ("mean at least DSPy's", dspy_target),
           ("at most 300 calls and 6 minutes of search per task", budget_target),
           ("every task within 2 points of the best baseline", per_task_target),
           ("mean at least the best baseline + 3", mean_target))


def table_head(corner: str, columns: Iterable[str]) -> list[str]:
    """A markdown table's first two lines: ``corner``, then a column a task set."""
    names = list(columns)
    return [f"| {corner} | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]


def targets_table(results: Mapping[str, dict[str, Any]]) -> str:
    """A markdown table: a line a target, a column a task set (``results`` maps the
    set's title to its results file's content)."""
    lines = table_head("target", results)
    for name, judge in TARGETS:
        lines.append(f"| {name} | " + " | ".join(judge(r) for r in results.values()) + " |")
    return "\n".join(lines)


def differences(rows: Sequence[dict[str, Any]], field: str) -> list[float]:
    """Per task, optimized minus the ``field`` row, in points (tasks without it left out)."""
    found = []
    for row in rows:
        other = row.get(field)
        if isinstance(other, dict):  # the DSPy row, the free pick
            other = other.get("test_accuracy")
        if other is not None:
            found.append(100 * (row["optimized"]["test_accuracy"] - other))
    return found


def margin_cell(values: Sequence[float]) -> str:
    """"+1.9 (-0.5 to +4.6; p 0.13)": the mean difference, its 95 % bootstrap interval
    over tasks and the sign-flip test's p."""
    if not values:
        return "-"
    low, high = bootstrap_ci(values, resamples=10_000)
    p = paired_permutation(values, [0.0] * len(values)).p_value
    mean = sum(values) / len(values)
    return f"{mean:+.1f} ({low:+.1f} to {high:+.1f}; p {p:.2g})"


def margins_table(results: Mapping[str, dict[str, Any]]) -> str:
    """A markdown table: a line a free row (and DSPy), a column a task set, each cell
    the optimizer's mean lead over that row with how sure it is."""
    lines = table_head("optimized minus", results)
    for field, name in COMPARED.items():
        cells = [margin_cell(differences(r["tasks"], field)) for r in results.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# Two fair runs of one prompt: + 3 nearest picking from the training examples, and from
# every labelled example (test excepted), as an adopted dynamic prompt picks.
SAME_PROMPT = ("nearest3", "nearest3_all_labelled")


def same_prompt_gaps(rows: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    """Per task, how far apart (whole points) the two fair runs of + 3 nearest land on
    test, with the task's name; tasks without both runs left out."""
    first, second = SAME_PROMPT
    return [(abs(percent(row[first]) - percent(row[second])), row["task"]) for row in rows
            if row.get(first) is not None and row.get(second) is not None]


def resolution_cell(rows: Sequence[dict[str, Any]]) -> str:
    """"7 of 14 (widest 16, active_to_passive)": tasks whose two fair runs of one prompt
    are further apart than the per-task target's 2 points, and the widest gap."""
    gaps = same_prompt_gaps(rows)
    if not gaps:
        return "-"
    apart = sum(gap > -WITHIN_BEST for gap, _ in gaps)
    widest, task = max(gaps, key=lambda g: g[0])  # the first of equal gaps
    return f"{apart} of {len(gaps)} (widest {widest}, {task})"


def resolution_table(results: Mapping[str, dict[str, Any]]) -> str:
    """A one-line markdown table, a column a task set: how often one prompt's two fair
    runs differ on test by more than the 2 points the per-task target allows."""
    cells = " | ".join(resolution_cell(r["tasks"]) for r in results.values())
    return "\n".join([*table_head("the same prompt run twice", results),
                      "| + 3 nearest from train, and from every labelled example: tasks "
                      f"more than 2 points apart | {cells} |"])
