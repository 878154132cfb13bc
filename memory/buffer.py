"""Short-term memory: keep a conversation inside the model's context window.

Recent turns stay verbatim (trimmed by token count); older turns are folded into a
running summary. The summary is written by a model when one is given, and by a plain
extractive fallback otherwise (or when the model fails), so the buffer never breaks
a chat because a small model misbehaved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage, HumanMessage, trim_messages

__all__ = ["ContextWindow", "extractive_summary", "split_for_context"]

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class ContextWindow:
    """The history split for one model call."""

    recent: list[BaseMessage]  # verbatim, oldest first, starting on a human turn
    to_fold: list[BaseMessage]  # older messages not yet in the summary


def split_for_context(messages: Sequence[BaseMessage], folded: int, max_tokens: int,
                      count_tokens: TokenCounter) -> ContextWindow:
    """Keep the newest messages that fit ``max_tokens``; the rest past ``folded`` are to fold.

    ``folded`` is how many of the oldest messages the summary already covers.
    """
    history = list(messages)

    def counter(batch: list[BaseMessage]) -> int:
        # A few tokens of chat-template overhead per message.
        return sum(count_tokens(m.text) + 4 for m in batch)

    recent = trim_messages(history, max_tokens=max_tokens, token_counter=counter,
                           strategy="last", start_on="human", allow_partial=False)
    if not recent and history:
        recent = [history[-1]]  # a single over-long turn: the model call will say so
    cut = len(history) - len(recent)
    return ContextWindow(recent=recent, to_fold=history[max(folded, 0):cut])


def _first_sentence(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    for stop in (". ", "? ", "! "):
        if stop in text:
            text = text.split(stop, 1)[0] + stop.strip()
            break
    return text if len(text) <= limit else text[: limit - 3] + "..."


def extractive_summary(previous: str, messages: Sequence[BaseMessage], max_chars: int = 1200
                       ) -> str:
    """The previous summary plus the first sentence of each folded turn, newest kept."""
    lines = [line for line in previous.splitlines() if line.strip()]
    for message in messages:
        who = "User" if isinstance(message, HumanMessage) else "Assistant"
        if message.text.strip():
            lines.append(f"{who}: {_first_sentence(message.text)}")
    while lines and sum(len(line) + 1 for line in lines) > max_chars:
        lines.pop(0)  # the oldest detail goes first
    return "\n".join(lines)
