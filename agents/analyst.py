"""Analyst: studies the prompt from one perspective and reports a structured finding."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from neuroforge.agents.prompts import (
    ANALYST_FAILURES,
    ANALYST_SYSTEM,
    ANALYST_USER,
    PERSPECTIVES,
    quote_prompt,
)
from neuroforge.agents.schemas import Finding, FindingReply
from neuroforge.models.structured import structured_reply

__all__ = ["analyse_perspective"]


def analyse_perspective(
    model: BaseChatModel, prompt: str, perspective: str, finding_id: str, *, attempts: int = 3,
    failures: Sequence[str] = (),
) -> tuple[Finding, int]:
    """One finding about ``prompt`` from ``perspective``, and the model calls it took.

    ``failures`` (the target's mistakes on training examples) ground the finding in
    what the prompt makes the model do.

    Raises ``StructuredOutputError`` / ``ModelError`` for the caller to handle.
    """
    if perspective not in PERSPECTIVES:
        raise ValueError(f"unknown perspective {perspective!r}; known: {', '.join(PERSPECTIVES)}")
    messages = [
        SystemMessage(ANALYST_SYSTEM.format(perspective=perspective,
                                            question=PERSPECTIVES[perspective])),
        HumanMessage(ANALYST_USER.format(perspective=perspective, quoted=quote_prompt(prompt))
                     + (ANALYST_FAILURES.format(failures="\n".join(f"- {f}" for f in failures))
                        if failures else "")),
    ]
    reply = structured_reply(model, messages, FindingReply, max_attempts=attempts)
    finding = Finding(id=finding_id, perspective=perspective, **reply.value.model_dump())
    return finding, reply.attempts
