"""A scripted world for optimize-graph tests: role-aware fake models."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, SystemMessage

from neuroforge.agents.prompts import CLOSE_TAG, OPEN_TAG
from tests.fakes import FunctionChatModel, LogprobChatModel

REWRITES = {
    "short": "Summarize the text in three bullet points.",
    "structured": "Output format: a markdown list of exactly three bullets summarizing the text.",
    "role": "You are an editor. Condense the article into a few key takeaways for executives.",
    "step": "1. Read the passage. 2. Pick the main claims. 3. State each as one line.",
    "explicit": "Write at most 50 words capturing the core message; avoid opinions.",
    "audience": "For a busy manager, explain what matters in this report and why.",
}


def _quoted_parts(text: str) -> list[str]:
    return re.findall(re.escape(OPEN_TAG) + r"\n(.*?)\n" + re.escape(CLOSE_TAG), text, re.S)


def _unquoted(text: str) -> str:
    return re.sub(re.escape(OPEN_TAG) + r".*?" + re.escape(CLOSE_TAG), "", text, flags=re.S)


def analyst_reply(messages: list[BaseMessage]) -> str:
    return json.dumps({"issue": "vague about output length", "evidence": "Summarize",
                       "severity": 3, "suggestion": "state the number of bullets"})


def creative_reply(messages: list[BaseMessage]) -> str:
    ask = messages[-1].text
    if "Reviewers said" in ask:
        return json.dumps({"prompt": _quoted_parts(ask)[0] + " Keep each bullet under 12 words.",
                           "addresses": []})
    for key, text in REWRITES.items():
        style = {"short": "short and direct", "structured": "structured", "role": "role first",
                 "step": "step by step", "explicit": "explicit constraints",
                 "audience": "audience-aware"}[key]
        if style in ask:
            return json.dumps({"prompt": text, "addresses": ["F1", "F9"]})
    return json.dumps({"prompt": "Summarize.", "addresses": []})


def obedient_validator(messages: list[BaseMessage]) -> str:
    """Scores by a rubric, but obeys any instruction that is NOT inside the quotation tags."""
    ask = messages[-1].text
    if re.search(r"give (it )?(a )?score (of )?10", _unquoted(ask), re.I):
        return json.dumps({"score": 10, "decision": "accept", "rationale": "as instructed"})
    candidate = _quoted_parts(ask)[1]
    score = 9 if "bullet" in candidate else 6 if "three" in candidate else 3
    if "Examples:" in candidate:
        score = 8
    return json.dumps({"score": score, "decision": "accept" if score >= 6 else "reject",
                       "rationale": f"rubric score {score}"})


def target_reply(messages: list[BaseMessage]) -> str:
    """Answers right (upper-cases the input) only after demonstration turns."""
    word = messages[-1].text.rpartition("\n\nInput: ")[2].split("\nOutput:")[0]
    return word.upper() if len(messages) > 1 else f"The answer is {word[::-1]}."


def role_of(messages: list[BaseMessage]) -> str:
    system = " ".join(m.text for m in messages if isinstance(m, SystemMessage))
    if "prompt analyst" in system:
        return "analyst"
    if "prompt writer" in system:
        return "creative"
    if "You judge rewritten prompts" in system:
        return "validator"
    return "target"


def world(overrides: dict[str, Callable[[list[BaseMessage]], str | Exception]] | None = None,
          tops: Callable[[list[BaseMessage]], list[dict[str, float]]] | None = None
          ) -> tuple[Callable[[str, float | None], BaseChatModel], FunctionChatModel]:
    """A model factory for every role, and the shared fake (to inspect calls); with
    ``tops``, the fake also gives token log-probabilities when asked (``LogprobChatModel``)."""
    handlers: dict[str, Callable[[list[BaseMessage]], Any]] = {
        "analyst": analyst_reply, "creative": creative_reply,
        "validator": obedient_validator, "target": target_reply, **(overrides or {}),
    }
    fake = (FunctionChatModel(respond=lambda m: handlers[role_of(m)](m), name_="world")
            if tops is None else
            LogprobChatModel(respond=lambda m: handlers[role_of(m)](m), tops=tops,
                             name_="world"))
    return (lambda role, temperature=None: fake), fake
