"""Grounding proposals in what the target got wrong, without leaking the dev set.

Reflection (as in GEPA) reads the target's mistakes on a small minibatch of *training*
examples; selection scores candidates on *dev*. Keeping the two apart is what keeps a
dev score honest: a proposer shown dev answers can copy them into the prompt, which
scores perfectly on dev and learns nothing (the "dev 1.00, test 0.00" report). The leak
check below also refuses any candidate that carries a dev or test example with its
answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from neuroforge.agents.quoting import neutralize
from neuroforge.agents.schemas import Finding
from neuroforge.knowledge.datasets import Example
from neuroforge.tools.prompt_eval import normalize

__all__ = ["REFLECTION_SIZE", "Miss", "failure_finding", "failure_lines", "leaked_examples",
           "reflection_batch"]

REFLECTION_SIZE = 8  # training examples the current prompt is run on to find its mistakes
SHOWN_MISSES = 3  # mistakes shown to a proposer (short prompts for small models)


@dataclass(frozen=True)
class Miss:
    """One training example the target got wrong: what it was given, said, and should say."""

    input: str
    answer: str
    expected: str


def reflection_batch(train: Sequence[Example], generation: int) -> list[Example]:
    """The training examples generation ``generation`` reflects on: a different slice each
    generation, from the end of train (demonstrations are drawn from anywhere)."""
    if not train:
        return []
    size = min(REFLECTION_SIZE, len(train))
    start = (len(train) - size * (generation + 1)) % len(train)
    return [train[(start + i) % len(train)] for i in range(size)]


def _clip(text: str, limit: int) -> str:
    text = " ".join(neutralize(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def failure_lines(misses: Sequence[Miss]) -> list[str]:
    """Mistakes as short lines a proposer reads (outside text neutralised)."""
    return [f"on input '{_clip(m.input, 60)}' the target answered '{_clip(m.answer, 40)}', "
            f"expected '{_clip(m.expected, 40)}'" for m in misses[:SHOWN_MISSES]]


def failure_finding(misses: Sequence[Miss], total: int, finding_id: str = "T1"
                    ) -> Finding | None:
    """A finding that cites the target's mistakes on training examples, or ``None``."""
    if not misses:
        return None
    lines = failure_lines(misses)
    return Finding(
        id=finding_id, perspective="failures", severity=4,
        issue=f"The target answered {len(misses)} of {total} training examples wrong"[:240],
        evidence="; ".join(lines)[:240],
        suggestion=("Say exactly what form the answer takes (one word, a number, a "
                    "sentence) so the expected answers come out")[:240])


LEAK_WINDOW = 80  # characters after an input within which its answer counts as carried


def leaked_examples(text: str, examples: Sequence[Example]) -> list[Example]:
    """Held-out examples whose answer follows their input in ``text``: a prompt that
    carries them would score on them by copying, not by doing the task."""
    body = f" {normalize(text)} "
    found = []
    for example in examples:
        given, wanted = f" {normalize(example.input)} ", f" {normalize(example.output)} "
        if len(given.strip()) < 4 or not wanted.strip():
            continue  # too short to tell a copy from a coincidence
        start = body.find(given)
        while start != -1:
            if wanted in body[start + len(given) - 1: start + len(given) + LEAK_WINDOW]:
                found.append(example)
                break
            start = body.find(given, start + 1)
    return found
