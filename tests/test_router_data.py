import json
from pathlib import Path

import numpy as np
import pytest

from neuroforge.tools.router.data import RoutingDataError, load_table
from neuroforge.tools.router.pipeline import file_split, seeded_split
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
    assert list(kept.model_costs) == [0.0, 1.0] and kept.costs.shape == (3, 2)


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
    assert np.allclose(table.model_costs, [0.1, 2.0, 5.0])
    # A row without a model's cost takes that model's mean cost.
    assert table.costs[1].tolist() == [0.1, 2.0, 5.0]
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
    split = seeded_split(table, 0.3, seed=1)
    train, test = split.train, split.test
    assert len(test.prompts) == 6 and not set(train.prompts) & set(test.prompts)
    assert seeded_split(table, 0.3, seed=1).test.prompts == test.prompts
    assert split.how == {"table": table.source, "fingerprint": table.fingerprint(),
                         "held_out": 0.3, "seed": 1}


@needs_shared_data
def test_routellm_files_load() -> None:
    gsm8k = load_table(SHARED_ROUTING / "routellm/gsm8k/gsm8k_responses.csv")
    assert 1300 <= len(gsm8k.prompts) < 1319
    mmlu = load_table(SHARED_ROUTING / "routellm/mmlu/responses")
    assert len(mmlu.prompts) > 14000 and len(mmlu.models) == 2


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "a", "scores": {"m1": 7, "m2": 0.5}}, "must be in \\[0, 1\\]"),
        ({"prompt": "a", "scores": {"m1": -0.1, "m2": 0.5}}, "must be in \\[0, 1\\]"),
        ({"prompt": "a", "scores": {"m1": float("nan"), "m2": 0.5}}, "must be in \\[0, 1\\]"),
        ({"prompt": "a", "scores": {"m1": 1, "m2": 0}, "costs": {"m1": float("nan"), "m2": 1}},
         "cost for 'm1' is nan"),
        ({"prompt": "a", "scores": {"m1": 1, "m2": 0}, "costs": {"m1": -2, "m2": 1}},
         "not negative"),
        ({"prompt": "a", "scores": {"m1": 1, "m2": 0}, "costs": {"m1": 0.1}},
         "never for m2"),
        ({"prompt": "a", "scores": {"m1": 1, "m2": 0}, "costs": ["cheap"]},
         "costs must map"),
    ],
)
def test_bad_scores_and_costs_are_refused(tmp_path: Path, row: dict, message: str) -> None:
    with pytest.raises(RoutingDataError, match=message):
        load_table(_jsonl(tmp_path / "t.jsonl", [row]))


def test_csv_scores_outside_the_unit_range_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RoutingDataError, match=r"t.csv:2: score for 'b' is 8.0"):
        load_table(_csv(tmp_path / "t.csv", "prompt,a,b\nq,1,8\n"))


def test_a_fully_contaminated_table_says_so(tmp_path: Path) -> None:
    _csv(tmp_path / "t.csv", "prompt,weak,strong\np1,True,True\n")
    (tmp_path / "contaminated_prompts.jsonl").write_text(json.dumps({"eval_prompt": "p1"}))
    with pytest.raises(RoutingDataError, match="no rows left after dropping 1 contaminated"):
        load_table(tmp_path / "t.csv")


def test_file_split_aligns_models_and_drops_overlap(tmp_path: Path) -> None:
    train = load_table(_jsonl(tmp_path / "train.jsonl", [
        {"prompt": f"p{i}", "scores": {"a": 1, "b": 0}, "costs": {"a": 1, "b": 2}}
        for i in range(5)]))
    test = load_table(_jsonl(tmp_path / "test.jsonl", [
        {"prompt": "p0", "scores": {"b": 1, "a": 0}, "costs": {"a": 1, "b": 2}},
        {"prompt": "new", "scores": {"b": 1, "a": 0}, "costs": {"a": 3, "b": 4}}]))
    split = file_split(train, test)
    assert split.test.prompts == ["new"] and split.how["dropped_overlap"] == 1
    assert split.test.quality.tolist() == [[0.0, 1.0]] and split.test.costs.tolist() == [[3, 4]]
    other = load_table(_jsonl(tmp_path / "other.jsonl", [
        {"prompt": "x", "scores": {"a": 1, "c": 0}}]))
    with pytest.raises(RoutingDataError, match="must score the same models"):
        file_split(train, other)
    with pytest.raises(RoutingDataError, match="nothing is held out"):
        file_split(train, train)
