"""The chat agent: builds the answer's context and folds old turns into a summary."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from neuroforge.agents.prompts import CHAT_MEMORIES, CHAT_SUMMARIZE, CHAT_SUMMARY, CHAT_SYSTEM
from neuroforge.memory.buffer import extractive_summary
from neuroforge.models.backends import ModelError, invoke_model

__all__ = ["answer_context", "second_person", "summarize_turns"]

MAX_SUMMARY_CHARS = 1200
_PERSON = {"i": "you", "i'm": "you're", "me": "you", "my": "your", "mine": "yours", "am": "are",
           "myself": "yourself"}
_FIRST_PERSON = re.compile(r"\b(i'm|i|me|my|mine|am|myself)\b", re.IGNORECASE)


def second_person(text: str) -> str:
    """The user's words addressed back to them ("My dog" -> "Your dog").

    Measured on the embedded 135M model: facts phrased this way in the system prompt
    were used in 5 of 6 probe answers, against 2 of 6 when replayed as earlier turns.
    """
    def swap(match: re.Match[str]) -> str:
        word = _PERSON[match.group(0).lower()]
        return word.capitalize() if match.group(0)[0].isupper() else word

    return _FIRST_PERSON.sub(swap, text)


def _source(memory: dict[str, Any]) -> str:
    return f"session {memory['session_id']}" if memory.get("session_id") else memory["kind"]


def answer_context(recent: Sequence[BaseMessage], summary: str,
                   memories: Sequence[dict[str, Any]], system: str | None = None
                   ) -> list[BaseMessage]:
    """System prompt (with recalled memories and the running summary) plus recent turns.

    ``system`` replaces the default assistant instructions; memories and the summary
    are added to it all the same.
    """
    parts = [system.strip() if system and system.strip() else CHAT_SYSTEM]
    if memories:
        # Provenance without the clock time: the same memories give the model the same input.
        lines = "\n".join(f"- {second_person(m['text'])} (from {_source(m)})" for m in memories)
        parts.append(CHAT_MEMORIES.format(memories=lines))
    if summary:
        parts.append(CHAT_SUMMARY.format(summary=summary))
    return [SystemMessage("\n\n".join(parts)), *recent]


def summarize_turns(model: BaseChatModel | None, previous: str,
                    messages: Sequence[BaseMessage]) -> tuple[str, str]:
    """The running summary extended by ``messages``; (summary, method used).

    A model summary that is empty, overlong or fails falls back to the extractive one.
    """
    if not messages:
        return previous, "unchanged"
    fallback = extractive_summary(previous, messages, MAX_SUMMARY_CHARS)
    if model is None:
        return fallback, "extractive"
    transcript = "\n".join(
        f"{'User' if isinstance(m, HumanMessage) else 'Assistant'}: {m.text}" for m in messages)
    before = f"Earlier summary:\n{previous}\n\n" if previous else ""
    try:
        reply = invoke_model(model, [HumanMessage(CHAT_SUMMARIZE.format(
            previous=before, transcript=transcript[-6000:]))]).text.strip()
    except (ModelError, ValueError):
        return fallback, "extractive (model failed)"
    if not reply or len(reply) > MAX_SUMMARY_CHARS:
        return fallback, "extractive (model summary unusable)"
    return reply, "model"
