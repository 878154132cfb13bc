"""The autopilot graph on scripted validators: proposals, votes, apply, dry run, rollback."""

import json
from datetime import timedelta
from pathlib import Path

import pytest

from neuroforge.graphs.autopilot import ActionHandler, AutopilotDeps, create_autopilot_graph
from neuroforge.graphs.autopilot_handlers import rollback_action
from neuroforge.knowledge.db import Database, open_database
from neuroforge.knowledge.overrides import router_threshold
from neuroforge.knowledge.schema import (
    AutopilotAction,
    RoutingDecision,
    RoutingOutcome,
    Run,
    utcnow,
)
from neuroforge.settings import load_settings
from neuroforge.wiring import autopilot_deps, overrides_path
from tests.fakes import FunctionChatModel


def voters(decision: str):
    reply = json.dumps({"score": 8 if decision == "accept" else 2, "decision": decision,
                        "rationale": "checked the evidence"})
    fake = FunctionChatModel(respond=lambda messages: reply)
    return lambda role, temperature=None: fake


def recording_handler(calls: list, fail: bool = False) -> ActionHandler:
    def apply(params):
        calls.append(params)
        if fail:
            raise RuntimeError("disk full")
        return {"was": 1}, {"now": 2}
    return ActionHandler(apply, lambda before, after: {"restored": before})


def seed_outcomes(db: Database, n: int = 30) -> None:
    """Outcomes on two models where the router often chose the worse one (high regret)."""
    with db.session() as session:
        for i in range(n):
            task = f"task {i}"
            decision = RoutingDecision(task=task, chosen_model="tiny", method="neural")
            session.add(decision)
            session.flush()
            session.add(RoutingOutcome(decision_id=decision.id, task=task, model="tiny",
                                       quality=0.3, latency_ms=100))
            session.add(RoutingOutcome(task=task, model="big", quality=0.9, latency_ms=900))


def deps(db: Database, decision: str = "accept", **handlers) -> AutopilotDeps:
    return AutopilotDeps(store=db, model_for=voters(decision), handlers=handlers,
                         threshold=lambda: 0.35)


@pytest.fixture
def db(tmp_path: Path, store_url: str) -> Database:
    return open_database(store_url)


def test_findings_become_voted_applied_and_reported_actions(db: Database) -> None:
    seed_outcomes(db)
    retrain, threshold = [], []
    graph = create_autopilot_graph(deps(db, retrain_router=recording_handler(retrain),
                                        adjust_threshold=recording_handler(threshold)))
    report = graph.compile().invoke({})["report"]
    kinds = {a["kind"]: a for a in report["proposed"]}
    assert set(kinds) == {"retrain_router", "adjust_threshold"}
    assert kinds["adjust_threshold"]["params"] == {"from": 0.35, "to": 0.45}
    assert retrain == [{"new_outcomes": 60}] and threshold == [{"from": 0.35, "to": 0.45}]
    assert all(len(d["votes"]) == 3 and d["approved"] for d in report["voted"].values())
    with db.session() as session:
        rows = {a.kind: a for a in session.query(AutopilotAction)}
        assert {r.status for r in rows.values()} == {"applied"}
        assert rows["adjust_threshold"].before == {"was": 1}
        run = session.get(Run, report["run_id"])
        assert run.graph == "autopilot" and run.outputs["applied"] == report["applied"]
    # Applied retraining resets the count: the next run has nothing new to retrain on.
    again = create_autopilot_graph(deps(db, retrain_router=recording_handler(retrain),
                                        adjust_threshold=recording_handler(threshold)))
    kinds = {a["kind"] for a in again.compile().invoke({})["report"]["proposed"]}
    assert "retrain_router" not in kinds


def test_dry_run_and_rejection_apply_nothing(db: Database) -> None:
    seed_outcomes(db)
    calls: list = []
    handlers = {"retrain_router": recording_handler(calls),
                "adjust_threshold": recording_handler(calls)}
    dry = create_autopilot_graph(deps(db, **handlers)).compile().invoke({"dry_run": True})
    assert dry["report"]["dry_run"] and dry["report"]["applied"] == [] and calls == []
    rejected = create_autopilot_graph(deps(db, "reject", **handlers)).compile().invoke({})
    assert not any(d["approved"] for d in rejected["report"]["voted"].values())
    assert calls == []
    with db.session() as session:
        statuses = sorted(a.status for a in session.query(AutopilotAction))
    assert statuses == ["approved", "approved", "rejected", "rejected"]


def test_a_failing_action_is_recorded_and_the_rest_still_apply(db: Database) -> None:
    seed_outcomes(db)
    ok: list = []
    graph = create_autopilot_graph(deps(db, retrain_router=recording_handler([], fail=True),
                                        adjust_threshold=recording_handler(ok)))
    report = graph.compile().invoke({})["report"]
    assert ok and [a["kind"] for a in report["applied"]] == ["adjust_threshold"]
    assert any("disk full" in e for e in report["errors"])
    with db.session() as session:
        failed = session.query(AutopilotAction).filter_by(kind="retrain_router").one()
        assert failed.status == "failed" and failed.after == {"error": "disk full"}


def test_a_fallen_prompt_is_proposed_for_reoptimization(db: Database) -> None:
    with db.session() as session:
        for i, score in enumerate([0.8, 0.5]):
            session.add(Run(graph="optimize", status="succeeded",
                            started_at=utcnow() - timedelta(hours=2 - i),
                            outputs={"original": "Sum the numbers.", "optimized_score": score,
                                     "score_kind": "dev accuracy", "options": {"task": "t"}}))
    calls: list = []
    report = create_autopilot_graph(deps(db, reoptimize_prompt=recording_handler(calls))
                                    ).compile().invoke({})["report"]
    [action] = report["proposed"]
    assert action["kind"] == "reoptimize_prompt" and "0.80 to 0.50" in action["reason"]
    assert calls == [{"prompt": "Sum the numbers.", "task": "t"}]


def test_threshold_action_really_changes_the_router_and_rolls_back(tmp_path: Path) -> None:
    settings = load_settings()
    real = autopilot_deps(settings)
    seed_outcomes(real.store)
    real.model_for = voters("accept")
    report = create_autopilot_graph(real).compile().invoke({})["report"]
    applied = {a["kind"]: a["id"] for a in report["applied"]}
    overrides = overrides_path(settings)
    assert router_threshold(overrides) == 0.45

    result = rollback_action(real.store, real.handlers, applied["adjust_threshold"])
    assert result["rolled_back"] == {"threshold": 0.35} and router_threshold(overrides) == 0.35
    with pytest.raises(ValueError, match="only applied actions"):
        rollback_action(real.store, real.handlers, applied["adjust_threshold"])
    with pytest.raises(LookupError, match="no autopilot action"):
        rollback_action(real.store, real.handlers, "nope")


def test_garbage_ballots_abstain_and_nothing_is_applied(db: Database) -> None:
    seed_outcomes(db)
    calls: list = []
    garbage = FunctionChatModel(respond=lambda messages: "I think so")
    d = deps(db, retrain_router=recording_handler(calls),
             adjust_threshold=recording_handler(calls))
    d.model_for = lambda role, temperature=None: garbage
    report = create_autopilot_graph(d).compile().invoke({})["report"]
    assert calls == [] and report["applied"] == []
    votes = [v for d in report["voted"].values() for v in d["votes"]]
    assert votes and all(v["decision"] == "abstain" and not v["valid"] for v in votes)
