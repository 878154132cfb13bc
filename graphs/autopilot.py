"""The autopilot graph: monitor -> propose -> vote (one branch per validator) -> tally ->
apply -> report.

The monitor reads the store's metric windows, stores deduplicated alerts and gathers
the facts proposals need; the optimizer agent proposes actions from them; validators
vote on each action and the consensus rules decide; approved actions are applied
(unless ``dry_run``) by pluggable handlers that return what rollback needs. Every
run writes its report (seen, proposed, voted, applied) to the store.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Annotated, Any, NotRequired

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send
from typing_extensions import TypedDict

from neuroforge.agents.actions import Action, Facts, propose_actions, vote_on_action
from neuroforge.agents.consensus import make_rule
from neuroforge.agents.schemas import Ballot
from neuroforge.agents.validator import VoterSpec, make_voters
from neuroforge.analysis.anomalies import detect, store_alerts
from neuroforge.analysis.metrics import collect_series
from neuroforge.knowledge import actions as action_store
from neuroforge.knowledge import records
from neuroforge.knowledge.db import Database
from neuroforge.knowledge.schema import new_id
from neuroforge.models.backends import ModelError

__all__ = ["ActionHandler", "AutopilotDeps", "AutopilotInput", "AutopilotInputError",
           "create_autopilot_graph"]


@dataclass(frozen=True)
class ActionHandler:
    """Applies one kind of action and undoes it.

    ``apply(params) -> (before, after)``: ``before`` is what ``rollback(before, after)``
    needs to restore the previous state; ``after`` describes the result.
    """

    apply: Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]
    rollback: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


@dataclass
class AutopilotDeps:
    """The store, validator models, action handlers and the monitor's knobs."""

    store: Database
    model_for: Callable[[str, float | None], BaseChatModel]
    handlers: dict[str, ActionHandler]
    threshold: Callable[[], float] = lambda: 0.35
    voters: int = 3
    vote_rule: str = "majority"
    min_agreement: float = 0.5
    attempts: int = 3
    days: float = 7.0
    window_minutes: float = 60.0
    min_new_outcomes: int = 20


class AutopilotInput(TypedDict):
    """What a caller (CLI, scheduler, server cron) gives one run."""

    dry_run: NotRequired[bool]
    run_id: NotRequired[str]
    scheduled_for: NotRequired[str]


class AutopilotState(AutopilotInput):
    """One run's internal state."""

    facts: NotRequired[dict[str, Any]]
    alerts: NotRequired[dict[str, int]]
    actions: NotRequired[list[dict[str, Any]]]
    ballots: Annotated[list[dict[str, Any]], operator.add]
    decisions: NotRequired[dict[str, dict[str, Any]]]
    applied: NotRequired[list[dict[str, Any]]]
    errors: Annotated[list[str], operator.add]
    report: NotRequired[dict[str, Any]]


class VoteOnActions(TypedDict):
    """Payload of one validator branch."""

    voter: dict[str, Any]
    actions: list[dict[str, Any]]


def _facts(deps: AutopilotDeps, run_id: str, inputs: dict[str, Any]
           ) -> tuple[Facts, dict[str, int], list[str]]:
    with deps.store.session() as session:
        series = collect_series(session, days=deps.days, window_minutes=deps.window_minutes)
        anomalies = detect(series)
        counts = store_alerts(session, anomalies, [s.subject for s in series])
        new, models = action_store.outcomes_since(
            session, action_store.last_applied(session, "retrain_router"))
        regrets = [s.latest()["regret"] for s in series if "regret" in s.latest()]
        fallen = action_store.fallen_prompts(session)
        records.start_run(session, "autopilot", inputs, run_id)
    facts = Facts(anomalies=[a.as_dict() for a in anomalies], new_outcomes=new,
                  outcome_models=models,
                  mean_regret=sum(regrets) / len(regrets) if regrets else None,
                  threshold=deps.threshold(), fallen_prompts=fallen)
    return facts, counts, [s.subject for s in series]


class AutopilotInputError(ValueError):
    """A run's input has the wrong type (say ``dry_run: "false"``, which would be true)."""


def _check_input(state: AutopilotInput) -> None:
    if not isinstance(state.get("dry_run", False), bool):
        raise AutopilotInputError("dry_run must be true or false, not "
                                  f"{state.get('dry_run')!r}")
    for key in ("run_id", "scheduled_for"):
        if not isinstance(state.get(key, ""), str):
            raise AutopilotInputError(f"{key} must be text, not "
                                      f"{type(state.get(key)).__name__}")


def monitor(state: AutopilotState, deps: AutopilotDeps) -> dict[str, Any]:
    _check_input(state)
    run_id = state.get("run_id") or new_id()
    inputs = {k: v for k, v in state.items() if k in ("dry_run", "scheduled_for")}
    facts, counts, subjects = _facts(deps, run_id, inputs)
    return {"run_id": run_id, "facts": asdict(facts) | {"subjects": subjects},
            "alerts": counts}


def propose(state: AutopilotState, deps: AutopilotDeps) -> Command[Any]:
    facts = Facts(**{k: v for k, v in state["facts"].items() if k != "subjects"})
    actions = [a.as_dict() for a in propose_actions(
        facts, min_new_outcomes=deps.min_new_outcomes)]
    if not actions:
        return Command(update={"actions": []}, goto="report")
    return Command(update={"actions": actions}, goto=[
        Send("vote", VoteOnActions(voter=asdict(v), actions=actions))
        for v in make_voters(deps.voters)])


def vote(task: VoteOnActions, deps: AutopilotDeps) -> dict[str, Any]:
    voter = VoterSpec(**task["voter"])
    ballots: list[dict[str, Any]] = []
    try:
        model = deps.model_for("validator", voter.temperature)
        for action in task["actions"]:
            ballot, _calls = vote_on_action(model, voter, Action(**action), deps.attempts)
            ballots.append(ballot.model_dump())
    except ModelError as exc:
        return {"ballots": ballots, "errors": [f"{voter.name}: {exc}"]}
    return {"ballots": ballots}


def tally(state: AutopilotState, deps: AutopilotDeps) -> dict[str, Any]:
    ids = [a["id"] for a in state["actions"]]
    ballots = [Ballot.model_validate(b) for b in state.get("ballots", [])]
    outcome = make_rule(deps.vote_rule, deps.min_agreement).decide(ballots, ids, None)
    decisions, stored = {}, []
    with deps.store.session() as session:
        for action in state["actions"]:
            approved = action["id"] in outcome.accepted
            mine = [b.model_dump() for b in ballots if b.candidate_id == action["id"]]
            unique = {**action, "id": f"{state['run_id']}-{action['id']}"}
            action_store.record_action(session, state["run_id"], unique,
                                       "approved" if approved else "rejected", mine)
            decisions[unique["id"]] = {"approved": approved, "votes": mine}
            stored.append(unique)
    return {"actions": stored, "decisions": decisions}


def apply(state: AutopilotState, deps: AutopilotDeps) -> dict[str, Any]:
    if state.get("dry_run"):
        return {"applied": []}
    return _apply(deps, state)


def report(state: AutopilotState, deps: AutopilotDeps) -> dict[str, Any]:
    return {"report": _report(deps, state)}


def create_autopilot_graph(deps: AutopilotDeps) -> StateGraph:
    """The autopilot graph, uncompiled."""
    graph = StateGraph(AutopilotState, input_schema=AutopilotInput)
    graph.add_node("monitor", partial(monitor, deps=deps))
    graph.add_node("propose", partial(propose, deps=deps), destinations=("vote", "report"))
    graph.add_node("vote", partial(vote, deps=deps), input_schema=VoteOnActions)  # type: ignore[arg-type]
    graph.add_sequence([(node.__name__, partial(node, deps=deps))
                        for node in (tally, apply, report)])
    graph.add_edge(START, "monitor")
    graph.add_edge("monitor", "propose")
    graph.add_edge("vote", "tally")
    graph.add_edge("report", END)
    return graph


def _apply(deps: AutopilotDeps, state: AutopilotState) -> dict[str, Any]:
    """Apply approved actions one by one; a failure is recorded and the rest go on."""
    applied, errors = [], []
    for action in state["actions"]:
        if not state["decisions"][action["id"]]["approved"]:
            continue
        handler = deps.handlers.get(action["kind"])
        try:
            if handler is None:
                raise LookupError(f"no handler for {action['kind']}")
            before, after = handler.apply(action["params"])
        except Exception as exc:  # an action's failure must not lose the run's report
            message = f"{action['id']} {action['kind']} failed: {exc}"
            errors.append(message)
            with deps.store.session() as session:
                action_store.set_status(session, action["id"], "failed",
                                        after={"error": str(exc)})
            continue
        with deps.store.session() as session:
            action_store.set_status(session, action["id"], "applied", before=before,
                                    after=after)
        applied.append({"id": action["id"], "kind": action["kind"], "after": after})
    return {"applied": applied, "errors": errors}


def _report(deps: AutopilotDeps, state: AutopilotState) -> dict[str, Any]:
    facts = state.get("facts", {})
    report = {
        "run_id": state["run_id"], "dry_run": bool(state.get("dry_run")),
        "seen": {"subjects": len(facts.get("subjects", [])),
                 "anomalies": facts.get("anomalies", []), "alerts": state.get("alerts", {}),
                 "new_outcomes": facts.get("new_outcomes"),
                 "mean_regret": facts.get("mean_regret"),
                 "fallen_prompts": len(facts.get("fallen_prompts", []))},
        "proposed": state.get("actions", []),
        "voted": state.get("decisions", {}),
        "applied": state.get("applied", []),
        "errors": state.get("errors", []),
    }
    with deps.store.session() as session:
        records.finish_run(session, state["run_id"],
                           status="failed" if report["errors"] else "succeeded",
                           outputs=report, calls_used=len(state.get("ballots", [])))
    return report
