"""Validators: voters that score each candidate and vote accept or reject, with reasons."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from neuroforge.agents.prompts import (
    DEBATE_CONTEXT,
    VALIDATOR_SYSTEM,
    VALIDATOR_USER,
    VOTER_PERSONAS,
    quote_prompt,
)
from neuroforge.agents.quoting import echoes_steering, steering
from neuroforge.agents.schemas import Ballot, BallotReply
from neuroforge.models.backends import ModelError
from neuroforge.models.structured import StructuredOutputError, structured_reply

__all__ = ["VoterSpec", "cast_ballot", "contradicts_itself", "make_voters"]


@dataclass(frozen=True)
class VoterSpec:
    """A voter: its name (stable across runs, for reliability), persona, model and temperature."""

    name: str
    persona: str
    temperature: float
    model: str | None = None


def make_voters(count: int, models: list[str | None] | None = None) -> list[VoterSpec]:
    """``count`` voters differing by persona and temperature (and model, when given)."""
    if count < 1:
        raise ValueError("at least one voter is needed")
    models = models or [None]
    return [
        VoterSpec(
            name=f"validator-{i + 1}",
            persona=VOTER_PERSONAS[i % len(VOTER_PERSONAS)],
            temperature=round(0.2 + 0.25 * (i % 4), 2),
            model=models[i % len(models)],
        )
        for i in range(count)
    ]


def cast_ballot(
    model: BaseChatModel,
    voter: VoterSpec,
    original: str,
    candidate_id: str,
    candidate: str,
    *,
    evidence: str = "",
    debate: str = "",
    round_number: int = 0,
    generation: int = 0,
    attempts: int = 3,
) -> tuple[Ballot, int]:
    """The voter's ballot on one candidate, and the calls it took.

    A voter that cannot produce a valid ballot casts an invalid one (counted, not
    used); a model that is down raises ``ModelError`` for the caller.
    """
    base = {"voter": voter.name, "candidate_id": candidate_id, "round": round_number,
            "generation": generation}
    aimed = steering(candidate)
    if aimed:  # never shown to a model that might obey it
        return Ballot(**base, decision="reject", score=0.0,
                      rationale=f"the candidate carries instructions aimed at its judge "
                                f"({'; '.join(aimed)})"), 0
    messages = [
        SystemMessage(VALIDATOR_SYSTEM.format(persona=voter.persona)),
        HumanMessage(VALIDATOR_USER.format(
            original=quote_prompt(original), candidate=quote_prompt(candidate),
            evidence=f"\n{evidence}\n" if evidence else "",
            debate=DEBATE_CONTEXT.format(rationales=debate) if debate else "",
        )),
    ]
    try:
        reply = structured_reply(model, messages, BallotReply, max_attempts=attempts)
    except StructuredOutputError as exc:
        return Ballot(**base, decision="abstain", valid=False,
                      rationale=f"invalid ballot: {exc.error}"), exc.attempts
    except ModelError:
        raise
    value = reply.value
    if echoes_steering(value.rationale, original):
        return Ballot(**base, decision="abstain", score=float(value.score), valid=False,
                      rationale="invalid ballot: it repeats what the prompt told its judge "
                                "to say"), reply.attempts
    contradiction = contradicts_itself(value.decision, value.score)
    if contradiction:
        return Ballot(**base, decision="abstain", score=float(value.score), valid=False,
                      rationale=f"invalid ballot: {contradiction}"), reply.attempts
    return Ballot(**base, decision=value.decision, score=float(value.score),
                  rationale=value.rationale), reply.attempts


def contradicts_itself(decision: str, score: float) -> str | None:
    """Why a ballot's decision and score disagree ("accept" scored 2, "reject" scored 10).

    Small models often emit both fields independently; counting such a ballot would let
    noise decide. The margin (<= 3 / >= 7 of 10) leaves borderline scores to the voter.
    """
    if decision == "accept" and score <= 3:
        return f"accept with a score of {score:g}/10 contradicts itself"
    if decision == "reject" and score >= 7:
        return f"reject with a score of {score:g}/10 contradicts itself"
    return None
