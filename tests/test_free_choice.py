"""The free choice on train (``--train-evidence``): the free prompts with nearest
examples are run on the training examples, each leaving itself out, and the one right
most often on train + dev is what the searched prompts must beat. Scripted models."""

import json
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage
from typer.testing import CliRunner

from neuroforge import wiring
from neuroforge.agents.free_choice import (
    evidence_record,
    free_dynamic_texts,
    leader_on_evidence,
    train_evidence_cost,
    with_free_choice,
)
from neuroforge.agents.schemas import Candidate
from neuroforge.cli import app
from neuroforge.graphs.optimize import (
    OptimizeDeps,
    OptimizeInputError,
    confirm_plan,
    create_optimize_graph,
)
from neuroforge.knowledge.datasets import load_task
from neuroforge.tools.nearest_demos import parse_dynamic
from tests.optimize_world import world


def _free(dev: list[list[bool]]) -> list[Candidate]:
    texts = free_dynamic_texts("Repeat the word.")
    return [Candidate(id=f"c{i}", text=t, origin="original" if i == 0 else "demonstrations",
                      dev_hits=hits) for i, (t, hits) in enumerate(zip(texts, dev, strict=True))]


def test_the_free_prompts_are_the_instruction_then_three_and_five_nearest() -> None:
    bare, three, five = free_dynamic_texts("Repeat the word.")
    assert bare == "Repeat the word."
    assert parse_dynamic(three) == ("Repeat the word.", 3)
    assert parse_dynamic(five) == ("Repeat the word.", 5)


def test_the_leader_counts_train_and_dev_and_ties_go_to_the_earlier() -> None:
    free = _free([[True, True, False], [True, False, False], [False, False, False]])
    train = {"c0": [False, False], "c1": [True, True], "c2": [True, True]}
    chosen, counts, dev = leader_on_evidence(free, train)
    # c1 and c2... c1: 1 + 2 = 3, c0: 2 + 0 = 2, c2: 0 + 2 = 2
    assert (chosen.id, counts, dev) == ("c1", {"c0": 2, "c1": 3, "c2": 2}, 3)
    tied = {"c0": [True, False], "c1": [False, True], "c2": [False, False]}
    assert leader_on_evidence(free, tied)[0].id == "c0"  # 3 against 2: the bare one wins


def test_a_dev_run_cut_short_is_compared_on_the_prefix_all_answered() -> None:
    free = _free([[False] * 4, [True, True, False, False], [True, True]])
    train = {c.id: [False] for c in free}
    chosen, counts, dev = leader_on_evidence(free, train)
    assert dev == 2 and counts == {"c0": 0, "c1": 2, "c2": 2} and chosen.id == "c1"


def test_a_prompt_without_dev_or_train_answers_is_not_in_the_running() -> None:
    free = _free([[True], [True], [True]])
    free[0].dev_hits = None
    assert leader_on_evidence(free, {"c0": [True], "c1": [False]})[0].id == "c1"
    with pytest.raises(ValueError, match="no free prompt"):
        leader_on_evidence(free, {})


def test_the_cost_counts_the_cached_reflection_answers_once() -> None:
    assert train_evidence_cost(50, 32, 8) == 2 * (50 + 32) + 42  # 206, as a run spends
    assert train_evidence_cost(120, 32, 8) == 2 * (50 + 32) + 42  # at most 50 examples
    assert train_evidence_cost(5, 4, 8) == 2 * (5 + 4) + 0


def test_the_verdict_names_the_free_choice_and_the_searched_prompts_fate() -> None:
    original, nearest = _free([[False], [True], [True]])[:2]
    searched = Candidate(id="s", text="Say it loud.", origin="rewrite", dev_hits=[True])
    evidence = evidence_record(nearest, {"c0": 20, "c1": 40, "c2": 38}, 50, 32)
    inner = {"adopted": False, "candidate": "s",
             "reason": "ahead on dev by 3% but not significantly; the original stays"}
    kept = with_free_choice(inner, nearest, nearest, original, evidence)
    assert kept["adopted"] and not kept["over_free_choice"]
    assert kept["reason"].startswith("free choice on train and dev: the instruction with "
                                     "nearest examples per input was right on 40 of 82")
    assert "the free choice stays" in kept["reason"] and "the original" not in kept["reason"]
    beaten = with_free_choice(inner | {"adopted": True, "reason": "better on dev"}, searched,
                              nearest, original, evidence)
    assert beaten["adopted"] and beaten["over_free_choice"] and beaten["free_choice"] == evidence
    alone = with_free_choice(inner, original, original, original,
                             evidence_record(original, {"c0": 40, "c1": 30}, 50, 32))
    assert not alone["adopted"] and "instruction alone was right on 40 of 82" in alone["reason"]


def _task(tmp_path: Path) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"input": f"w{i}", "output": f"W{i}"}) + "\n"
                            for i in range(200)))
    return path


def _target(train: set[str], hard: set[str], leaks: list[str]):
    """Examples help a lot on the training inputs and by one answer on dev (the original
    misses both ``hard`` ones, a prompt with examples the first): dev and the slice
    alone do not decide for them, train does. Records an input among its own examples."""
    def reply(messages: list[BaseMessage]) -> str:
        text = "\n".join(m.text for m in messages)
        before, _, asked = text.rpartition("\n\nInput: ")
        word = asked.split("\nOutput:")[0]
        if f"Input: {word}\n" in before:
            leaks.append(word)
        shown = "Input: w" in before
        if word in train:
            return word.upper() if shown or int(word[1:]) % 3 == 0 else "no"
        if word in hard:
            return "no" if not shown or word == min(hard) else word.upper()
        return word.upper()
    return reply


@pytest.mark.parametrize("agents", [False, True])
def test_train_evidence_adopts_what_dev_alone_cannot_decide(tmp_path: Path,
                                                            agents: bool) -> None:
    path = _task(tmp_path)
    task = load_task(path, dev_size=32)
    train, hard = {e.input for e in task.train}, {e.input for e in task.dev[:2]}
    state = {"prompt": "Repeat the word in capitals.", "task": str(path), "generations": 2,
             "agents": agents, "budget": 300}
    results = {}
    for evidence in (False, True):
        leaks: list[str] = []
        factory, _ = world({"target": _target(train, hard, leaks)})
        graph = create_optimize_graph(OptimizeDeps(model_for=factory)).compile()
        results[evidence] = graph.invoke(state | {"train_evidence": evidence})["result"]
        assert leaks == []  # no training input is shown among its own examples
        searched = results[evidence]["calls_used"] - results[evidence]["calls_by_phase"]["test"]
        assert searched <= 300
    assert not results[False]["changed"]  # one answer ahead on dev, none on the slice
    guard = results[True]["guard"]
    assert results[True]["changed"] and guard["adopted"], guard
    assert guard["free_choice"]["chosen"] == results[True]["optimized_id"]
    assert guard["free_choice"]["train_examples"] >= 16
    assert parse_dynamic(results[True]["optimized"]) is not None
    assert results[True]["calls_by_phase"]["free_choice"] > 0
    assert "free choice on train and dev" in guard["reason"]


def test_train_evidence_keeps_the_instruction_when_examples_do_not_help(tmp_path: Path
                                                                         ) -> None:
    path = _task(tmp_path)
    factory, _ = world({"target": lambda messages: "no"})
    graph = create_optimize_graph(OptimizeDeps(model_for=factory)).compile()
    result = graph.invoke({"prompt": "Repeat the word in capitals.", "task": str(path),
                           "agents": False, "budget": 300, "train_evidence": True})["result"]
    assert not result["changed"] and not result["guard"]["adopted"]
    counts = result["guard"].get("free_choice", {}).get("right", {})
    assert counts and set(counts.values()) == {0}


def test_the_reserve_leaves_no_slice_at_the_benchmark_budget(tmp_path: Path) -> None:
    task = load_task(_task(tmp_path), dev_size=32)
    opts = {"population": 4, "voters": 3, "agents": True, "budget": 300}
    assert confirm_plan(opts, task, 3) == (32, 3)
    assert confirm_plan(opts | {"train_evidence": True}, task, 3) == (0, 0)
    assert confirm_plan(opts | {"train_evidence": True, "budget": 700}, task, 3)[0] == 32


def test_train_evidence_needs_a_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    factory, fake = world()
    graph = create_optimize_graph(OptimizeDeps(model_for=factory)).compile()
    with pytest.raises(OptimizeInputError, match="train evidence needs a labelled task"):
        graph.invoke({"prompt": "Repeat.", "train_evidence": True})
    assert fake.calls == []
    monkeypatch.setattr(wiring, "model_factory", lambda settings: factory)
    monkeypatch.setenv("NEUROFORGE_DATA_DIR", str(tmp_path / "data"))
    said = CliRunner().invoke(app, ["optimize", "Repeat.", "--train-evidence"])
    assert said.exit_code == 2 and "Traceback" not in said.output
    assert said.output.strip() == ("error: train evidence needs a labelled task to run the "
                                   "free prompts on; give --task, or leave out "
                                   "--train-evidence")


@pytest.mark.parametrize(("limit", "decided_on_train"), [(300, False), (400, True)])
def test_a_time_limit_sizes_the_train_run_or_skips_it(tmp_path: Path, limit: int,
                                                      decided_on_train: bool) -> None:
    """One second a call: the free choice takes at most half the limit, and sizes its
    train run by the rate of its dev runs; with too little time for 16 answers each it
    runs none (dev decides, as without train evidence) and the search has the rest."""
    path = _task(tmp_path)
    task = load_task(path, dev_size=32)
    leaks: list[str] = []
    target = _target({e.input for e in task.train}, {e.input for e in task.dev[:2]}, leaks)
    factory, fake = world({"target": target})
    deps = OptimizeDeps(model_for=factory, clock=lambda: float(len(fake.calls)))
    result = create_optimize_graph(deps).compile().invoke(
        {"prompt": "Repeat the word in capitals.", "task": str(path), "budget": 300,
         "train_evidence": True, "time_limit": limit})["result"]
    assert result["search_seconds"] <= limit
    assert ("free_choice" in result["guard"]) is decided_on_train
    assert result["changed"] is decided_on_train
    if decided_on_train:
        assert 16 <= result["guard"]["free_choice"]["train_examples"] < 50
    else:  # the free prompts were scored on dev, no more
        assert result["calls_by_phase"]["free_choice"] == 2 * 32
