"""Graph states: a narrow input for callers, a fuller internal state, and branch payloads.

Values are plain JSON-ready dicts (``Candidate.model_dump()`` and friends) so that
checkpointers and the LangGraph server store them without custom serializers.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, NotRequired

from typing_extensions import TypedDict

__all__ = [
    "AnalyseTask",
    "OptimizeInput",
    "OptimizeOutput",
    "OptimizeState",
    "RouteInput",
    "RouteOutput",
    "RouteState",
    "VoteTask",
    "add_counts",
    "merge_dicts",
]


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: later keys win, nested values replaced whole."""
    return {**(left or {}), **(right or {})}


def add_counts(left: dict[str, int] | None, right: dict[str, int] | None) -> dict[str, int]:
    """Reducer: counts summed key by key."""
    out = dict(left or {})
    for key, value in (right or {}).items():
        out[key] = out.get(key, 0) + value
    return out


class OptimizeInput(TypedDict):
    """What a caller gives the optimize graph; only ``prompt`` is required."""

    prompt: str
    task: NotRequired[str | None]
    generations: NotRequired[int]
    population: NotRequired[int]
    voters: NotRequired[int]
    min_agreement: NotRequired[float]
    vote_rule: NotRequired[str]
    budget: NotRequired[int]
    debate_rounds: NotRequired[int]
    seed: NotRequired[int]
    agents: NotRequired[bool]  # False: search only (seeds and operators, no agent calls)
    scorer: NotRequired[str]  # contains (default), exact or numeric
    time_limit: NotRequired[float | None]  # seconds for the search; None: calls bound it
    train_evidence: NotRequired[bool]  # the free choice made on train + dev (needs a task)
    knn_seed: NotRequired[bool]  # a kNN-prompting seed on a closed-set task (needs a task)
    run_id: NotRequired[str]


class OptimizeOutput(TypedDict):
    """What the graph returns to a caller."""

    result: dict[str, Any]
    events: list[str]


class OptimizeState(OptimizeInput):
    """Internal state of one optimization run."""

    options: NotRequired[dict[str, Any]]
    findings: Annotated[list[dict[str, Any]], operator.add]
    candidates: Annotated[dict[str, dict[str, Any]], merge_dicts]
    population_ids: NotRequired[list[str]]
    ballots: Annotated[list[dict[str, Any]], operator.add]
    consensus: NotRequired[dict[str, Any]]
    consensus_scores: Annotated[dict[str, float], merge_dicts]
    accepted_ids: Annotated[list[str], operator.add]
    generation: NotRequired[int]
    round: NotRequired[int]
    calls_used: Annotated[int, operator.add]
    # Where the calls went: analysis, proposals, ballots, dev_scoring (or sample_answers
    # without a task), test.
    calls_by_phase: Annotated[dict[str, int], add_counts]
    best_by_generation: Annotated[list[float], operator.add]
    events: Annotated[list[str], operator.add]
    errors: Annotated[list[str], operator.add]
    stop_reason: NotRequired[str]
    # Training examples the current best prompt answers right: bootstrapped demonstrations.
    bootstrapped: NotRequired[list[dict[str, str]]]
    # With train evidence: the free prompts' ids and the choice among them on train + dev
    # (``agents.free_choice``; evidence None when time or budget gave too few answers).
    free_choice: NotRequired[dict[str, Any]]
    result: NotRequired[dict[str, Any]]


class AnalyseTask(TypedDict):
    """Payload of one analyst branch (one perspective)."""

    prompt: str
    perspective: str
    finding_id: str
    run_id: str
    failures: NotRequired[list[str]]  # the target's mistakes on training examples


class VoteTask(TypedDict):
    """Payload of one voter branch: every candidate of the population, one round."""

    voter: dict[str, Any]
    original: str
    candidates: list[dict[str, Any]]
    round: int
    generation: int
    debate: str
    run_id: str
    budget: NotRequired[int]  # this branch's share of the calls left; never exceeded


class RouteInput(TypedDict):
    """What a caller gives the route graph."""

    task: str
    execute: NotRequired[bool]
    cost_weight: NotRequired[float]
    models: NotRequired[list[str]]  # only these available models are candidates


class RouteOutput(TypedDict):
    """What the route graph returns."""

    decision: dict[str, Any]
    answer: NotRequired[str]
    outcome: NotRequired[dict[str, Any]]
    events: list[str]


class RouteState(RouteInput):
    """Internal state of one routing decision."""

    options: NotRequired[list[dict[str, Any]]]
    votes: Annotated[list[dict[str, Any]], operator.add]
    decision: NotRequired[dict[str, Any]]
    answer: NotRequired[str]
    outcome: NotRequired[dict[str, Any]]
    events: Annotated[list[str], operator.add]
    errors: Annotated[list[str], operator.add]
