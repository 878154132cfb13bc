import json
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage, SystemMessage

from neuroforge.graphs.route import RouteDeps, RouteInputError, create_route_graph
from neuroforge.knowledge.db import open_database
from neuroforge.knowledge.schema import RoutingDecision, RoutingOutcome
from neuroforge.memory.long_term import open_long_term
from neuroforge.models.backends import ModelUnavailableError
from neuroforge.tools.router.router import RuleRouter
from tests.fakes import FunctionChatModel

OPTIONS = [{"name": "tiny", "cost": 0.0, "parameters": 1.35e8},
           {"name": "big", "cost": 1.0, "parameters": 7e9}]


def agent_picks(model: str):
    def respond(messages: list[BaseMessage]) -> str:
        system = " ".join(m.text for m in messages if isinstance(m, SystemMessage))
        if "model router" in system:
            return json.dumps({"model": model, "confidence": 0.9, "rationale": "fits"})
        return json.dumps({"score": 7})  # the execution judge
    return respond


def deps(tmp_path: Path, store_url: str, agent_model: str = "big",
         run_reply=lambda m: "391") -> RouteDeps:
    fake = FunctionChatModel(respond=agent_picks(agent_model))
    store = open_database(store_url)
    return RouteDeps(model_for=lambda role, t=None: fake,
                     run_model=lambda name: FunctionChatModel(respond=run_reply, name_=name),
                     options=lambda: OPTIONS, router=RuleRouter(), store=store,
                     memory=open_long_term(store, tmp_path / "chroma"))


def test_weighted_votes_decide_and_are_recorded(tmp_path: Path, store_url: str) -> None:
    d = deps(tmp_path, store_url, agent_model="tiny")
    out = create_route_graph(d).compile().invoke({"task": "What is 17 * 23?"})
    decision = out["decision"]
    # Rules (neural voter, weight 1.0) say big for math; the agent (0.6) says tiny;
    # memory abstains: big wins on weight, without a majority of all voters' weight.
    assert decision["model"] == "big"
    assert {v["voter"] for v in decision["votes"]} == {"neural", "router-agent", "memory"}
    assert decision["tally"]["big"] > decision["tally"]["tiny"]
    with d.store.session() as session:
        row = session.get(RoutingDecision, decision["id"])
        assert row.chosen_model == "big" and row.explanation == decision["reason"]


def test_execute_records_a_judged_outcome_that_memory_recalls(
        tmp_path: Path, store_url: str) -> None:
    d = deps(tmp_path, store_url, agent_model="tiny")
    graph = create_route_graph(d).compile()
    out = graph.invoke({"task": "What is 17 * 23?", "execute": True})
    assert out["answer"] == "391" and out["outcome"]["quality"] == 0.7
    with d.store.session() as session:
        assert session.query(RoutingOutcome).one().model == out["decision"]["model"]
    again = graph.invoke({"task": "What is 17 * 24?"})
    memory = next(v for v in again["decision"]["votes"] if v["voter"] == "memory")
    assert memory["model"] == out["decision"]["model"] and "similar past task" in memory[
        "rationale"]
    # The same task on another model is a separate memory, not merged into the first.
    remembered = d.memory.recall("What is 17 * 23?", 5, kind="routing")
    assert [m.details["model"] for m in remembered] == [out["decision"]["model"]]
    d.memory.remember("What is 17 * 23?", "routing", None, {"model": "tiny", "quality": 0.2},
                      subject="tiny")
    assert {m.subject for m in d.memory.recall("What is 17 * 23?", 5)} == {"big", "tiny"}


def test_backend_down_during_execute_keeps_the_decision(tmp_path: Path, store_url: str) -> None:
    down = ModelUnavailableError("big", "http://127.0.0.1:9", "cannot connect")
    d = deps(tmp_path, store_url, run_reply=lambda m: down)
    out = create_route_graph(d).compile().invoke({"task": "What is 2 + 2?", "execute": True})
    assert out["decision"]["model"] and "answer" not in out
    assert any("execute: failed" in e and "cannot connect" in e for e in out["events"])


def test_agent_garbage_abstains(tmp_path: Path, store_url: str) -> None:
    d = deps(tmp_path, store_url)
    d.model_for = lambda role, t=None: FunctionChatModel(respond=lambda m: "uh")
    out = create_route_graph(d).compile().invoke({"task": "Say hello"})
    agent = next(v for v in out["decision"]["votes"] if v["voter"] == "router-agent")
    assert agent["model"] is None and out["decision"]["model"] == "tiny"


@pytest.mark.parametrize(("request_", "message"), [
    ({"task": ""}, "empty"), ({}, "empty"), ({"task": "x" * 20001}, "limit"),
    ({"task": 17}, "must be text, not int"),
    # A string would be read a letter at a time: "not an available model: t, i, n, y".
    ({"task": "Say hi", "models": "tiny"}, r"models must be a list of model names, not str"),
])
def test_bad_requests(tmp_path: Path, request_: dict, message: str, store_url: str) -> None:
    with pytest.raises(RouteInputError, match=message):
        create_route_graph(deps(tmp_path, store_url)).compile().invoke(request_)


def test_nodes_are_plain_functions_callable_alone(tmp_path: Path, store_url: str) -> None:
    from neuroforge.graphs.route import neural, prepare

    d = deps(tmp_path, store_url)
    update = prepare({"task": "What is 17 * 23?"}, d)
    assert [o["name"] for o in update["options"]] == ["tiny", "big"]
    vote = neural({"task": "What is 17 * 23?", "options": update["options"]}, d)["votes"][0]
    assert vote["voter"] == "neural" and vote["model"] == "big"
    with pytest.raises(RouteInputError, match="empty"):
        prepare({"task": "  "}, d)


def test_route_execute_exits_non_zero_when_the_model_fails(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          , store_url: str) -> None:
    from typer.testing import CliRunner

    from neuroforge import wiring
    from neuroforge.cli import app

    down = ModelUnavailableError("tiny", "http://127.0.0.1:9", "cannot connect (refused)")
    broken = deps(tmp_path, store_url, agent_model="tiny", run_reply=lambda m: down)
    monkeypatch.setattr(wiring, "route_deps", lambda settings: broken)
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(app, ["route", "What is 17 * 23?", "--execute", *extra])
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and "cannot connect" in result.output


def test_routing_many_tasks_keeps_file_handles_flat() -> None:
    import os

    from neuroforge.settings import load_settings

    settings = load_settings()
    wiring_options = __import__("neuroforge.wiring", fromlist=["route_options"]).route_options
    wiring_options(settings)  # opens the store once
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(100):
        wiring_options(settings)
    assert len(os.listdir("/proc/self/fd")) <= before + 2
