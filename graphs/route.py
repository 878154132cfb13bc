"""The routing graph: three voters (neural router tool, router agent, memory of similar
past outcomes) cast weighted votes; the consensus rules decide; the decision is explained
and recorded; with ``execute`` the task runs on the chosen model and the judged outcome is
recorded for learning.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph

from neuroforge.agents.consensus import make_rule
from neuroforge.agents.router_agent import judge_answer, router_vote
from neuroforge.agents.schemas import Ballot
from neuroforge.graphs.state import RouteInput, RouteOutput, RouteState
from neuroforge.knowledge.db import Database
from neuroforge.knowledge.schema import RoutingDecision, RoutingOutcome
from neuroforge.memory.long_term import LongTermMemory, MemoryError_
from neuroforge.memory.outcome_recall import recall_outcomes, remember_outcome
from neuroforge.models.backends import ModelError, invoke_model
from neuroforge.models.structured import StructuredOutputError
from neuroforge.tools.router.router import ModelOption, Router
from neuroforge.tools.router.tool import make_route_task_tool

__all__ = ["MAX_TASK_CHARS", "RouteDeps", "RouteInputError", "create_route_graph"]

MAX_TASK_CHARS = 20_000
DEFAULT_WEIGHTS = {"neural": 1.0, "memory": 0.8, "router-agent": 0.6}


class RouteInputError(ValueError):
    """The task cannot be routed; the message says why."""


@dataclass
class RouteDeps:
    """Models, options, the router and the store the routing graph uses."""

    model_for: Callable[[str, float | None], BaseChatModel]
    run_model: Callable[[str], BaseChatModel]
    options: Callable[[], list[dict[str, Any]]]
    router: Router
    store: Database | None = None
    memory: LongTermMemory | None = None
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    vote_rule: str = "majority"
    attempts: int = 3


def _options(state: RouteState) -> list[ModelOption]:
    return [ModelOption(o["name"], o.get("cost", 0.5), o.get("parameters"))
            for o in state["options"]]


def _abstain(voter: str, why: str) -> dict[str, Any]:
    return {"voter": voter, "model": None, "confidence": 0.0, "rationale": why}


def prepare(state: RouteState, deps: RouteDeps) -> dict[str, Any]:
    task = state.get("task")
    if task is not None and not isinstance(task, str):
        raise RouteInputError(f"the task must be text, not {type(task).__name__}")
    if not task or not task.strip():
        raise RouteInputError("the task is empty; give the text of the task to route")
    if len(task) > MAX_TASK_CHARS:
        raise RouteInputError(f"the task has {len(task)} characters; the limit is "
                              f"{MAX_TASK_CHARS}")
    options = deps.options()
    if not options:
        raise RouteInputError("no models are available; see `neuroforge models list`")
    wanted = state.get("models")
    if wanted is not None and not isinstance(wanted, list | tuple):
        # A string would be read a letter at a time.
        raise RouteInputError(f"models must be a list of model names, not "
                              f"{type(wanted).__name__}: e.g. [{options[0]['name']!r}]")
    if wanted is not None and not wanted:  # given, but naming nothing (",," or "")
        raise RouteInputError("the model list names no model; give comma-separated names, "
                              f"e.g. {options[0]['name']}")
    if wanted:
        missing = [m for m in wanted if m not in {o["name"] for o in options}]
        if missing:
            raise RouteInputError(f"not an available model: {', '.join(missing)}; available: "
                                  f"{', '.join(o['name'] for o in options)}")
        options = [o for o in options if o["name"] in wanted]
    return {"options": options, "events": [f"options: {', '.join(o['name'] for o in options)}"]}


def neural(state: RouteState, deps: RouteDeps) -> dict[str, Any]:
    tool = make_route_task_tool(deps.router, lambda: _options(state),
                                state.get("cost_weight", 0.0))
    reply = json.loads(tool.invoke({"task": state["task"]}))
    vote = {"voter": "neural", "model": reply["model"], "confidence": reply["confidence"],
            "rationale": f"{reply['method']}: {reply['reason']}", "scores": reply["scores"],
            "method": reply["method"]}
    return {"votes": [vote], "events": [f"neural: {vote['model']} ({vote['rationale']})"]}


def agent(state: RouteState, deps: RouteDeps) -> dict[str, Any]:
    try:
        vote = router_vote(deps.model_for("router", None), state["task"], state["options"],
                           attempts=deps.attempts)
    except (StructuredOutputError, ModelError) as exc:
        vote = _abstain("router-agent", f"abstained: {exc}")
    return {"votes": [vote], "events": [f"router-agent: {vote['model'] or 'abstained'}"]}


def memory(state: RouteState, deps: RouteDeps) -> dict[str, Any]:
    if deps.memory is None:
        vote = _abstain("memory", "no long-term memory")
    else:
        try:
            recalled = recall_outcomes(deps.memory, state["task"])
        except MemoryError_ as exc:
            recalled, vote = [], _abstain("memory", f"recall failed: {exc}")
        vote = _memory_vote(recalled, {o["name"] for o in state["options"]})
    return {"votes": [vote], "events": [f"memory: {vote['model'] or 'abstained'} "
                                        f"({vote['rationale']})"]}


def decide(state: RouteState, deps: RouteDeps) -> dict[str, Any]:
    decision = _decide(deps, state)
    if deps.store is not None:
        with deps.store.session() as session:
            row = RoutingDecision(task=state["task"], chosen_model=decision["model"],
                                  method=decision["method"],
                                  confidence=decision["confidence"],
                                  scores=decision["scores"], explanation=decision["reason"])
            session.add(row)
            session.flush()
            decision["id"] = row.id
    return {"decision": decision, "events": [f"decision: {decision['model']} "
                                             f"({decision['reason']})"]}


def execute(state: RouteState, deps: RouteDeps) -> dict[str, Any]:
    return _execute(deps, state)


def after_decide(state: RouteState) -> Literal["execute", "__end__"]:
    return "execute" if state.get("execute") else "__end__"


def create_route_graph(deps: RouteDeps) -> StateGraph:
    """The route graph, uncompiled."""
    graph = StateGraph(RouteState, input_schema=RouteInput, output_schema=RouteOutput)
    for node in (prepare, neural, agent, memory, decide, execute):
        graph.add_node(node.__name__, partial(node, deps=deps))
    graph.add_edge(START, "prepare")
    for voter in ("neural", "agent", "memory"):
        graph.add_edge("prepare", voter)
    graph.add_edge(["neural", "agent", "memory"], "decide")
    graph.add_conditional_edges("decide", after_decide, ["execute", END])
    graph.add_edge("execute", END)
    return graph


def _memory_vote(recalled: list[Any], available: set[str]) -> dict[str, Any]:
    """The model with the best similarity-weighted past quality among available ones."""
    totals: dict[str, list[float]] = {}
    for outcome in recalled:
        if outcome.model in available:
            weighted = totals.setdefault(outcome.model, [0.0, 0.0])
            weighted[0] += outcome.similarity * outcome.quality
            weighted[1] += outcome.similarity
    if not totals:
        return _abstain("memory", "no similar past outcomes")
    means = {m: s / w for m, (s, w) in totals.items()}
    best = max(means, key=lambda m: means[m])
    support = sum(1 for o in recalled if o.model == best)
    return {"voter": "memory", "model": best, "confidence": round(means[best], 4),
            "rationale": f"mean quality {means[best]:.2f} over {support} similar past task(s)"}


def _decide(deps: RouteDeps, state: RouteState) -> dict[str, Any]:
    """Each voter accepts its pick and rejects the rest; abstainers cast abstentions."""
    names = [o["name"] for o in state["options"]]
    ballots = []
    for vote in state.get("votes", []):
        for name in names:
            if vote["model"] is None:
                decision = "abstain"
            else:
                decision = "accept" if name == vote["model"] else "reject"
            ballots.append(Ballot(voter=vote["voter"], candidate_id=name, decision=decision,
                                  score=10 * vote["confidence"] if name == vote["model"] else 0,
                                  rationale=vote["rationale"]))
    outcome = make_rule(deps.vote_rule).decide(ballots, names, deps.weights)
    neural = next((v for v in state.get("votes", []) if v["voter"] == "neural"), None)
    chosen = outcome.winner or (neural["model"] if neural else names[0])
    backers = [v["voter"] for v in state.get("votes", []) if v["model"] == chosen]
    reason = (f"{'consensus' if outcome.reached else 'plurality'} of weighted votes "
              f"({', '.join(backers) or 'none'}; agreement {outcome.agreement:.2f})")
    return {"model": chosen, "method": "consensus" if outcome.reached else "plurality",
            "confidence": outcome.agreement, "reason": reason,
            "scores": neural["scores"] if neural else {}, "votes": state.get("votes", []),
            "tally": outcome.tally}


def _execute(deps: RouteDeps, state: RouteState) -> dict[str, Any]:
    """Run the task on the chosen model, judge the answer, record the outcome."""
    decision = state["decision"]
    started = time.perf_counter()
    try:
        answer = invoke_model(deps.run_model(decision["model"]),
                              [HumanMessage(state["task"])]).text
    except ModelError as exc:
        return {"errors": [str(exc)], "events": [f"execute: failed ({exc})"]}
    latency_ms = (time.perf_counter() - started) * 1000
    try:
        quality: float | None = judge_answer(deps.model_for("validator", 0.0), state["task"],
                                             answer, attempts=deps.attempts)
    except (StructuredOutputError, ModelError) as exc:
        quality = None
        judge_error = str(exc)
    outcome = {"model": decision["model"], "quality": quality, "latency_ms": round(latency_ms)}
    if quality is not None and deps.store is not None:
        with deps.store.session() as session:
            session.add(RoutingOutcome(decision_id=decision.get("id"), task=state["task"],
                                       model=decision["model"], quality=quality,
                                       latency_ms=latency_ms, source="execute"))
    if quality is not None and deps.memory is not None:
        remember_outcome(deps.memory, state["task"], decision["model"], quality, latency_ms)
    events = [f"execute: {decision['model']} answered in {latency_ms:.0f} ms; judged "
              + (f"{quality:.1f}" if quality is not None else f"unjudged ({judge_error})")]
    return {"answer": answer, "outcome": outcome, "events": events}
