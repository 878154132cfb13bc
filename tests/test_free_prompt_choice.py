"""The benchmark of rules that choose among the free prompts on one labelled part and
are judged on the other."""

import json
from pathlib import Path
from typing import Any

from benchmarks.free_prompt_choice import (
    GUARD,
    RESULTS,
    RULES,
    guarded,
    judged,
    lead_if_p_below,
    leader,
    set_summary,
    summaries,
    table,
)

# 32 answers a prompt; "1" right, "0" wrong.
NONE, ALL = "0" * 32, "1" * 32


def _right(count: int) -> str:
    return "1" * count + "0" * (32 - count)


def _hits(human: int, nearest: int, *random: int) -> dict[str, str]:
    seeds = list(random) + [0] * (3 - len(random))
    return {"human": _right(human), "nearest3": _right(nearest),
            **{f"random3_seed{i}": _right(n) for i, n in enumerate(seeds)}}


def test_the_leader_is_right_most_often_and_a_tie_goes_to_the_earlier() -> None:
    assert leader(_hits(3, 5, 5, 4)) == "nearest3"
    assert leader(_hits(5, 5, 5)) == "human"
    assert leader(_hits(1, 2, 2, 2, 7)) == "random3_seed2"


def test_the_guard_refuses_a_lead_of_a_few_answers_and_takes_a_clear_one() -> None:
    # 3 answers ahead on 32 (the larger_animal case): p = 0.25, no margin of 10 %.
    assert guarded(_hits(15, 18)) == "human"
    assert guarded(_hits(0, 18)) == "nearest3"  # McNemar p < 0.05
    assert lead_if_p_below(0.5)(_hits(15, 18)) == "nearest3"
    assert lead_if_p_below(0.2)(_hits(15, 18)) == "human"


def _row(dev: dict[str, str], slice_: dict[str, str], set_name: str = "14 tasks"
         ) -> dict[str, Any]:
    return {"task": "t", "set": set_name, "hits": {"dev": dev, "slice": slice_}}


def test_a_rule_chooses_on_one_part_and_is_judged_on_the_other() -> None:
    # On dev nearest-3 leads by 3 (the pick takes it, the guard does not); on the slice
    # the instruction is ahead, so the pick's choice on dev is judged below it there.
    row = _row(_hits(15, 18), _hits(20, 13))
    scores = judged(row)
    # dev -> slice: the pick's nearest3 scores 13; slice -> dev: the pick keeps the
    # instruction (leader on the slice), 15.
    assert scores["the free pick (any lead)"] == {"right": 13 + 15, "below_instruction": 1}
    assert scores[GUARD] == {"right": 20 + 15, "below_instruction": 0}
    assert scores["+ 3 nearest"] == {"right": 13 + 18, "below_instruction": 1}


def test_the_summary_counts_answers_and_compares_each_rule_with_the_guard() -> None:
    rows = [_row(_hits(15, 18), _hits(20, 13)),
            _row(_hits(0, 20), _hits(1, 22), "12 unseen")]
    result = {"summary": summaries(rows)}
    assert list(result["summary"]) == ["14 tasks", "12 unseen", "unseen, pooled", "all"]
    every = set_summary(rows)
    assert every["judged_answers"] == 4 * 32 and every["tasks"] == 2
    assert every["rules"][GUARD]["right"] == 35 + 22 + 20
    assert every["rules"]["the instruction"]["tasks_behind"] == 1
    assert every["rules"]["the free pick (any lead)"]["tasks_behind"] == 1
    text = table(result)
    assert text.count("\n") == len(RULES) + 1
    assert "| the free pick (any lead) | 43.8, -10.9 (" in text and text.endswith("| 1 |")


def test_the_readme_shows_the_table_the_results_file_gives() -> None:
    """The README's table of choosing rules is the results file's, as printed."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert table(json.loads(RESULTS.read_text())) in readme, (
        "README is out of date: run python -m benchmarks.free_prompt_choice")
