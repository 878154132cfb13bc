"""Analyst: studies the prompt from one perspective and reports a structured finding."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from neuroforge.agents.prompts import ANALYST_SYSTEM, ANALYST_USER, PERSPECTIVES, quote_prompt
from neuroforge.agents.schemas import Finding, FindingReply
from neuroforge.models.structured import structured_reply

__all__ = ["analyse_perspective"]


def analyse_perspective(
    model: BaseChatModel, prompt: str, perspective: str, finding_id: str, *, attempts: int = 3
) -> tuple[Finding, int]:
    """One finding about ``prompt`` from ``perspective``, and the model calls it took.

    Raises ``StructuredOutputError`` / ``ModelError`` for the caller to handle.
    """
    if perspective not in PERSPECTIVES:
        raise ValueError(f"unknown perspective {perspective!r}; known: {', '.join(PERSPECTIVES)}")
    messages = [
        SystemMessage(ANALYST_SYSTEM.format(perspective=perspective,
                                            question=PERSPECTIVES[perspective])),
        HumanMessage(ANALYST_USER.format(perspective=perspective, quoted=quote_prompt(prompt))),
    ]
    reply = structured_reply(model, messages, FindingReply, max_attempts=attempts)
    finding = Finding(id=finding_id, perspective=perspective, **reply.value.model_dump())
    return finding, reply.attempts
