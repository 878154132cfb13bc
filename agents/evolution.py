"""The optimizer's evolution policy: which candidates a generation gets, and when to stop.

The operators themselves live in ``agents.optimizer``; this module decides how they
are combined. Everything here takes plain values, so the graph only moves state.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel

from neuroforge.agents.creative import is_distinct, keeps_the_task
from neuroforge.agents.optimizer import (
    add_demonstrations,
    add_output_constraint,
    apply_pattern,
    crossover,
    mutate_with_feedback,
    next_patterns,
    plateaued,
    select_elites,
)
from neuroforge.agents.schemas import Ballot, Candidate
from neuroforge.analysis.stats import mcnemar
from neuroforge.knowledge.datasets import Example
from neuroforge.knowledge.schema import new_id
from neuroforge.models.backends import ModelError
from neuroforge.models.structured import StructuredOutputError
from neuroforge.tools.nearest_demos import dynamic_prompt

__all__ = [
    "GUARD_ALPHA", "fill_population", "guarded_choice", "mean_scores", "offspring",
    "stop_reason",
]


def fill_population(original: Candidate, new: Sequence[Candidate], train: Sequence[Example] | None,
                    population: int, seed: int) -> list[Candidate]:
    """Operator-made candidates that fill the population when rewrites fell short.

    With a labelled task (``train`` given): three random demonstrations from train,
    the three nearest to each input (dynamic few-shot), five random, another draw of
    three, and an output constraint; without one: well-known patterns.
    """
    rng = random.Random(seed)
    texts = [original.text, *(c.text for c in new)]
    if train is not None:
        # Random draws vary a lot on small models: two of three, one of five, and the
        # nearest examples per input, which no single draw can match on mixed tasks.
        options = [("demonstrations", add_demonstrations(original.text, train, 3, rng)),
                   ("demonstrations", dynamic_prompt(original.text, 3)),
                   ("demonstrations", add_demonstrations(original.text, train, 5, rng)),
                   ("demonstrations", add_demonstrations(original.text, train, 3, rng)),
                   ("mutation", add_output_constraint(original.text))]
    else:
        options = [("mutation", apply_pattern(original.text, name))
                   for name in next_patterns(original.text)]
    filled: list[Candidate] = []
    for origin, text in options:
        if len(new) + len(filled) >= population:
            break
        if text not in texts:
            texts.append(text)
            filled.append(Candidate(id=new_id(), text=text, origin=origin,  # type: ignore[arg-type]
                                    generation=1, parents=[original.id]))
    return filled


def offspring(population: Sequence[Candidate], scores: Mapping[str, float], *,
              known_texts: Sequence[str], ballots: Sequence[Mapping[str, Any]],
              generation: int, size: int, seed: int, train: Sequence[Example] | None,
              mutator: BaseChatModel | None, attempts: int, failures: Sequence[str] = ()
              ) -> tuple[list[Candidate], int, list[str]]:
    """Children of the elites for ``generation``: (children, model calls, errors).

    A feedback mutation by ``mutator`` (skipped when it is ``None``: no budget left),
    a crossover of the two elites, then operator variants of the best.
    """
    rng = random.Random(seed * 1000 + generation)
    elites = select_elites(population, dict(scores), 2, measured=train is not None)
    first, second = elites[0], elites[-1]
    known = list(known_texts)
    children: list[Candidate] = []
    calls, errors = 0, []

    def add(text: str, origin: str, parents: list[str]) -> None:
        if (len(children) < size and is_distinct(text, known, threshold=0.98)
                and keeps_the_task(text, first.text)):
            known.append(text)
            children.append(Candidate(id=new_id(), text=text, origin=origin,  # type: ignore[arg-type]
                                      generation=generation, parents=parents))

    # What the target got wrong (training examples) first, then what the voters said.
    feedback = [*failures, *(b["rationale"] for b in ballots
                             if b["candidate_id"] == first.id and b.get("valid"))]
    if mutator is not None:
        try:
            text, calls = mutate_with_feedback(mutator, first.text, feedback, attempts=attempts)
            add(text, "mutation", [first.id])
        except StructuredOutputError as exc:
            calls = exc.attempts
        except ModelError as exc:
            errors.append(f"optimizer: {exc}")
    if second.id != first.id:
        add(crossover(first.text, second.text, rng), "crossover", [first.id, second.id])
    if train is not None:
        add(add_output_constraint(first.text), "mutation", [first.id])
        add(add_demonstrations(first.text, train, 3, rng), "demonstrations", [first.id])
    else:
        for name in next_patterns(first.text)[:2]:
            add(apply_pattern(first.text, name), "mutation", [first.id])
    return children, calls, errors


def stop_reason(*, failed: bool, generation: int, max_generations: int, remaining: int,
                vote_cost: int, history: Sequence[float]) -> str | None:
    """Why the search stops after ``generation``, or ``None`` to go on."""
    if failed:
        return "model failure"
    if generation >= max_generations:
        return "generation limit"
    if remaining < vote_cost:
        return "budget exhausted"
    if plateaued(history):
        return "scores plateaued"
    return None


def mean_scores(ballots: Sequence[Ballot]) -> dict[str, float]:
    """Mean validator score per candidate, scaled to 0-1."""
    sums: dict[str, list[float]] = {}
    for b in ballots:
        if b.valid and b.score is not None:
            sums.setdefault(b.candidate_id, []).append(b.score / 10)
    return {c: round(sum(v) / len(v), 4) for c, v in sums.items()}


GUARD_ALPHA = 0.05


def guarded_choice(original: Candidate, candidates: Sequence[Candidate]
                   ) -> tuple[Candidate, dict[str, Any]]:
    """The final prompt on a labelled task, and why.

    The candidate with the best dev accuracy replaces the original only when a paired
    McNemar test on the same dev examples says it is better (p < 0.05): a candidate
    that is ahead on 32 examples by chance is not adopted.
    """
    scored = [c for c in candidates if c.dev_hits is not None and c.id != original.id]
    if original.dev_hits is None or not scored:
        return original, {"adopted": False, "reason": "no candidate was scored on dev"}
    best = max(scored, key=lambda c: (c.dev_score or 0.0, c.origin == "demonstrations"))
    if (best.dev_score or 0.0) <= (original.dev_score or 0.0):
        return original, {"adopted": False, "candidate": best.id,
                          "reason": "no candidate beat the original on dev"}
    test = mcnemar(list(best.dev_hits or []), list(original.dev_hits or []))
    verdict = {"candidate": best.id, "test": "mcnemar", "p_value": round(test.p_value, 6),
               "dev_gain": round((best.dev_score or 0.0) - (original.dev_score or 0.0), 4)}
    if test.p_value < GUARD_ALPHA:
        return best, {**verdict, "adopted": True,
                      "reason": f"better on dev by a paired test (p = {test.p_value:.3g})"}
    return original, {**verdict, "adopted": False,
                      "reason": f"ahead on dev but not significantly (p = {test.p_value:.3g} "
                                f">= {GUARD_ALPHA}); the original stays"}
