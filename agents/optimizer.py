"""Optimizer: evolutionary refinement of prompts across generations.

Operators, each producing a new prompt text from parents:
- ``mutate_with_feedback``: the model rewrites a parent using reviewers' rationales;
- ``crossover``: sentences of two parents interleaved (deterministic given the rng);
- ``add_output_constraint``: states the expected answer form, which small target
  models need most (tasks with extracted answers only);
- ``hold_to_answers``: on a task with a closed answer set, replies decoded as one of it;
- ``read_by_knn``: on such a task, answers read from the next-token distribution by the
  nearest training examples (kNN prompting) instead of from the reply;
- ``apply_pattern``: a well-known prompt pattern (role, structure, length, steps)
  for open-ended prompts;
- ``add_demonstrations``: appends solved examples from the *train* split (never
  dev or test), the few-shot move of APE/DSPy-style optimizers.
Selection keeps elites; ``plateaued`` decides when scores stopped improving.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from neuroforge.agents.prompts import CREATIVE_SYSTEM, MUTATION_USER, quote_prompt
from neuroforge.agents.schemas import Candidate, RewriteReply
from neuroforge.knowledge.datasets import Example
from neuroforge.models.structured import structured_reply
from neuroforge.tools.answer_choices import answer_choices_line, parse_choices
from neuroforge.tools.knn_answers import parse_knn, with_knn_line
from neuroforge.tools.nearest_demos import dynamic_prompt, parse_dynamic
from neuroforge.tools.prompt_eval import (
    evaluate_prompt,
    format_demonstrations,
    split_demonstrations,
)

__all__ = [
    "OUTPUT_CONSTRAINT",
    "PATTERNS",
    "add_demonstrations",
    "add_output_constraint",
    "apply_pattern",
    "crossover",
    "fitness",
    "few_shot_baseline",
    "history_lines",
    "hold_to_answers",
    "instruction_of",
    "mutate_with_feedback",
    "next_patterns",
    "plateaued",
    "read_by_knn",
    "select_elites",
    "swap_demonstrations",
]

OUTPUT_CONSTRAINT = "Answer with only the answer itself, on one line, with no explanation."
# Well-known prompt patterns for open-ended prompts (no labelled task to measure on).
PATTERNS: dict[str, tuple[str, str]] = {
    "role": ("You are a knowledgeable expert who writes clearly. ", ""),
    "structure": ("", " Organize the answer with a short title and bullet points."),
    "length": ("", " Keep the answer under 150 words."),
    "steps": ("", " Think step by step, then give the final answer."),
}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


HISTORY_SHOWN = 4  # earlier instructions shown to the proposer (short prompts for small models)


def history_lines(scored: Sequence[tuple[str, float]]) -> list[str]:
    """OPRO-style history: earlier instructions (demonstrations left out) with their dev
    accuracy, worst first so the best sits next to the request; one line per instruction."""
    best: dict[str, float] = {}
    for text, score in scored:
        instruction = " ".join(instruction_of(text).split())[:160]
        best[instruction] = max(score, best.get(instruction, 0.0))
    ranked = sorted(best.items(), key=lambda pair: pair[1])[-HISTORY_SHOWN:]
    return [f"{score:.0%} correct: {quote_prompt(text)}" for text, score in ranked]


def mutate_with_feedback(
    model: BaseChatModel, text: str, feedback: Sequence[str], *, attempts: int = 3,
    history: Sequence[str] = (),
) -> tuple[str, int]:
    """A rewrite of ``text`` that answers the reviewers' ``feedback``; (text, calls).

    ``history`` (see ``history_lines``) shows earlier instructions with their measured
    accuracy, so the proposer can move away from what scored badly."""
    notes = "\n".join(f"- {f[:200]}" for f in feedback if f.strip()) or "- make it clearer"
    earlier = ("\n\nEarlier instructions and how often the target answered correctly:\n"
               + "\n".join(history)) if history else ""
    messages = [
        SystemMessage(CREATIVE_SYSTEM),
        HumanMessage(MUTATION_USER.format(quoted=quote_prompt(text), feedback=notes + earlier)),
    ]
    reply = structured_reply(model, messages, RewriteReply, max_attempts=attempts)
    return reply.value.prompt.strip(), reply.attempts


def crossover(a: str, b: str, rng: random.Random) -> str:
    """Sentences of ``a`` and ``b`` interleaved, each kept or dropped at random, no repeats."""
    first, second = _SENTENCE.split(a.strip()), _SENTENCE.split(b.strip())
    chosen: list[str] = []
    for index in range(max(len(first), len(second))):
        for pool in (first, second) if rng.random() < 0.5 else (second, first):
            if index < len(pool) and pool[index] not in chosen and rng.random() < 0.75:
                chosen.append(pool[index])
    return " ".join(chosen) or a


def add_output_constraint(text: str) -> str:
    """``text`` with the one-line answer constraint added to its instruction (once)."""
    instruction, demos = split_demonstrations(text)
    if OUTPUT_CONSTRAINT in instruction:
        return text
    return format_demonstrations(f"{instruction.rstrip()}\n{OUTPUT_CONSTRAINT}", demos)


def hold_to_answers(text: str, choices: Sequence[str]) -> str:
    """``text`` with its replies held to ``choices`` (``tools.answer_choices``), once. The
    choices line joins the instruction, so a crossover carries it with the instruction.
    A kNN prompt is returned as it is: it reads no reply."""
    if parse_choices(text) is not None or parse_knn(text) is not None:
        return text
    instruction = f"{instruction_of(text).rstrip()}\n{answer_choices_line(choices)}"
    dynamic = parse_dynamic(text)
    if dynamic is not None:
        return dynamic_prompt(instruction, dynamic[1])
    return format_demonstrations(instruction, split_demonstrations(text)[1])


def read_by_knn(text: str) -> str:
    """``text`` with its answers read by kNN prompting (``tools.knn_answers``), once; the
    line joins the instruction. A prompt with per-input demonstrations is returned as it
    is: kNN prompting compares inputs under one shared context."""
    if parse_knn(text) is not None or parse_dynamic(text) is not None:
        return text
    instruction, demos = split_demonstrations(text)
    return format_demonstrations(with_knn_line(instruction), demos)


def apply_pattern(text: str, name: str) -> str:
    """``text`` with the prompt pattern ``name`` (see ``PATTERNS``) applied once."""
    prefix, suffix = PATTERNS[name]
    if (prefix and prefix.strip() in text) or (suffix and suffix.strip() in text):
        return text
    return f"{prefix}{text.rstrip()}{suffix}"


def next_patterns(text: str) -> list[str]:
    """Names of the patterns not yet applied to ``text``, in a fixed order."""
    return [name for name in PATTERNS if apply_pattern(text, name) != text]


def add_demonstrations(
    text: str, train: Sequence[Example], count: int, rng: random.Random
) -> str:
    """``text`` followed by ``count`` solved examples drawn from ``train``."""
    if not train or count < 1:
        return text
    picked = rng.sample(list(train), min(count, len(train)))
    return format_demonstrations(instruction_of(text), picked)


def swap_demonstrations(instruction_from: str, demos_from: str) -> str:
    """The instruction of ``instruction_from`` run with the demonstrations of
    ``demos_from`` (a static set or a per-input dynamic choice): how an instruction and a
    demonstration set are searched jointly. Returns ``instruction_from`` unchanged when
    ``demos_from`` has no demonstrations."""
    instruction = instruction_of(instruction_from)
    dynamic = parse_dynamic(demos_from)
    if dynamic is not None:
        return dynamic_prompt(instruction, dynamic[1])
    demos = split_demonstrations(demos_from)[1]
    return format_demonstrations(instruction, demos) if demos else instruction_from


def instruction_of(text: str) -> str:
    """The instruction of a prompt, without its demonstrations (static or per-input)."""
    dynamic = parse_dynamic(text)
    return dynamic[0] if dynamic is not None else split_demonstrations(text)[0]


UNMEASURED = -1.0  # fitness of a candidate a labelled task has not scored on dev yet


def fitness(candidate: Candidate, consensus_scores: dict[str, float],
            measured: bool = False) -> float:
    """Dev accuracy when the task measured one, otherwise the validators' score (0-1).

    With ``measured`` (a labelled task), votes never stand in for accuracy: a candidate
    the budget left unscored is ``UNMEASURED``, below every measured one. (Votes standing
    in for it once let an unmeasured prompt report "1.00 on dev" and win.)
    """
    if candidate.dev_score is not None:
        return candidate.dev_score
    if measured:
        return UNMEASURED
    return consensus_scores.get(candidate.id, 0.0)


def select_elites(
    candidates: Sequence[Candidate], consensus_scores: dict[str, float], count: int,
    measured: bool = False,
) -> list[Candidate]:
    """The ``count`` fittest candidates; ties favour the earlier (older) candidate."""
    ranked = sorted(enumerate(candidates),
                    key=lambda pair: (-fitness(pair[1], consensus_scores, measured), pair[0]))
    return [candidate for _, candidate in ranked[:count]]


def plateaued(best_by_generation: Sequence[float], patience: int = 1,
              epsilon: float = 1e-3) -> bool:
    """True when the best score has not risen by ``epsilon`` for ``patience`` generations."""
    if len(best_by_generation) <= patience:
        return False
    before = max(best_by_generation[:-patience])
    return max(best_by_generation[-patience:]) < before + epsilon


def few_shot_baseline(target: BaseChatModel, instruction: str, train: Sequence[Example],
                      test: Sequence[Example], *, k: int = 3, seeds: Sequence[int] = (0, 1, 2),
                      scorer: str = "contains", gold_answers: Collection[str] = frozenset()
                      ) -> dict[str, float | int | list[float]]:
    """What a user gets for free: ``instruction`` plus ``k`` random train demonstrations.

    Scored on ``test`` once per seed, rendered exactly as the optimizer renders its own
    demonstrations; returns the mean accuracy, each seed's, and the calls it took.
    """
    accuracies, calls = [], 0
    for seed in seeds:
        prompt = add_demonstrations(instruction, train, k, random.Random(seed))
        result = evaluate_prompt(target, prompt, test, scorer=scorer, gold_answers=gold_answers)
        accuracies.append(result.accuracy)
        calls += result.calls
    return {"accuracy": round(sum(accuracies) / len(accuracies), 4),
            "per_seed": [round(a, 4) for a in accuracies], "calls": calls}
