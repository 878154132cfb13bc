"""Issue 10's targets judged from a results file, and the mean leads with their intervals."""

from typing import Any

from benchmarks.optimizer_tables import pooled_unseen
from benchmarks.optimizer_targets import differences, margin_cell, margins_table, targets_table


def _row(task: str, human: float, best: float, optimized: float,
         dspy: float | None = 0.1) -> dict[str, Any]:
    return {"task": task, "human": human, "nearest3": best, "random3": best - 0.1,
            "nearest3_all_labelled": best, "best_baseline": best,
            "optimized_minus_best_baseline": optimized - best,
            "optimized_minus_human": optimized - human,
            "optimized": {"test_accuracy": optimized},
            "dspy": None if dspy is None else {"test_accuracy": dspy, "calls": 100}}


def _result(rows: list[dict[str, Any]], calls: int = 298, seconds: float = 300.0
            ) -> dict[str, Any]:
    n = len(rows)
    mean = {"optimized": round(100 * sum(r["optimized"]["test_accuracy"] for r in rows) / n, 1),
            "best_baseline": round(100 * sum(r["best_baseline"] for r in rows) / n, 1),
            "dspy": 10.0}
    return {"tasks": rows, "mean": mean, "max_search_calls": calls,
            "max_search_seconds": seconds}


def test_every_target_met_names_the_deciding_figures() -> None:
    result = _result([_row("a", 0.2, 0.3, 0.4), _row("b", 0.5, 0.52, 0.5)])
    lines = targets_table({"set": result}).splitlines()
    assert lines[0] == "| target | set |"
    assert lines[2] == ("| never more than 2 points below the human instruction "
                        "| **met** (worst +0) |")
    assert lines[3] == "| mean at least DSPy's | **met** (45.0 against 10.0) |"
    assert lines[4].endswith("| **met** (298, 300 s) |")
    assert lines[5].endswith("| **met** (worst -2, b) |")  # 2 points behind is within 2
    assert lines[6].endswith("| **met** (45.0 against 41.0, +4.0) |")


def test_misses_are_named_worst_first_and_budget_overruns_miss() -> None:
    rows = [_row("a", 0.2, 0.3, 0.26), _row("b", 0.1, 0.5, 0.3), _row("c", 0.4, 0.4, 0.37)]
    table = targets_table({"set": _result(rows, calls=301, seconds=200.0)})
    assert "| **missed** (on 3 of 3: b -20, a -4, c -3) |" in table
    assert "| **missed** (31.0 against 40.0, -9.0) |" in table
    assert "| **missed** (301, 200 s) |" in table
    assert "| **missed** (worst -3) |" in table  # c: 3 points below the instruction


def test_differences_read_the_dspy_row_and_skip_tasks_without_one() -> None:
    rows = [_row("a", 0.2, 0.3, 0.4, dspy=0.1), _row("b", 0.2, 0.3, 0.5, dspy=None)]
    assert [round(d, 6) for d in differences(rows, "dspy")] == [30.0]
    assert [round(d, 6) for d in differences(rows, "nearest3")] == [10.0, 20.0]


def test_margin_cell_gives_the_mean_an_interval_and_a_p_value() -> None:
    assert margin_cell([]) == "-"
    assert margin_cell([4.0, 4.0, 4.0]) == "+4.0 (+4.0 to +4.0; p 0.25)"
    cell = margin_cell([10.0, -2.0, 0.0, 6.0])
    mean, rest = cell.split(" (")
    assert mean == "+3.5"
    low, high = (float(x) for x in rest.split(";")[0].split(" to "))
    assert -2.0 <= low < 3.5 < high <= 10.0


def test_the_pooled_set_joins_both_unseen_sets() -> None:
    one, two = _result([_row("a", 0.2, 0.3, 0.4)]), _result([_row("b", 0.2, 0.3, 0.2)])
    pooled = pooled_unseen({"12 unseen": one, "8 unseen BBH": two})
    assert [r["task"] for r in pooled["2 unseen, pooled"]["tasks"]] == ["a", "b"]
    assert pooled_unseen({"12 unseen": one}) == {"12 unseen": one}
    table = margins_table(pooled)
    assert table.splitlines()[0] == ("| optimized minus | 12 unseen | 8 unseen BBH "
                                     "| 2 unseen, pooled |")
