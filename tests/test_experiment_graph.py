"""The experiment graph on scripted models: matrix, cache, concurrency, failures, resume."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy import func, select

from neuroforge.graphs.experiment import (
    ExperimentDeps,
    ExperimentError,
    ExperimentStopped,
    create_experiment_graph,
    experiment_config,
)
from neuroforge.knowledge.db import Database, open_database
from neuroforge.knowledge.experiment_spec import ExperimentSpec
from neuroforge.knowledge.experiments import stored_cells
from neuroforge.knowledge.schema import ExperimentResult, RoutingOutcome, Run
from neuroforge.knowledge.strengths import strength_graph, strongest_models
from tests.fakes import FunctionChatModel

WORDS = {"hot": "cold", "up": "down", "big": "small", "fast": "slow", "early": "late",
         "light": "dark", "open": "closed", "full": "empty", "high": "low", "old": "new",
         "hard": "soft", "wet": "dry"}


def _input(messages: list[BaseMessage]) -> str:
    return str(messages[-1].content).rsplit("Input: ", 1)[1].split("\n", 1)[0]


class Models:
    """Named fakes: "good" knows every antonym, "bad" repeats the input word."""

    def __init__(self, delay: float = 0.0, fail_on: set[str] | None = None) -> None:
        self.calls: dict[str, int] = {"good": 0, "bad": 0}
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()
        self.delay, self.fail_on = delay, fail_on or set()

    def respond(self, name: str) -> Any:
        def answer(messages: list[BaseMessage]) -> str | Exception:
            with self.lock:
                self.calls[name] += 1
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                time.sleep(self.delay)
                word = _input(messages)
                if name == "bad" and word in self.fail_on:
                    return ConnectionError("connection refused: bad is down")
                return WORDS[word] if name == "good" else word
            finally:
                with self.lock:
                    self.in_flight -= 1
        return answer

    def factory(self, name: str, temperature: float, max_tokens: int) -> FunctionChatModel:
        if name not in self.calls:
            raise KeyError(name)
        return FunctionChatModel(respond=self.respond(name), name_=name)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "antonyms.jsonl"
    path.write_text("".join(json.dumps({"input": k, "output": v}) + "\n"
                            for k, v in WORDS.items()))
    return path


@pytest.fixture
def store(tmp_path: Path, store_url: str) -> Database:
    return open_database(store_url)


def spec(dataset: Path, **changes: Any) -> dict[str, Any]:
    data = {"name": "antonyms", "models": ["good", "bad"],
            "prompts": [{"key": "plain", "text": "Give the opposite.", "category": "lexical"},
                        {"key": "terse", "text": "Antonym, one word.", "category": "lexical"}],
            "dataset": {"path": str(dataset), "split": "all", "limit": 12, "scorer": "exact"},
            "repeats": 2, "concurrency": 3}
    return ExperimentSpec.model_validate(data | changes).model_dump()


def run(store: Database, models: Models, request: dict[str, Any], run_id: str = "r1",
        checkpointer: Any = None) -> dict[str, Any]:
    graph = create_experiment_graph(ExperimentDeps(store=store, model_for_name=models.factory))
    app = graph.compile(checkpointer=checkpointer)
    return app.invoke({**request, "run_id": run_id},
                      experiment_config(request["spec"], run_id))


def test_matrix_statistics_and_records(store: Database, dataset: Path) -> None:
    models = Models()
    out = run(store, models, {"spec": spec(dataset)})
    summary = out["summary"]
    assert out["planned"] == 2 * 2 * 12 * 2 and out["done"] == 96
    good, bad = summary["cells"]["plain @ good"], summary["cells"]["plain @ bad"]
    assert good["accuracy"] == 1.0 and bad["accuracy"] == 0.0
    assert good["accuracy_ci"] == [1.0, 1.0] and good["consistency"] == 1.0
    assert good["latency_p50_ms"] >= 0 and good["examples"] == 12
    between_models = [c for c in summary["comparisons"]
                      if c["between"] == "models" and c["metric"] == "accuracy"]
    assert between_models and all(c["p_value"] < 0.001 and c["significant"]
                                  for c in between_models)
    assert summary["best_by_category"]["lexical"]["model"] == "good"
    assert summary["best"] == {"cell": "plain @ good", "accuracy": 1.0}
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(ExperimentResult)) == 96
        assert session.get(Run, "r1").status == "succeeded"
        outcomes = session.scalars(select(RoutingOutcome)).all()
        assert len(outcomes) == 2 * 12 * 2 and {o.source for o in outcomes} == {"experiment"}
        assert {o.quality for o in outcomes if o.model == "good"} == {1.0}
        ranked = strongest_models(strength_graph(session), "category:lexical")
    assert [r["model"] for r in ranked] == ["good", "bad"] and ranked[0]["strength"] == 1.0


def test_identical_calls_are_cached_unless_told_not_to(store: Database, dataset: Path) -> None:
    cached = Models(delay=0.005)
    run(store, cached, {"spec": spec(dataset, repeats=3)}, "cached")
    assert cached.calls == {"good": 24, "bad": 24}  # 2 prompts x 12 examples, once each
    fresh = Models()
    run(store, fresh, {"spec": spec(dataset, repeats=3), "no_cache": True}, "fresh")
    assert fresh.calls == {"good": 72, "bad": 72}


def test_concurrency_limit_is_respected(store: Database, dataset: Path) -> None:
    models = Models(delay=0.02)
    run(store, models, {"spec": spec(dataset, concurrency=3, repeats=1)})
    assert 2 <= models.most_in_flight <= 3


def test_failing_model_keeps_finished_cells_and_resume_redoes_only_failures(
        store: Database, dataset: Path) -> None:
    broken = Models(fail_on={"hot", "up", "big"})
    out = run(store, broken, {"spec": spec(dataset, repeats=1)})
    assert len(out["errors"]) == 2 * 3 and "bad is down" in out["errors"][0]
    assert out["summary"]["cells"]["plain @ bad"]["errors"] == 3
    with store.session() as session:
        assert session.get(Run, "r1").status == "partial"
        assert session.scalar(select(func.count()).select_from(ExperimentResult)
                              .where(ExperimentResult.error.is_(None))) == 48 - 6
    healed = Models()
    out = run(store, healed, {"spec": spec(dataset, repeats=1)})
    assert out["skipped"] == 42 and healed.calls == {"good": 0, "bad": 6}
    assert out["summary"]["errors"] == 0
    with store.session() as session:
        assert session.get(Run, "r1").status == "succeeded"
        assert session.scalar(select(func.count()).select_from(ExperimentResult)) == 48
        # Outcomes fed after the first analysis are not fed twice.
        assert session.scalar(select(func.count()).select_from(RoutingOutcome)) == 48


class Interrupted(BaseException):
    """Stands for Ctrl-C or a killed process: not an error a cell may swallow."""


def test_interrupted_run_resumes_from_its_checkpoint(store: Database, dataset: Path) -> None:
    saver = InMemorySaver()
    request = {"spec": spec(dataset, repeats=1, concurrency=1)}
    calls = {"n": 0}
    first = Models()

    def crashing(name: str, temperature: float, max_tokens: int) -> FunctionChatModel:
        calls["n"] += 1
        if calls["n"] == 20:
            raise Interrupted()
        return first.factory(name, temperature, max_tokens)

    graph = create_experiment_graph(ExperimentDeps(store=store, model_for_name=crashing))
    with pytest.raises(Interrupted):
        graph.compile(checkpointer=saver).invoke({**request, "run_id": "r9"},
                                                 experiment_config(request["spec"], "r9"))
    with store.session() as session:
        kept = session.scalar(select(func.count()).select_from(ExperimentResult))
    assert 19 <= kept < 48  # a branch already running when the crash hit may finish too
    second = Models()
    app = create_experiment_graph(ExperimentDeps(store=store, model_for_name=second.factory)
                                  ).compile(checkpointer=saver)
    config = experiment_config(request["spec"], "r9")
    assert set(app.get_state(config).next) == {"cells"}  # only unfinished branches
    out = app.invoke(None, config)
    assert sum(second.calls.values()) == 48 - kept and out["summary"]["stored"] == 48


def test_trend_compares_with_the_previous_run(store: Database, dataset: Path) -> None:
    run(store, Models(), {"spec": spec(dataset, repeats=1)}, "first")
    out = run(store, Models(), {"spec": spec(dataset, repeats=1)}, "second")
    trend = out["summary"]["trend"]
    assert [p["run_id"] for p in trend] == ["first"]
    assert trend[0]["cells"]["plain @ good"] == 1.0
    assert out["summary"]["change_vs_previous"]["plain @ good"] == 0.0


def test_bad_matrices_get_clear_errors(store: Database, dataset: Path, tmp_path: Path) -> None:
    models = Models()
    run(store, models, {"spec": spec(dataset, repeats=1)}, "done")
    with pytest.raises(ExperimentError, match="started from a different experiment file"):
        run(store, models, {"spec": spec(dataset, repeats=2)}, "done")
    models = Models()
    with pytest.raises(ExperimentError, match="unknown prompt version"):
        run(store, models, {"spec": spec(dataset, prompts=[{"version": "nope"}])})
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"question_text": "x", "label": "y"}\n' * 5)
    with pytest.raises(ExperimentError, match="needs fields input/output"):
        run(store, models, {"spec": spec(wrong)})
    assert sum(models.calls.values()) == 0


@pytest.mark.parametrize(("request_", "message"), [
    ({}, "the input has no spec"),
    ({"spec": "antonyms.yaml"}, "spec: an experiment spec is a mapping .* not str"),
    ({"spec": {"models": ["good"]}},
     "spec: name: Field required; prompts: Field required; dataset: Field required"),
])
def test_bad_programmatic_input_gets_one_clear_error(store: Database, request_: dict,
                                                      message: str) -> None:
    models = Models()
    graph = create_experiment_graph(ExperimentDeps(store=store, model_for_name=models.factory))
    with pytest.raises(ExperimentError, match=message):
        graph.compile().invoke(request_, experiment_config(request_.get("spec", {}), "r1"))
    assert sum(models.calls.values()) == 0


def test_strengths_command_ranks_models_per_category(dataset: Path) -> None:
    from typer.testing import CliRunner

    from neuroforge.cli import app
    from neuroforge.settings import load_settings
    from neuroforge.wiring import open_store

    runner = CliRunner()
    empty = runner.invoke(app, ["experiment", "strengths"])
    assert empty.exit_code == 0 and "no finished experiments yet" in empty.output
    run(open_store(load_settings()), Models(), {"spec": spec(dataset, repeats=1)})
    result = runner.invoke(app, ["experiment", "strengths", "lexical", "--json"])
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.stdout)["category:lexical"]
    assert [(r["model"], r["strength"]) for r in ranked] == [("good", 1.0), ("bad", 0.0)]
    assert ranked[0]["examples"] == 2 * 12  # two prompts, twelve examples each
    missing = runner.invoke(app, ["experiment", "strengths", "poetry"])
    assert missing.exit_code == 2 and "dataset:antonyms" in missing.output


def test_stop_ends_branches_at_a_cell_boundary_and_resume_finishes(
        store: Database, dataset: Path) -> None:
    models, saver = Models(), InMemorySaver()
    deps = ExperimentDeps(store=store, model_for_name=models.factory)
    calls = 0

    def count(_key: Any, _error: str | None) -> None:
        nonlocal calls
        calls += 1
        if calls == 5:
            deps.stop.set()  # what Ctrl-C does

    deps.on_cell = count
    request = {"spec": spec(dataset, concurrency=1), "run_id": "stop"}
    app = create_experiment_graph(deps).compile(checkpointer=saver)
    # Whichever branch notices first raises; every branch stops at a cell boundary.
    with pytest.raises(ExperimentStopped, match=r"stopped after \d+ cells"):
        app.invoke(request, experiment_config(request["spec"], "stop"))
    with store.session() as session:
        assert 5 <= len(stored_cells(session, "stop")) < 96
    deps.stop.clear()
    out = app.invoke(None, experiment_config(request["spec"], "stop"))
    assert out["summary"]["stored"] == 96 and 5 <= 96 - out["done"] < 96  # none run twice
    assert out["summary"]["cells"]["plain @ good"]["examples"] == 12


def test_the_significance_means_are_the_cell_table_means(store: Database,
                                                         dataset: Path) -> None:
    """With repeats, a half-right example counts 0.5 in both tables (not 1 by majority)."""
    models = Models()
    flips: dict[str, int] = {}

    def flaky(name: str, temperature: float, max_tokens: int) -> FunctionChatModel:
        def answer(messages: list[BaseMessage]) -> str:
            word = _input(messages)
            flips[word] = flips.get(word, 0) + 1
            # Right on the first ask of every third word only: 2 repeats -> 0.5 there.
            return WORDS[word] if flips[word] == 1 and word in ("hot", "big", "light") else word
        return FunctionChatModel(respond=answer if name == "bad" else models.respond(name),
                                 name_=name)

    request = {"spec": spec(dataset, prompts=[{"key": "plain", "text": "Give the opposite."}],
                            cache=False), "no_cache": True}
    graph = create_experiment_graph(ExperimentDeps(store=store, model_for_name=flaky))
    summary = graph.compile().invoke({**request, "run_id": "means"},
                                     experiment_config(request["spec"], "means"))["summary"]
    cells = summary["cells"]
    [test] = [t for t in summary["comparisons"] if t["metric"] == "accuracy"]
    assert test["test"] != "mcnemar" and test["examples"] == 12
    assert {test["mean_a"], test["mean_b"]} == {cells["plain @ good"]["accuracy"],
                                                cells["plain @ bad"]["accuracy"]}
    assert cells["plain @ bad"]["accuracy"] == pytest.approx(1.5 / 12, abs=1e-4)


def test_a_reply_that_gives_another_longer_label_is_wrong(store: Database, tmp_path: Path
                                                          ) -> None:
    """"not the same" contains "same", but is the dataset's other label."""
    path = tmp_path / "wic.jsonl"
    path.write_text("".join(json.dumps({"input": f"case {i}",
                                        "output": "same" if i < 3 else "not the same"}) + "\n"
                            for i in range(8)))
    request = {"spec": spec(path, models=["good"], repeats=1)}
    request["spec"]["dataset"] |= {"limit": 8, "scorer": "contains"}
    graph = create_experiment_graph(ExperimentDeps(
        store=store, model_for_name=lambda name, temperature, max_tokens: FunctionChatModel(
            respond=lambda messages: "Not the same.", name_=name)))
    out = graph.compile().invoke({**request, "run_id": "wic"},
                                 experiment_config(request["spec"], "wic"))
    assert out["summary"]["cells"]["plain @ good"]["accuracy"] == 5 / 8


def test_a_prompt_held_to_answer_choices_runs_held_to_them(store: Database,
                                                           dataset: Path) -> None:
    """A prompt whose replies are held to a closed set (``tools.answer_choices``) asks the
    backend for the constraint in every cell and is scored on the choice its reply names."""
    from neuroforge.agents.optimizer import hold_to_answers

    held = hold_to_answers("Give the opposite.", sorted(WORDS.values()))
    models: list[FunctionChatModel] = []

    def factory(name: str, temperature: float, max_tokens: int) -> FunctionChatModel:
        models.append(FunctionChatModel(
            respond=lambda m: json.dumps({"answer": WORDS[_input(m)]}), name_=name,
            metadata={"response_format": "json_schema"}))
        return models[-1]

    request = {"spec": spec(dataset, models=["good"], repeats=1,
                            prompts=[{"key": "held", "text": held, "category": "lexical"}])}
    graph = create_experiment_graph(ExperimentDeps(store=store, model_for_name=factory))
    out = graph.compile().invoke({**request, "run_id": "held"},
                                 experiment_config(request["spec"], "held"))
    assert out["summary"]["cells"]["held @ good"]["accuracy"] == 1.0
    asked = [k for m in models for k in m.call_kwargs]
    assert len(asked) == 12 and all(
        k["response_format"]["json_schema"]["schema"]["properties"]["answer"]["enum"]
        == sorted(WORDS.values()) for k in asked)
