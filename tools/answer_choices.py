"""Closed answer sets: a prompt whose replies are decoded as one of the task's answers.

On a task whose outputs come from a few labels (True/False, (A)-(F), "0 - definitely
not" .. "5 - perfectly"), a small target often answers off the set: SmolLM2-135M gave
3 right answers of 64 on sentence_similarity with the 3 nearest examples, and 14 when
its reply was constrained to the six labels (the backend's grammar or JSON-schema enum,
as structured replies are). A prompt says in its own text that it is run this way, as a
dynamic prompt does: a line naming the answers, which the target is not shown (the
constraint is in decoding, not in the wording).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel

from neuroforge.knowledge.datasets import Example
from neuroforge.models.structured import native_constraint

__all__ = ["CHOICES_LINE", "MAX_CHOICES", "answer_choices_line", "choice_answer",
           "choice_constraint", "closed_answer_set", "parse_choices"]

CHOICES_LINE = "Answers: one of {choices}."
_CHOICES = re.compile(r"\n?Answers: one of (\[.*?\])\.(?=\n|\Z)")
# A closed set has at most this many answers, each seen in train this often on average:
# beyond that the outputs are open (words, numbers, sentences) and a set drawn from train
# would forbid right answers it never saw.
MAX_CHOICES = 10
EXAMPLES_PER_CHOICE = 4


def closed_answer_set(train: Sequence[Example]) -> list[str] | None:
    """The task's answers when its training outputs come from a small closed set
    (at most ``MAX_CHOICES``, at least ``EXAMPLES_PER_CHOICE`` examples each on
    average), sorted; else ``None``."""
    counts = Counter(e.output.strip() for e in train if e.output.strip())
    if len(counts) < 2 or len(counts) > MAX_CHOICES:
        return None
    if sum(counts.values()) < EXAMPLES_PER_CHOICE * len(counts):
        return None
    return sorted(counts)


def answer_choices_line(choices: Sequence[str]) -> str:
    """The line that makes a prompt's replies one of ``choices``."""
    return CHOICES_LINE.format(choices=json.dumps(list(choices), ensure_ascii=False))


def parse_choices(prompt: str) -> tuple[str, list[str]] | None:
    """(prompt without its choices line, the choices) of a constrained prompt; ``None``
    when it has no such line, or one a rewrite left malformed."""
    found = _CHOICES.search(prompt)
    if found is None:
        return None
    try:
        choices = json.loads(found.group(1))
    except ValueError:
        return None
    if (not isinstance(choices, list) or len(choices) < 2
            or not all(isinstance(c, str) and c for c in choices)):
        return None
    return prompt[:found.start()] + prompt[found.end():], choices


def choice_constraint(model: BaseChatModel, choices: Sequence[str]) -> dict[str, Any]:
    """Call arguments that make ``model`` reply with one of ``choices`` (empty where the
    backend has no constraint: the reply is then read as a free one)."""
    schema: dict[str, Any] = {"enum": list(choices)}
    kwargs = native_constraint(model, schema)
    if kwargs.get("response_format", {}).get("type") == "json_schema":
        # OpenAI's structured outputs take an object at the root.
        kwargs = native_constraint(model, {
            "type": "object", "properties": {"answer": schema}, "required": ["answer"],
            "additionalProperties": False})
    return kwargs


def choice_answer(reply: str, choices: Sequence[str]) -> str | None:
    """The choice a constrained ``reply`` names (a JSON string, or an object's
    ``answer``), or ``None`` when it names none."""
    try:
        value = json.loads(reply)
    except ValueError:
        return None
    if isinstance(value, dict):
        value = value.get("answer")
    return value if isinstance(value, str) and value in choices else None
