"""Pydantic shapes of what agents say: model-facing replies and the records built from them.

Model-facing replies (``*Reply``) are small and bounded so a 135M model can fill
them under a grammar; records add the fields code fills in (ids, voter names).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "Ballot",
    "BallotReply",
    "Candidate",
    "ConsensusOutcome",
    "Finding",
    "FindingReply",
    "RewriteReply",
]

Decision = Literal["accept", "reject", "abstain"]


class FindingReply(BaseModel):
    """What the analyst model writes for one perspective."""

    issue: str = Field(max_length=240, description="the main problem seen from this perspective")
    evidence: str = Field(max_length=240, description="words quoted from the prompt that show it")
    severity: int = Field(ge=1, le=5, description="1 minor to 5 severe")
    suggestion: str = Field(max_length=240, description="one concrete change that fixes it")


class Finding(FindingReply):
    """A finding with its perspective and a short id (F1, F2, ...)."""

    id: str
    perspective: str


class RewriteReply(BaseModel):
    """What the creative model writes for one candidate."""

    prompt: str = Field(min_length=1, max_length=1500, description="the complete rewritten prompt")
    addresses: list[str] = Field(
        default_factory=list, max_length=5, description="ids of the findings it fixes, e.g. F1"
    )


class BallotReply(BaseModel):
    """What a validator model writes about one candidate."""

    score: int = Field(ge=0, le=10, description="quality from 0 (useless) to 10 (excellent)")
    decision: Literal["accept", "reject"] = Field(description="accept if better than the original")
    rationale: str = Field(max_length=300, description="one or two sentences of reasons")


class Candidate(BaseModel):
    """A prompt version under optimization."""

    id: str
    text: str
    origin: Literal["original", "rewrite", "mutation", "crossover", "demonstrations"]
    generation: int = 0
    parents: list[str] = Field(default_factory=list)
    addresses: list[str] = Field(default_factory=list)
    note: str = ""
    # One of the free baselines the search starts from (the instruction with 3 random or
    # the 3 nearest demonstrations; later, with the 5 nearest): always scored on all of
    # dev, never cut in the race, so the final choice is measured against them.
    baseline: bool = False
    # The race never cuts it at its first rung either: the best instruction with its
    # nearest examples per input, a child whose prior is strong (better than 3 nearest or
    # 5 random on dev across tasks) and which 8 examples cannot rank; or the kNN seed,
    # whose anchors are paid before its first answer.
    never_cut: bool = False
    dev_score: float | None = None
    dev_hits: list[bool] | None = None  # right/wrong per dev example, for the paired guard
    # The race on dev (successive halving): how many dev examples it was scored on so
    # far, and its accuracy on those; ``dev_score`` is set only once it saw them all.
    dev_seen: int = 0
    dev_partial: float | None = None
    # Dev inputs it did not fit the target's context with (scored wrong) in its runs.
    dev_unfit: int = 0
    # Without a labelled task: what the target model answered to this prompt, so judges
    # see what the prompt does, not only what it says.
    sample_output: str | None = None


class Ballot(BaseModel):
    """One voter's vote on one candidate in one round; invalid when the voter failed."""

    voter: str
    candidate_id: str
    decision: Decision
    score: float | None = None
    rationale: str = ""
    round: int = 0
    generation: int = 0
    valid: bool = True


class ConsensusOutcome(BaseModel):
    """What a vote rule decided, with the numbers behind it."""

    rule: str
    winner: str | None
    reached: bool
    agreement: float = Field(description="share of effective weight behind the winner")
    tally: dict[str, float] = Field(default_factory=dict)
    accepted: list[str] = Field(default_factory=list, description="candidates meeting the bar")
    invalid_ballots: int = 0
    abstentions: int = 0
    reason: str = ""
