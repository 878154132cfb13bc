"""The free choice on train: which of the prompts a user gets for free with per-input
examples is best, judged on the training examples as well as dev.

Each free prompt with nearest examples can be run on the training examples too, every
input shown its nearest examples among the *other* training examples (leave one out),
so the choice among the instruction, + 3 nearest and + 5 nearest rests on train + dev
(82 examples in the benchmark) instead of 32 dev examples. Probed on 27 tasks
(``benchmarks/RUNS.md``, 2026-12-05): the leader on train + one part, judged on the
other, was 2.0 points above the dev guard's choice (3.0 on the 15 unseen tasks).
Plain values in, plain values out: the graph scores, this module decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from neuroforge.agents.schemas import Candidate
from neuroforge.tools.nearest_demos import dynamic_prompt

__all__ = ["FREE_NEAREST", "TRAIN_EVIDENCE_SIZE", "evidence_record", "free_dynamic_texts",
           "free_reason", "leader_on_evidence", "train_evidence_cost", "with_free_choice"]

FREE_NEAREST = (3, 5)  # nearest examples per input in the free prompts besides the bare one
TRAIN_EVIDENCE_SIZE = 50  # training examples each free prompt is run on, at most


def free_dynamic_texts(instruction: str) -> list[str]:
    """The free prompts the choice is made among, the bare instruction first (it wins a
    tie: a change must earn its place), then with its nearest examples per input."""
    return [instruction, *(dynamic_prompt(instruction, k) for k in FREE_NEAREST)]


def train_evidence_cost(train_size: int, dev_size: int, cached: int) -> int:
    """Calls the free choice may cost at the most: the prompts with nearest examples on
    dev, and every free prompt on up to ``TRAIN_EVIDENCE_SIZE`` training examples
    (``cached`` of the bare instruction's are paid by the reflection already)."""
    size = min(train_size, TRAIN_EVIDENCE_SIZE)
    return len(FREE_NEAREST) * (size + dev_size) + max(0, size - cached)


def leader_on_evidence(free: Sequence[Candidate], train_hits: Mapping[str, Sequence[bool]]
                       ) -> tuple[Candidate, dict[str, int], int]:
    """The free prompt right most often on its training answers (``train_hits`` by
    candidate id) and dev together, ties to the earlier; with each one's count and the
    dev examples counted: those every one answered (a run the time limit cut short
    covers a prefix of dev). A prompt without a dev score or train answers is not in
    the running."""
    running = [c for c in free if c.dev_hits is not None and c.id in train_hits]
    if not running:
        raise ValueError("no free prompt has both dev and training answers")
    dev = min(len(c.dev_hits or []) for c in running)
    counts = {c.id: sum(train_hits[c.id]) + sum((c.dev_hits or [])[:dev]) for c in running}
    # max() keeps the first of equals: the order of ``free`` breaks ties.
    return max(running, key=lambda c: counts[c.id]), counts, dev


def free_reason(chosen: Candidate, original: Candidate, counts: Mapping[str, int],
                examples: int) -> str:
    """One sentence on the free choice: which prompt, right how often of how many."""
    if chosen.id == original.id:
        return (f"the instruction alone was right on {counts[original.id]} of {examples} "
                "training and dev examples, no fewer than with its nearest examples")
    return (f"the instruction with nearest examples per input was right on "
            f"{counts[chosen.id]} of {examples} training and dev examples, against "
            f"{counts[original.id]} for the instruction alone")


def evidence_record(chosen: Candidate, counts: Mapping[str, int], train_examples: int,
                    dev_examples: int) -> dict[str, Any]:
    """What the guard's verdict keeps of the free choice."""
    return {"chosen": chosen.id, "right": dict(counts), "train_examples": train_examples,
            "dev_examples": dev_examples}


def with_free_choice(guard: Mapping[str, Any], final: Candidate, control: Candidate,
                     original: Candidate, evidence: Mapping[str, Any]) -> dict[str, Any]:
    """The guard's verdict on the searched prompts against the free choice ``control``,
    told as the run's verdict: adopted when the final prompt is not the original, the
    reason naming the free choice and then the searched prompts' fate against it."""
    examples = int(evidence["train_examples"]) + int(evidence["dev_examples"])
    free = free_reason(control, original, evidence["right"], examples)
    searched = str(guard["reason"])
    if control.id != original.id:  # the guard calls the prompt it weighs against "original"
        searched = searched.replace("the original", "the free choice")
    if final.id == control.id:
        reason = f"free choice on train and dev: {free}; of the searched prompts, {searched}"
    else:
        reason = f"{searched}; weighed against the free choice on train and dev ({free})"
    return {**guard, "adopted": final.id != original.id, "reason": reason,
            "over_free_choice": bool(guard.get("adopted")), "free_choice": dict(evidence)}
