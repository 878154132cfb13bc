"""kNN prompting: a closed-set answer read from the target's next-token distribution.

Method (Xu et al., "kNN Prompting", ICLR 2023): each labelled training example (an
anchor) is run once under the prompt, and the target's next-token distribution at the
first token of its answer is kept (``models.next_token``). An input gets the majority
label of the ``k`` anchors whose distributions are nearest to its own by
KL(anchor || input), ties to the nearest; ``k`` is the one of ``K_CHOICES`` that
labels the anchors best, each left out of its own vote.

Why: a 135M target's reply often names the wrong option while its distribution still
tells the options apart. On dev and the slice of the 12 closed-set benchmark tasks it
read 316 right of 768 (326 with the top 20 log-probabilities kept, as here) where the
best free prompt, picked in hindsight, read 313 (``benchmarks/RUNS.md``).

A prompt says in its own text that it is run this way, as a dynamic prompt does: a line
the target is not shown.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from neuroforge.knowledge.datasets import Example

__all__ = ["KNN_LINE", "K_CHOICES", "VOCABULARY", "KnnAnchors", "KnnReader",
           "choose_k", "distance_table", "kl_divergence", "label_prefix", "parse_knn",
           "read_by_neighbours", "with_knn_line", "without_knn_line"]

KNN_LINE = ("Answers: read from the target's next-token distribution by its nearest "
            "training examples (kNN prompting).")
_KNN = re.compile(r"\n*Answers: read from the target's next-token distribution by its "
                  r"nearest training examples \(kNN prompting\)\.")
K_CHOICES = (1, 3, 5, 7, 9, 15, 25)
# Tokens outside a row's top share its remaining mass evenly over a vocabulary this big:
# SmolLM2's has 49,152; a server's size is not known, and a wrong guess shifts every
# row's floor alike.
VOCABULARY = 50_000
_MIN_REST = 1e-6  # mass left outside the top, at the least (it is never quite 0)


def with_knn_line(instruction: str) -> str:
    """``instruction`` with the line that makes its answers read by kNN prompting."""
    return f"{instruction.rstrip()}\n{KNN_LINE}"


def parse_knn(prompt: str) -> str | None:
    """``prompt`` without its kNN line, or ``None`` when it has none."""
    found = _KNN.search(prompt)
    if found is None:
        return None
    return prompt[:found.start()] + prompt[found.end():]


def without_knn_line(prompt: str) -> str:
    """``prompt`` as the target sees it: the kNN line removed, if any."""
    stripped = parse_knn(prompt)
    return prompt if stripped is None else stripped


def label_prefix(labels: Sequence[str]) -> str:
    """The text every label starts with ("(" for "(A)" .. "(F)"; "" for True/False)."""
    return os.path.commonprefix(list(labels))


def _floor(row: dict[str, float], vocabulary: int) -> float:
    """Log-probability of each token outside ``row``: the rest of the mass, spread."""
    rest = max(1.0 - sum(math.exp(v) for v in row.values()), _MIN_REST)
    return math.log(rest / max(vocabulary - len(row), 1))


def kl_divergence(anchor: dict[str, float], query: dict[str, float],
                  vocabulary: int = VOCABULARY) -> float:
    """KL(anchor || query) over the whole vocabulary, each row known at its top tokens
    and flat (``_floor``) elsewhere: the tokens named by either row one by one, the
    others as one block where both rows are at their floors."""
    floor_a, floor_q = _floor(anchor, vocabulary), _floor(query, vocabulary)
    named = anchor.keys() | query.keys()
    total = 0.0
    for token in named:
        log_a = anchor.get(token, floor_a)
        total += math.exp(log_a) * (log_a - query.get(token, floor_q))
    unnamed = max(vocabulary - len(named), 0)
    return total + unnamed * math.exp(floor_a) * (floor_a - floor_q)


def read_by_neighbours(distances: Sequence[float], labels: Sequence[str], k: int) -> str:
    """The majority label of the ``k`` nearest; on a tie, the nearest one's among the tied."""
    order = sorted(range(len(distances)), key=lambda i: distances[i])[:k]
    counts = Counter(labels[i] for i in order)
    best = max(counts.values())
    return next(labels[i] for i in order if counts[labels[i]] == best)


def distance_table(features: Sequence[dict[str, float]]) -> list[list[float]]:
    """``table[i][j]``: KL(anchor ``j`` || anchor ``i``), each anchor read as a query by the
    others; infinite on the diagonal (an anchor never reads itself)."""
    n = len(features)
    return [[math.inf if i == j else kl_divergence(features[j], features[i])
             for j in range(n)] for i in range(n)]


def _best_k(table: Sequence[Sequence[float]], labels: Sequence[str],
            left_out: int | None = None) -> int:
    """The ``K_CHOICES`` value (fewer than the anchors voting) that labels the anchors
    right most often, each read by the others; ties to the smaller. ``left_out`` takes
    no part at all: neither read nor reading."""
    rows = [i for i in range(len(labels)) if i != left_out]

    def row(i: int) -> Sequence[float]:
        if left_out is None:
            return table[i]
        return [math.inf if j == left_out else d for j, d in enumerate(table[i])]

    allowed = [k for k in K_CHOICES if k < len(rows)] or [1]
    right = {k: sum(read_by_neighbours(row(i), labels, k) == labels[i] for i in rows)
             for k in allowed}
    return max(allowed, key=lambda k: (right[k], -k))


def choose_k(features: Sequence[dict[str, float]], labels: Sequence[str]) -> int:
    """The ``K_CHOICES`` value (fewer than the anchors) that labels the anchors right most
    often, each read by the others alone; ties to the smaller."""
    return _best_k(distance_table(features), labels)


@dataclass(frozen=True)
class KnnReader:
    """The anchors of one prompt on one model, the ``k`` chosen for them, and the label
    prefix their features were read past (an input's must be read past the same).

    ``inputs`` names the anchors: an input that is one of them is read by the others
    alone, with ``k`` chosen without it (``answer_left_out``), so scoring a kNN prompt
    on its own anchors is an honest leave-one-out estimate and costs no further call."""

    features: list[dict[str, float]]
    labels: list[str]
    k: int
    prefix: str = ""
    inputs: tuple[str, ...] = ()
    table: list[list[float]] = field(default_factory=list, repr=False)
    # k chosen without each left-out anchor, by its index: scoring a kNN prompt on its
    # own anchors asks for the same k again on every run
    left_out_k: dict[int, int] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def fit(cls, features: Sequence[dict[str, float]], labels: Sequence[str],
            prefix: str = "", inputs: Sequence[str] = ()) -> KnnReader:
        """A reader over these anchors, ``k`` chosen as ``choose_k`` does."""
        if not features:
            raise ValueError("kNN prompting needs at least one anchor")
        if inputs and len(inputs) != len(features):
            raise ValueError("give one input per anchor, or none")
        table = distance_table(features)
        return cls(list(features), list(labels), _best_k(table, labels), prefix,
                   tuple(inputs), table)

    def answer(self, query: dict[str, float]) -> str:
        """The label the anchors nearest to ``query`` give."""
        distances = [kl_divergence(anchor, query) for anchor in self.features]
        return read_by_neighbours(distances, self.labels, self.k)

    def is_anchor(self, input_text: str) -> bool:
        """Whether ``input_text`` is one of the anchors (read by ``answer_left_out``)."""
        return input_text in self.inputs

    def answer_left_out(self, input_text: str) -> str:
        """The label the *other* anchors give the anchor ``input_text`` ("" when it is the
        only one): its own label never votes, nor picks ``k``."""
        index = self.inputs.index(input_text)
        if len(self.labels) < 2:
            return ""
        if index not in self.left_out_k:
            self.left_out_k[index] = _best_k(self.table, self.labels, left_out=index)
        k = self.left_out_k[index]
        return read_by_neighbours(self.table[index], self.labels, k)


# (model, prompt, anchor input) -> its feature; None when it did not fit the context
FeatureKey = tuple[str, str, str]


@dataclass
class KnnAnchors:
    """The labelled examples kNN prompts read their answers by, and each anchor's feature
    once paid for (per model and prompt; thread-safe)."""

    pool: list[Example]
    features: dict[FeatureKey, dict[str, float] | None] = field(default_factory=dict)
    readers: dict[tuple[str, str], KnnReader] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def anchors(self, shown: Sequence[Example]) -> list[Example]:
        """The pool less the examples the prompt shows as demonstrations."""
        seen = {e.input for e in shown}
        return [e for e in self.pool if e.input not in seen]

    def unpaid(self, model_key: str, prompt: str, shown: Sequence[Example],
               inputs: Collection[str] = frozenset()) -> int:
        """Anchors whose feature this model and prompt have not paid for yet, less those
        among ``inputs`` (an anchor that is also an input to score costs the one call
        both need)."""
        with self.lock:
            return sum((model_key, prompt, e.input) not in self.features
                       and e.input not in inputs for e in self.anchors(shown))
