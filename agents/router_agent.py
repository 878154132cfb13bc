"""Router agent: reasons over the task and the registry's model profiles, votes for a model."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field, create_model

from neuroforge.agents.prompts import EXECUTION_JUDGE, ROUTER_SYSTEM, ROUTER_USER
from neuroforge.agents.quoting import quote, steering
from neuroforge.models.structured import structured_reply

__all__ = ["ExecutionScore", "judge_answer", "router_vote"]


class ExecutionScore(BaseModel):
    """A judge's score of an executed answer."""

    score: int = Field(ge=0, le=10, description="0 useless to 10 complete and correct")


def _choice_schema(names: list[str]) -> type[BaseModel]:
    # The choice is an enum of the available models, so a grammar keeps the model honest.
    return create_model(
        "RouterChoice",
        model=(Literal[tuple(names)], Field(description="the chosen model's name")),  # type: ignore[valid-type,arg-type]
        confidence=(float, Field(ge=0, le=1, description="how sure, 0 to 1")),
        rationale=(str, Field(max_length=200, description="one sentence why")),
    )


def router_vote(model: BaseChatModel, task: str, profiles: list[dict[str, Any]],
                *, attempts: int = 3) -> dict[str, Any]:
    """The agent's pick among ``profiles`` (dicts with name, size, latency...), as a vote dict.

    Raises ``StructuredOutputError`` / ``ModelError`` for the caller.
    """
    names = [p["name"] for p in profiles]
    lines = "\n".join(
        f"- {p['name']}: {p.get('parameters_label') or 'size unknown'}, "
        f"p50 latency {p.get('latency_p50_ms') or '?'} ms, "
        f"valid JSON {p.get('structured_valid_rate', '?')}" for p in profiles)
    reply = structured_reply(
        model,
        [SystemMessage(ROUTER_SYSTEM),
         HumanMessage(ROUTER_USER.format(task=quote(task[:2000], "task"), models=lines))],
        _choice_schema(names), max_attempts=attempts,
    )
    value = reply.value
    return {"voter": "router-agent", "model": value.model,  # type: ignore[attr-defined]
            "confidence": float(value.confidence),  # type: ignore[attr-defined]
            "rationale": value.rationale, "calls": reply.attempts}  # type: ignore[attr-defined]


def judge_answer(model: BaseChatModel, task: str, answer: str, *, attempts: int = 3) -> float:
    """Quality of an executed answer in [0, 1], judged by ``model``.

    An answer that tells its judge what to score (and the task did not ask for that
    text) gets 0 without a call: judged quality trains the router, so an answer must
    not be able to grade itself.
    """
    aimed = [reason for reason in steering(answer) if reason not in steering(task)]
    if aimed:
        return 0.0
    reply = structured_reply(
        model, [HumanMessage(EXECUTION_JUDGE.format(task=quote(task[:2000], "task"),
                                                    answer=quote(answer[:2000], "answer")))],
        ExecutionScore, max_attempts=attempts)
    return reply.value.score / 10
