"""The README's optimizer tables, as written from a results file."""

from pathlib import Path
from typing import Any

from benchmarks.optimizer_tables import adopted, free_pick_cell, main, table
from benchmarks.optimizer_targets import resolution_cell, resolution_table
from neuroforge.agents.optimizer import read_by_knn
from neuroforge.knowledge.datasets import Example
from neuroforge.tools.answer_choices import answer_choices_line
from neuroforge.tools.nearest_demos import dynamic_prompt
from neuroforge.tools.prompt_eval import format_demonstrations


def _optimized(prompt: str, guard: dict[str, Any] | None, changed: bool = True
               ) -> dict[str, Any]:
    return {"test_accuracy": 0.56, "calls": 298, "search_seconds": 249.1, "seconds": 311.6,
            "changed": changed, "prompt": prompt, "guard": guard}


def test_adopted_names_the_rule_the_kind_of_prompt_and_the_seed_rule() -> None:
    held = dynamic_prompt(f"Say it.\n{answer_choices_line(['yes', 'no'])}", 5)
    assert adopted(_optimized(held, {"rule": "paired test", "candidate": "x"})) == \
        "paired test, the nearest-5 seed held to the labels"
    fixed = format_demonstrations("Say it.", [Example("a", "b"), Example("c", "d")])
    seed_taken = {"rule": "paired test", "candidate": "s",
                  "over_seed": {"seed": "s", "searched": "x", "rule": None}}
    assert adopted(_optimized(fixed, seed_taken)) == "paired test, 2 fixed examples, the free seed"
    fallback = {"rule": "margin", "candidate": "x",
                "over_seed": {"seed": "s", "searched": "x", "rule": None}}
    assert adopted(_optimized(fixed, fallback)) == \
        "margin, 2 fixed examples; the seed could not beat the original"
    beat_seed = fallback | {"over_seed": {"seed": "s", "searched": "x", "rule": "margin"}}
    assert adopted(_optimized(fixed, beat_seed)) == "margin, 2 fixed examples"
    assert adopted(_optimized("Say it.", None, changed=False)) == "original kept"
    knn = read_by_knn(fixed)
    assert adopted(_optimized(knn, {"rule": "paired test", "candidate": "x"})) == \
        "paired test, 2 fixed examples, answers read by kNN"


def test_table_writes_a_line_a_task_and_the_means() -> None:
    row = {"task": "boolean_expressions", "human": 0.3, "random3": 0.5067,
           "random3_per_seed": [0.62, 0.48, 0.42], "nearest3": 0.58,
           "nearest3_all_labelled": 0.5, "optimized_minus_best_baseline": -0.02,
           "optimized": _optimized(dynamic_prompt("Say it.", 3),
                                   {"rule": "paired test", "candidate": "x"}),
           "dspy": {"test_accuracy": 0.44, "calls": 138}}
    result = {"tasks": [row], "tasks_measured": 1, "max_search_calls": 298,
              "max_search_seconds": 249.1, "max_seconds_with_test": 311.6,
              "mean": {"human": 30.0, "random3": 50.7, "nearest3": 58.0,
                       "nearest3_all_labelled": 50.0, "optimized": 56.0,
                       "best_baseline": 58.0, "dspy": None}}
    lines = table(result).splitlines()
    assert lines[2] == ("| boolean_expressions | 30 | 51 (62/48/42) | 58 | - | 50 | **56** "
                        "(paired test, the nearest-3 seed) | -2 | 298 / 249 s (312 s) "
                        "| 44 (138) |")
    assert lines[3] == ("| **mean (1 tasks)** | 30.0 | 50.7 | 58.0 | - | 50.0 | **56.0** "
                        "| best baseline 58.0 | max 298 / 249 s (312 s) | - |")


def test_the_readme_shows_the_tables_the_results_files_give(capsys: Any) -> None:
    """The README's optimizer tables and target verdicts are the script's output, so a
    rerun that moves a figure cannot leave the README behind."""
    assert main() == 0
    printed = capsys.readouterr().out.strip()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "#### Targets" in printed and "#### How sure" in printed
    assert printed in readme, "README is out of date: run python -m benchmarks.optimizer_tables"


def test_the_free_pick_cell_names_the_prompt_picked_on_dev() -> None:
    assert free_pick_cell({"free_pick": {"picked": "random3_seed2", "test_accuracy": 0.42}}
                          ) == "42 (random 2)"
    assert free_pick_cell({"free_pick": {"picked": "nearest3", "test_accuracy": 0.6}}
                          ) == "60 (nearest)"
    assert free_pick_cell({}) == "-"


def test_the_resolution_counts_tasks_whose_two_fair_runs_are_over_2_points_apart() -> None:
    rows = [{"task": "a", "nearest3": 0.50, "nearest3_all_labelled": 0.53},  # 3 apart
            {"task": "b", "nearest3": 0.90, "nearest3_all_labelled": 0.74},  # 16 apart
            {"task": "c", "nearest3": 0.40, "nearest3_all_labelled": 0.42},  # 2: within
            {"task": "d", "nearest3": 0.74, "nearest3_all_labelled": 0.90},  # 16, later
            {"task": "e", "nearest3": 0.10}]  # one run only: left out
    assert resolution_cell(rows) == "3 of 4 (widest 16, b)"
    assert resolution_cell([]) == "-"
    table = resolution_table({"set": {"tasks": rows}})
    assert table.splitlines()[-1].endswith("| 3 of 4 (widest 16, b) |")
