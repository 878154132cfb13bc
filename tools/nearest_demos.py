"""Dynamic few-shot: for each input, the training examples nearest to it by meaning.

A prompt written by ``dynamic_prompt`` says in its own text that it is run this way
(instruction, then a line naming how many examples are picked per input), so a stored
or exported prompt version carries how to run it. ``NearestDemos`` picks them with the
bundled all-MiniLM-L6-v2 embeddings (the same model long-term memory uses), cosine
similarity, most similar last (next to the question).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from neuroforge.knowledge.datasets import Example

__all__ = ["NEAREST_LINE", "NearestDemos", "dynamic_prompt", "parse_dynamic"]

NEAREST_LINE = "Examples: the {k} most similar solved examples are shown before each input."
_NEAREST = re.compile(r"\n*Examples: the (\d+) most similar solved examples are shown "
                      r"before each input\.")


def dynamic_prompt(instruction: str, k: int) -> str:
    """The text of a prompt whose ``k`` demonstrations are picked per input."""
    return f"{instruction.rstrip()}\n\n{NEAREST_LINE.format(k=k)}"


def parse_dynamic(prompt: str) -> tuple[str, int] | None:
    """(instruction, k) of a dynamic prompt, ``None`` for a static one. The line may sit
    anywhere (an operator can append to the instruction after it)."""
    found = _NEAREST.search(prompt)
    if found is None:
        return None
    instruction = (prompt[:found.start()].rstrip() + "\n" + prompt[found.end():].strip())
    return instruction.strip(), int(found.group(1))


class NearestDemos:
    """The ``k`` examples of ``pool`` nearest to an input; inputs are embedded once."""

    def __init__(self, pool: Sequence[Example]) -> None:
        import numpy as np

        from neuroforge.memory.embeddings import embed_texts

        if not pool:
            raise ValueError("dynamic few-shot needs training examples to pick from")
        self.pool = list(pool)
        self._matrix = np.asarray(embed_texts([e.input for e in self.pool]), dtype=np.float32)
        self._seen: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def __call__(self, input_text: str, k: int) -> list[Example]:
        """The ``k`` nearest examples to ``input_text`` (never the input itself), most
        similar last."""
        import numpy as np

        from neuroforge.memory.embeddings import embed_texts

        with self._lock:
            order = self._seen.get(input_text)
        if order is None:
            query = np.asarray(embed_texts([input_text])[0], dtype=np.float32)
            order = [int(i) for i in np.argsort(-(self._matrix @ query))]
            with self._lock:
                self._seen[input_text] = order
        chosen = [self.pool[i] for i in order if self.pool[i].input != input_text][:k]
        return list(reversed(chosen))

