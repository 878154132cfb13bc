import json
from pathlib import Path

import numpy as np
import pytest

from neuroforge.tools.router.data import RoutingDataError, load_table, split_table
from tests.data_paths import SHARED_ROUTING, needs_shared_data


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_routellm_csv_drops_contaminated_prompts(tmp_path: Path) -> None:
    _csv(tmp_path / "t.csv", "prompt,weak,strong,weak_response\n"
         "p1,True,True,x\np2,False,True,y\np3,False,False,z\n")
    (tmp_path / "contaminated_prompts.jsonl").write_text(json.dumps({"eval_prompt": "p2"}) + "\n")
    table = load_table(tmp_path / "t.csv")
    assert table.prompts == ["p1", "p3"] and table.models == ["weak", "strong"]
    assert table.quality.tolist() == [[1.0, 1.0], [0.0, 0.0]]
    kept = load_table(tmp_path / "t.csv", drop_contaminated=False)
    assert len(kept.prompts) == 3
    # The stronger model (higher accuracy) is the costlier one when no costs are given.
    assert list(kept.costs) == [0.0, 1.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("question,a,b\nq,True,False\n", "missing the 'prompt' column"),
        ("prompt,a\nq,True\n", "at least two models"),
        ("prompt,a,b\n", "no rows"),
        ("prompt,a,b\nq,True,maybe\n", "not True/False or a number"),
    ],
)
def test_malformed_csv_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RoutingDataError, match=message):
        load_table(_csv(tmp_path / "bad.csv", text))


def test_jsonl_with_costs_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "t.jsonl"
    good.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "a", "scores": {"m1": 1, "m2": 0.5}, "costs": {"m1": 0.1, "m2": 2}},
        {"prompt": "b", "scores": {"m1": 0, "m3": 1}, "costs": {"m1": 0.1, "m3": 5}},
        {"prompt": "c", "scores": {"m2": 1, "m3": 0}, "costs": {"m2": 2, "m3": 5}},
    ]))
    table = load_table(good)
    assert table.models == ["m1", "m2", "m3"] and np.isnan(table.quality[0, 2])
    assert table.costs.tolist() == [0.1, 2.0, 5.0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "scores": {"m1": "high", "m2": 1}}\n')
    with pytest.raises(RoutingDataError, match="scores must map model names to numbers"):
        load_table(bad)
    bad.write_text("not json\n")
    with pytest.raises(RoutingDataError, match=":1: needs"):
        load_table(bad)
    with pytest.raises(RoutingDataError, match="not found"):
        load_table(tmp_path / "missing.jsonl")
    with pytest.raises(RoutingDataError, match="expected a .csv"):
        load_table(_csv(tmp_path / "t.txt", "x"))


def test_split_is_seeded_and_disjoint(tmp_path: Path) -> None:
    rows = "".join(f"p{i},{i % 2 == 0},True\n" for i in range(20))
    table = load_table(_csv(tmp_path / "t.csv", "prompt,a,b\n" + rows))
    train, test = split_table(table, 0.3, seed=1)
    assert len(test.prompts) == 6 and not set(train.prompts) & set(test.prompts)
    assert split_table(table, 0.3, seed=1)[1].prompts == test.prompts


@needs_shared_data
def test_routellm_files_load() -> None:
    gsm8k = load_table(SHARED_ROUTING / "routellm/gsm8k/gsm8k_responses.csv")
    assert 1300 <= len(gsm8k.prompts) < 1319
    mmlu = load_table(SHARED_ROUTING / "routellm/mmlu/responses")
    assert len(mmlu.prompts) > 14000 and len(mmlu.models) == 2
