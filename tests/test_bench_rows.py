"""The optimizer benchmark's row keeping: resume, reuse of peers, and redoing some tasks."""

import json
from pathlib import Path

import pytest

from benchmarks.optimizer import PEER_KEYS, RUN, _earlier_rows, _previous_rows


def _results(tmp_path: Path) -> Path:
    rows = [{"task": name, **{key: 0 for key in PEER_KEYS}} for name in ("a", "b", "c")]
    path = tmp_path / "optimizer.json"
    path.write_text(json.dumps({"settings": RUN, "tasks": rows}))
    return path


def test_redo_measures_the_named_tasks_again_and_keeps_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = _results(tmp_path)
    monkeypatch.setenv("NEUROFORGE_BENCH_RESUME", "1")
    monkeypatch.setenv("NEUROFORGE_BENCH_REUSE_PEERS", "1")
    assert [r["task"] for r in _previous_rows(results)] == ["a", "b", "c"]
    monkeypatch.setenv("NEUROFORGE_BENCH_REDO", "b,c")
    assert [r["task"] for r in _previous_rows(results)] == ["a"]
    assert set(_earlier_rows(results)) == {"a"}  # nor are its baselines or DSPy row kept


def test_redo_optimizer_measures_only_the_optimizer_of_the_named_tasks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = _results(tmp_path)
    monkeypatch.setenv("NEUROFORGE_BENCH_RESUME", "1")
    monkeypatch.delenv("NEUROFORGE_BENCH_REUSE_PEERS", raising=False)
    monkeypatch.delenv("NEUROFORGE_BENCH_REDO", raising=False)
    monkeypatch.setenv("NEUROFORGE_BENCH_REDO_OPTIMIZER", "b")
    assert [r["task"] for r in _previous_rows(results)] == ["a", "c"]
    assert set(_earlier_rows(results)) == {"b"}  # its baselines and DSPy row are kept


def test_without_resume_nothing_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = _results(tmp_path)
    monkeypatch.delenv("NEUROFORGE_BENCH_RESUME", raising=False)
    monkeypatch.delenv("NEUROFORGE_BENCH_REUSE_PEERS", raising=False)
    monkeypatch.delenv("NEUROFORGE_BENCH_REDO_OPTIMIZER", raising=False)
    assert _previous_rows(results) == [] and _earlier_rows(results) == {}


def test_the_dspy_peer_is_scored_against_the_same_gold_answers() -> None:
    from benchmarks.dspy_peer import _right
    from neuroforge.knowledge.datasets import Example
    from neuroforge.tools.prompt_eval import answer_set

    gold = answer_set(["same", "not the same"])
    assert not _right("contains", Example("x", "same"), "not the same", gold)
    assert _right("contains", Example("x", "not the same"), "not the same", gold)
    assert not _right("contains", Example("pony, ferret", "pony"), "pony, ferret", gold)


def test_cpu_info_reads_the_first_processor_and_survives_a_missing_file(
        tmp_path: Path) -> None:
    from benchmarks.machine import cpu_info

    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\ncpu family\t: 25\nmodel\t\t: 17\n"
                    "flags\t\t: fpu avx2 avx512f\n\nprocessor\t: 1\nmodel\t\t: 99\n")
    info = cpu_info(path)
    assert (info["cpu family"], info["model"]) == ("25", "17")
    assert "avx512f" in info["flags"].split()
    assert cpu_info(tmp_path / "absent") == {}


def test_redo_baselines_measures_only_the_free_baselines_and_compares_again(
        tmp_path: Path) -> None:
    """After a move to another CPU the three free baselines are measured again; the
    optimizer's and DSPy's rows stay, and what is compared with the baselines follows."""
    from benchmarks.optimizer import with_baselines_again

    splits = {"train": 50, "dev": 32, "test": 50}
    row = {"task": "t", "instruction": "do it", "scorer": "exact", "human": 0.1,
           "random3": 0.2, "random3_per_seed": [0.2] * 3, "nearest3": 0.3, "splits": splits,
           "dspy": {"test_accuracy": 0.05}, "nearest3_all_labelled": 0.32,
           "optimized": {"test_accuracy": 0.3}, "baselines_from_earlier_run": True,
           "best_baseline": 0.3, "optimized_minus_best_baseline": 0.0,
           "optimized_minus_human": 0.2}
    seen: list[tuple[Path, str, str]] = []

    def measure(path: Path, start: str, scorer: str) -> dict[str, object]:
        seen.append((path, start, scorer))
        return {"human": 0.0, "random3": 0.2, "random3_per_seed": [0.1, 0.2, 0.3],
                "nearest3": 0.36, "splits": splits}

    again = with_baselines_again(row, tmp_path / "t.json", measure)
    assert seen == [(tmp_path / "t.json", "do it", "exact")]
    assert again["nearest3"] == 0.36 and again["best_baseline"] == 0.36
    assert again["optimized_minus_best_baseline"] == -0.06
    assert again["optimized_minus_human"] == 0.3
    assert again["dspy"] == row["dspy"] and again["optimized"] == row["optimized"]
    assert again["nearest3_all_labelled"] == 0.32
    assert "baselines_from_earlier_run" not in again
    assert {"measured_at", "cpu_family_model", "simd"} <= set(again["baselines_measured_again"])
    with pytest.raises(SystemExit, match="the split changed"):
        with_baselines_again(row | {"splits": {**splits, "test": 40}}, tmp_path, measure)


def test_redo_peer_measures_only_the_dspy_row_on_the_same_split(tmp_path: Path) -> None:
    """After a move to another CPU the DSPy row is measured again on the task's own
    splits and scorer; every other row stays, and the DSPy row names its CPU."""
    from benchmarks.optimizer import split_sizes, with_peer_again
    from neuroforge.graphs.optimize import OptimizeDeps

    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"input": f"word {i}", "output": "yes" if i % 2 else "no"}
                                for i in range(60)]))
    splits = split_sizes(OptimizeDeps(model_for=lambda *a: None).task(str(path)))
    row = {"task": "t", "instruction": "do it", "scorer": "exact", "human": 0.1,
           "splits": splits, "dspy": {"test_accuracy": 0.05, "calls": 9},
           "optimized": {"test_accuracy": 0.3}, "best_baseline": 0.1}
    seen: list[tuple[object, ...]] = []

    def measure(url: str, start: str, train: list, dev: list, test: list, scorer: str,
                gold: frozenset[str]) -> dict[str, object]:
        seen.append((url, start, len(train), len(dev), len(test), scorer, gold))
        return {"test_accuracy": 0.5, "calls": 7}

    again = with_peer_again(row, path, "http://peer", measure)
    assert seen == [("http://peer", "do it", splits["train"], splits["dev"], splits["test"],
                     "exact", frozenset({"yes", "no"}))]
    assert again["dspy"]["test_accuracy"] == 0.5 and again["dspy"]["calls"] == 7
    assert {"measured_at", "cpu_family_model"} <= set(again["dspy"]["measured_again"])
    assert {k: v for k, v in again.items() if k != "dspy"} == {
        k: v for k, v in row.items() if k != "dspy"}
    with pytest.raises(SystemExit, match="the split changed"):
        with_peer_again(row | {"splits": {**splits, "test": 1}}, path, "http://peer", measure)


def _task_file(tmp_path: Path) -> Path:
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"input": f"word {i}", "output": "yes" if i % 2 else "no"}
                                for i in range(60)]))
    return path


def test_the_free_pick_is_the_prompt_right_most_often_on_dev_ties_to_the_earlier(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Of the five free prompts, the one right on most dev examples; a tie goes to the
    instruction, then + 3 nearest, then the random seeds in order."""
    import benchmarks.optimizer as bench
    from neuroforge.tools.prompt_eval import EvalResult

    path = _task_file(tmp_path)
    names = list(bench.free_prompts("do it", []))
    assert names == ["human", "nearest3", "random3_seed0", "random3_seed1", "random3_seed2"]
    right = {"human": 3, "nearest3": 5, "random3_seed0": 7, "random3_seed1": 7,
             "random3_seed2": 1}
    seen: list[str] = []

    def scored_on(path: Path, scorer: str, split: str = "test", pool: str = "train"):  # type: ignore[no-untyped-def]
        assert split == "dev" and pool == "train"

        def run(prompt: str) -> EvalResult:
            name = names[len(seen)]
            seen.append(prompt)
            return EvalResult(right[name] / 20, right[name], 20, 20, [])

        return run

    monkeypatch.setattr(bench, "scored_on", scored_on)
    pick = bench.free_pick(path, "do it", "exact")
    assert pick["picked"] == "random3_seed0" and pick["right_on_dev"] == right
    assert pick["calls"] == 100 and seen[0] == "do it"
    right.update(human=7)
    seen.clear()
    assert bench.free_pick(path, "do it", "exact")["picked"] == "human"


def test_the_free_pick_takes_its_test_figure_from_the_row_and_is_redone_alone(
        tmp_path: Path) -> None:
    """The picked prompt's test figure is the row's own (a baseline measured again moves
    it too); redoing the pick keeps every other row, on the same split only."""
    from benchmarks.optimizer import (
        split_sizes,
        summary,
        with_baselines_again,
        with_comparisons,
        with_free_pick_again,
    )
    from neuroforge.graphs.optimize import OptimizeDeps

    path = _task_file(tmp_path)
    splits = split_sizes(OptimizeDeps(model_for=lambda *a: None).task(str(path)))
    row = {"task": "t", "instruction": "do it", "scorer": "exact", "human": 0.1,
           "random3": 0.2, "random3_per_seed": [0.1, 0.25, 0.25], "nearest3": 0.3,
           "splits": splits, "nearest3_all_labelled": 0.3, "free_pick": {"picked": "random3_seed1"},
           "optimized": {"test_accuracy": 0.3, "calls": 9, "search_seconds": 1.0, "seconds": 2.0}}
    assert with_comparisons(row)["free_pick"]["test_accuracy"] == 0.25
    assert with_comparisons(row | {"free_pick": {"picked": "nearest3"}}
                            )["free_pick"]["test_accuracy"] == 0.3

    def baselines(path: Path, start: str, scorer: str) -> dict[str, object]:
        return {"human": 0.1, "random3": 0.3, "random3_per_seed": [0.1, 0.4, 0.4],
                "nearest3": 0.3, "splits": splits}

    assert with_baselines_again(row, path, baselines)["free_pick"]["test_accuracy"] == 0.4
    again = with_free_pick_again(row, path, lambda p, s, sc: {"picked": "human"})
    assert again["free_pick"]["picked"] == "human"
    assert again["free_pick"]["test_accuracy"] == 0.1
    assert "measured_at" in again["free_pick"]["measured_again"]
    assert {k: v for k, v in again.items() if k not in ("free_pick", "best_baseline")
            and not k.startswith("optimized_minus")} == {
        k: v for k, v in row.items() if k != "free_pick"}
    with pytest.raises(SystemExit, match="the split changed"):
        with_free_pick_again(row | {"splits": {**splits, "test": 1}}, path,
                             lambda p, s, sc: {"picked": "human"})
    rows = [with_comparisons(row), with_comparisons({k: v for k, v in row.items()
                                                     if k != "free_pick"})]
    assert summary(rows, 2)["mean"]["free_pick"] is None  # not every row has one
    assert summary(rows[:1], 1)["mean"]["free_pick"] == 25.0


def test_the_train_evidence_summary_compares_both_optimizers_with_the_same_baseline() -> None:
    from benchmarks.optimizer_train_evidence import summary

    def row(task: str, best: float, default: float, evidence: float) -> dict:
        return {"task": task, "set": "12 unseen", "best_baseline": best, "dspy": {
            "test_accuracy": 0.1}, "optimized": {"test_accuracy": default},
            "train_evidence": {"test_accuracy": evidence}}

    rows = [row("a", 0.5, 0.4, 0.6), row("b", 0.2, 0.2, 0.2), row("c", 0.3, 0.32, 0.26)]
    got = summary(rows)
    assert set(got) == {"12 unseen", "all"}
    unseen = got["12 unseen"]
    assert unseen["mean"] == {"best_baseline": 33.3, "optimized": 30.7, "train_evidence": 35.3,
                              "dspy": 10.0}
    assert unseen["train_evidence_minus_optimized"] == 4.7
    assert unseen["ahead_behind_even"] == [1, 1, 1]
    default, evidence = unseen["targets"]["optimized"], unseen["targets"]["train_evidence"]
    assert default["misses"] == {"a": -10} and not default["every task >= best baseline - 2"]
    assert evidence["misses"] == {"c": -4} and evidence["worst minus best baseline, points"] == -4
    assert not evidence["mean >= best baseline + 3"]


def test_a_row_redone_for_its_optimizer_keeps_its_free_pick_and_all_labelled_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither depends on the optimizer: redoing the optimizer row does not pay for them
    again; a row without them still gets them."""
    import benchmarks.optimizer as bench
    from neuroforge.graphs.optimize import OptimizeDeps

    path = _task_file(tmp_path)
    splits = bench.split_sizes(OptimizeDeps(model_for=lambda *a: None).task(str(path)))
    measured: list[str] = []
    monkeypatch.setattr(bench, "_optimize", lambda *a, **k: {"test_accuracy": 0.5})
    monkeypatch.setattr(bench, "starting_instruction", lambda name, path: "do it")
    monkeypatch.setattr(bench, "free_pick", lambda *a: measured.append("pick") or
                        {"picked": "human"})
    monkeypatch.setattr(bench, "nearest3_all_labelled", lambda *a: measured.append("all")
                        or 0.2)
    earlier = {"human": 0.1, "random3": 0.2, "random3_per_seed": [0.2] * 3, "nearest3": 0.3,
               "splits": splits, "dspy": {"test_accuracy": 0.1}}
    kept = earlier | {"free_pick": {"picked": "nearest3"}, "nearest3_all_labelled": 0.4}
    row = bench.run_task("t", path, "sqlite://", None, ablate=False, earlier=kept)
    assert measured == [] and row["free_pick"]["picked"] == "nearest3"
    assert row["nearest3_all_labelled"] == 0.4 and row["optimized"]["test_accuracy"] == 0.5
    row = bench.run_task("t", path, "sqlite://", None, ablate=False, earlier=earlier)
    assert measured == ["pick", "all"] and row["free_pick"]["picked"] == "human"
