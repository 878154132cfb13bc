"""Answer hints: a dynamic prompt that names, with each input, the answer most of the
examples shown with it have.

A prompt that shows each input its nearest solved examples (``tools.nearest_demos``)
gives a small target the answers of similar inputs, but SmolLM2-135M copies them badly:
on dev and the confirmation slice of 11 closed-set tasks, the majority answer of the
three shown examples was right more often than the target's own reply held to the
answer set (357 of 704 against 280; ``benchmarks/RUNS.md``, 2026-12-07, afternoon). A
hinted prompt adds one line to the input's turn naming that majority answer; held to
the answer set, the target follows it on the tasks with two or three answers and
overrules it where the input says otherwise (304 right against 280), but mostly ignores
it on some with five or more (geometric_shapes, logical_deduction_five_objects), where
it then does worse than without it.

The hint is a function of the examples shown with that input and nothing else, so a
hinted prompt sees no answer the plain one does not; it only says the shown answers'
majority in words. A prompt says in its own text that it is run this way, as a dynamic
prompt does: a line the target is not shown.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from neuroforge.knowledge.datasets import Example

__all__ = ["HINT", "HINT_LINE", "majority_answer", "parse_hint", "with_hint",
           "with_hint_line", "without_hint_line"]

HINT_LINE = "Hints: the answer most of the shown examples have is named with each input."
_HINT_LINE = re.compile(r"\n*Hints: the answer most of the shown examples have is named "
                        r"with each input\.")
HINT = "Hint: the most similar solved examples above were answered {answer}."


def with_hint_line(instruction: str) -> str:
    """``instruction`` with the line that makes its prompt hint each input, once."""
    if parse_hint(instruction) is not None:
        return instruction
    return f"{instruction.rstrip()}\n{HINT_LINE}"


def parse_hint(prompt: str) -> str | None:
    """``prompt`` without its hint line, or ``None`` when it has none."""
    found = _HINT_LINE.search(prompt)
    if found is None:
        return None
    return prompt[:found.start()] + prompt[found.end():]


def without_hint_line(prompt: str) -> str:
    """``prompt`` without its hint line (``prompt`` itself when it has none)."""
    unhinted = parse_hint(prompt)
    return prompt if unhinted is None else unhinted


def majority_answer(demos: Sequence[Example]) -> str:
    """The output most of ``demos`` have (compared stripped and case-folded); a tie goes
    to the one nearer the input, which is shown later (``NearestDemos`` order)."""
    if not demos:
        raise ValueError("a hint needs the examples shown with the input")
    counts = Counter(e.output.strip().casefold() for e in demos)
    top = max(counts.values())
    return next(e.output.strip() for e in reversed(demos)
                if counts[e.output.strip().casefold()] == top)


def with_hint(turn: str, demos: Sequence[Example], answer_cue: str) -> str:
    """The input's turn ``turn`` (ending in ``answer_cue``) with the hint line before the
    cue, naming ``majority_answer`` of ``demos``."""
    if not turn.endswith(answer_cue):
        raise ValueError("the input's turn does not end with its answer cue")
    hint = HINT.format(answer=majority_answer(demos))
    return f"{turn[:-len(answer_cue)]}{hint}\n{answer_cue}"
