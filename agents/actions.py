"""The optimizer agent's maintenance side: propose actions from monitor findings, and the
validators' vote on each action.

Proposals come from rules, not from a model: each names its evidence, so a validator
(and a person reading the report) can check it. Validators vote with structured
ballots like they do on prompts; the consensus rules of ``neuroforge.agents.consensus`` decide.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from neuroforge.agents.prompts import ACTION_VOTE_SYSTEM, ACTION_VOTE_USER
from neuroforge.agents.schemas import Ballot, BallotReply
from neuroforge.agents.validator import VoterSpec, contradicts_itself
from neuroforge.models.structured import StructuredOutputError, structured_reply

__all__ = ["ACTION_KINDS", "Action", "Facts", "propose_actions", "vote_on_action"]

ACTION_KINDS = ("retrain_router", "adjust_threshold", "reoptimize_prompt")


@dataclass(frozen=True)
class Facts:
    """What the monitor found that proposals are made from."""

    anomalies: list[dict[str, Any]] = field(default_factory=list)
    new_outcomes: int = 0  # routing outcomes recorded since the router was last retrained
    outcome_models: int = 0  # distinct models among them
    mean_regret: float | None = None
    threshold: float = 0.35
    fallen_prompts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Action:
    """One proposed action: what to do, with which parameters, and why."""

    id: str
    kind: str
    params: dict[str, Any]
    reason: str
    evidence: list[str]

    def describe(self) -> str:
        """A one-line description for ballots and reports."""
        args = ", ".join(f"{k}={v}" for k, v in self.params.items()
                         if k not in ("prompt", "task"))
        target = f" on {self.params['prompt'][:60]!r}" if "prompt" in self.params else ""
        return f"{self.kind}{target}({args})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def propose_actions(facts: Facts, *, min_new_outcomes: int = 20, regret_limit: float = 0.2,
                    threshold_step: float = 0.1) -> list[Action]:
    """Actions the findings justify; ids are positional (A1, A2, ...)."""
    proposals: list[tuple[str, dict[str, Any], str, list[str]]] = []
    quality_alerts = [a["message"] for a in facts.anomalies
                      if a["kind"] in ("quality_drop", "regret_rise")
                      and a["subject"].startswith("model:")]
    if facts.outcome_models >= 2 and (facts.new_outcomes >= min_new_outcomes or (
            quality_alerts and facts.new_outcomes >= min_new_outcomes // 2)):
        proposals.append(("retrain_router", {"new_outcomes": facts.new_outcomes},
                          f"{facts.new_outcomes} routing outcomes recorded since the last "
                          "training", quality_alerts[:3]))
    if facts.mean_regret is not None and facts.mean_regret > regret_limit:
        raised = round(min(0.9, facts.threshold + threshold_step), 2)
        if raised > facts.threshold:
            proposals.append(("adjust_threshold", {"from": facts.threshold, "to": raised},
                              f"mean routing regret {facts.mean_regret:.2f} is above "
                              f"{regret_limit}: trust the neural router less",
                              [f"regret {facts.mean_regret:.2f} over the monitored window"]))
    for fallen in facts.fallen_prompts:
        proposals.append(("reoptimize_prompt",
                          {"prompt": fallen["prompt"], "task": fallen.get("task")},
                          f"score fell from {fallen['best']:.2f} to {fallen['latest']:.2f}",
                          [f"run {fallen['run_id']} scored {fallen['latest']:.2f}"]))
    return [Action(f"A{i + 1}", kind, params, reason, evidence)
            for i, (kind, params, reason, evidence) in enumerate(proposals)]


def vote_on_action(model: BaseChatModel, voter: VoterSpec, action: Action,
                   attempts: int = 3) -> tuple[Ballot, int]:
    """The voter's ballot on one action, and the calls it took (invalid ballots abstain)."""
    messages = [SystemMessage(ACTION_VOTE_SYSTEM.format(persona=voter.persona)),
                HumanMessage(ACTION_VOTE_USER.format(
                    action=action.describe(), reason=action.reason,
                    evidence="\n".join(f"- {e}" for e in action.evidence) or "- (none)"))]
    base = {"voter": voter.name, "candidate_id": action.id}
    try:
        reply = structured_reply(model, messages, BallotReply, max_attempts=attempts)
    except StructuredOutputError as exc:
        return Ballot(**base, decision="abstain", valid=False,
                      rationale=f"invalid ballot: {exc.error}"), exc.attempts
    contradiction = contradicts_itself(reply.value.decision, reply.value.score)
    if contradiction:
        return Ballot(**base, decision="abstain", score=float(reply.value.score), valid=False,
                      rationale=f"invalid ballot: {contradiction}"), reply.attempts
    return Ballot(**base, decision=reply.value.decision, score=float(reply.value.score),
                  rationale=reply.value.rationale), reply.attempts

