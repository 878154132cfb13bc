"""The target's next-token distribution at the first token of its answer, on any backend.

kNN prompting (``tools.knn_answers``) reads a closed-set answer from this distribution
instead of from the reply's text. Where it is read: at the reply's first token after
the answers' common prefix (the "(" of "(A)" .. "(F)"), so that the position is one
where the answers differ.
- The embedded model is given the prefix and its logits are read in one forward pass
  (``EmbeddedChatModel.next_token_logprobs``).
- A server (OpenAI-compatible, Ollama) cannot be given the start of its reply, so it
  answers greedily with ``top_logprobs`` and the distribution is read at the first
  position past the prefix: the same position whenever the reply starts with the prefix
  (after demonstrations that answer "(B)", it does), else where the reply leaves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from neuroforge.models.embedded import EmbeddedChatModel

__all__ = ["TOP_LOGPROBS", "NoLogprobsError", "NextTokens", "next_token_logprobs",
           "read_past_prefix"]

TOP_LOGPROBS = 20  # what OpenAI's API allows at most; the kNN probe read 326 of 768 with it
NextTokens = dict[str, float]  # token text -> natural-log probability, the most likely only


class NoLogprobsError(ValueError):
    """The backend's reply carried no token log-probabilities."""


def next_token_logprobs(model: BaseChatModel, messages: Sequence[BaseMessage],
                        prefix: str = "", top: int = TOP_LOGPROBS) -> NextTokens:
    """The ``top`` most likely tokens of ``model``'s reply to ``messages`` at the first
    position past ``prefix`` (see the module doc). Raises ``NoLogprobsError`` when the
    backend gives none; backend failures propagate as the backend raises them."""
    if isinstance(model, EmbeddedChatModel):
        return model.next_token_logprobs(list(messages), prefix, top)
    kwargs: dict[str, Any] = {"logprobs": True, "top_logprobs": top}
    if type(model).__name__ == "ChatOpenAI":
        # Greedy, and no longer than the prefix and the token past it. (Ollama takes
        # neither per call: its model's own options stand, the target's temperature 0.)
        kwargs |= {"temperature": 0.0, "max_completion_tokens": 8}
    reply = model.invoke(list(messages), stop=["\n"], **kwargs)
    positions = _positions(reply.response_metadata.get("logprobs"))
    if not positions:
        raise NoLogprobsError(f"{type(model).__name__} returned no token log-probabilities; "
                              "its server may not support logprobs")
    return read_past_prefix(positions, prefix)


def _positions(raw: Any) -> list[tuple[str, NextTokens]]:
    """(token, its top alternatives) per reply position, from OpenAI's
    ``{"content": [...]}`` or Ollama's list of the same entries (its client's objects)."""
    entries = raw.get("content") if isinstance(raw, dict) else raw
    positions: list[tuple[str, NextTokens]] = []
    for entry in map(_plain, entries or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
            continue
        tops: NextTokens = {}
        for alt in map(_plain, entry.get("top_logprobs") or []):
            if isinstance(alt, dict) and isinstance(alt.get("token"), str):
                tops.setdefault(alt["token"], float(alt.get("logprob", float("-inf"))))
        tops.setdefault(entry["token"], float(entry.get("logprob", float("-inf"))))
        positions.append((entry["token"], tops))
    return positions


def _plain(value: Any) -> Any:
    """A pydantic object (the ``ollama`` client's ``Logprob``) as a dict; else as it is."""
    return value.model_dump() if hasattr(value, "model_dump") else value


def read_past_prefix(positions: Sequence[tuple[str, NextTokens]], prefix: str) -> NextTokens:
    """The alternatives at the first position whose token is not still inside ``prefix``:
    the reply has covered the prefix before it, or this token leaves or passes it.
    A reply that ends inside the prefix gives its last position."""
    text = ""
    for token, tops in positions:
        if len(text) >= len(prefix) or not prefix.startswith(text + token):
            return tops
        text += token
    return positions[-1][1]
