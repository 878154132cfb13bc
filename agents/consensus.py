"""Vote aggregation: pluggable rules behind one small interface (``VoteRule.decide``).

Conventions shared by every rule:
- invalid ballots (a voter whose reply never parsed) are dropped and counted;
- abstentions count towards no side and are counted;
- a voter's weight defaults to 1 (``reliability`` supplies learned weights);
- ties break on mean score, then on candidate order (the order given), and the
  outcome's ``reason`` says when a tie was broken.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from neuroforge.agents.schemas import Ballot, ConsensusOutcome

__all__ = [
    "RULES",
    "BordaRule",
    "MajorityRule",
    "ReliabilityRule",
    "ScoreWeightedRule",
    "SupermajorityRule",
    "VoteRule",
    "make_rule",
]


@dataclass(frozen=True)
class _Counts:
    accept: dict[str, float]
    weight: dict[str, float]
    scores: dict[str, list[tuple[float, float]]]
    invalid: int
    abstained: int


def _count(
    ballots: Sequence[Ballot], candidates: Sequence[str], weights: Mapping[str, float]
) -> _Counts:
    accept: dict[str, float] = defaultdict(float)
    weight: dict[str, float] = defaultdict(float)
    scores: dict[str, list[tuple[float, float]]] = defaultdict(list)
    invalid = abstained = 0
    wanted = set(candidates)
    for ballot in ballots:
        if ballot.candidate_id not in wanted:
            continue
        if not ballot.valid:
            invalid += 1
            continue
        if ballot.decision == "abstain":
            abstained += 1
            continue
        w = max(weights.get(ballot.voter, 1.0), 0.0)
        weight[ballot.candidate_id] += w
        if ballot.decision == "accept":
            accept[ballot.candidate_id] += w
        if ballot.score is not None:
            scores[ballot.candidate_id].append((ballot.score, w))
    return _Counts(accept, weight, scores, invalid, abstained)


def _accept_shares(counts: _Counts, candidates: Sequence[str]) -> dict[str, float]:
    """Weighted share of accepting votes per candidate that received any valid vote."""
    return {c: counts.accept[c] / counts.weight[c] for c in candidates if counts.weight[c]}


def _mean_score(pairs: list[tuple[float, float]]) -> float:
    total = sum(w for _, w in pairs)
    return sum(s * w for s, w in pairs) / total if total > 0 else 0.0


def _pick(
    values: Mapping[str, float], candidates: Sequence[str], counts: _Counts
) -> tuple[str | None, bool]:
    """Best candidate by value, ties broken by mean score then order; (winner, tie_broken)."""
    eligible = [c for c in candidates if c in values]
    if not eligible:
        return None, False
    best = max(values[c] for c in eligible)
    tied = [c for c in eligible if abs(values[c] - best) < 1e-9]
    if len(tied) == 1:
        return tied[0], False
    top_score = max(_mean_score(counts.scores[c]) for c in tied)
    by_score = [c for c in tied if abs(_mean_score(counts.scores[c]) - top_score) < 1e-9]
    return by_score[0], True


class VoteRule(ABC):
    """Turns ballots on candidates into a ``ConsensusOutcome``."""

    name: str = "rule"

    @abstractmethod
    def decide(
        self,
        ballots: Sequence[Ballot],
        candidates: Sequence[str],
        weights: Mapping[str, float] | None = None,
    ) -> ConsensusOutcome:
        """Decide among ``candidates`` (ids, in priority order for tie-breaks)."""


class _AcceptShareRule(VoteRule):
    """Winner: highest weighted accept share, which must reach ``threshold``."""

    threshold: float = 0.5
    strict: bool = True  # majority means more than half

    def decide(
        self,
        ballots: Sequence[Ballot],
        candidates: Sequence[str],
        weights: Mapping[str, float] | None = None,
    ) -> ConsensusOutcome:
        counts = _count(ballots, candidates, weights or {})
        shares = _accept_shares(counts, candidates)

        def meets(share: float) -> bool:
            return share > self.threshold if self.strict else share >= self.threshold - 1e-9

        accepted = [c for c in candidates if c in shares and meets(shares[c])]
        winner, tie = _pick(shares, candidates, counts)
        reached = winner is not None and winner in accepted
        return _outcome(self.name, winner, reached, shares, accepted, counts, tie,
                        f"accept share {'>' if self.strict else '>='} {self.threshold:.2f}")


class MajorityRule(_AcceptShareRule):
    """More than half of the (weighted) valid votes accept."""

    name = "majority"


@dataclass
class SupermajorityRule(_AcceptShareRule):
    """At least ``min_agreement`` of the valid votes accept."""

    threshold: float = 2 / 3
    name: str = "supermajority"
    strict: bool = False


@dataclass
class ScoreWeightedRule(VoteRule):
    """Winner: highest weighted mean score; reached when its accept share >= ``min_agreement``."""

    min_agreement: float = 0.5
    name: str = "score"

    def decide(
        self,
        ballots: Sequence[Ballot],
        candidates: Sequence[str],
        weights: Mapping[str, float] | None = None,
    ) -> ConsensusOutcome:
        counts = _count(ballots, candidates, weights or {})
        means = {c: _mean_score(counts.scores[c]) for c in candidates if counts.scores[c]}
        shares = _accept_shares(counts, candidates)
        accepted = [c for c in candidates if shares.get(c, 0.0) >= self.min_agreement - 1e-9]
        winner, tie = _pick(means, candidates, counts)
        reached = winner is not None and winner in accepted
        return _outcome(self.name, winner, reached, means, accepted, counts, tie,
                        f"best mean score, accept share >= {self.min_agreement:.2f}")


@dataclass
class BordaRule(VoteRule):
    """Each voter ranks candidates by score; n-1 points for first, 0 for last.

    Reached when at least ``min_agreement`` of voters rank the winner first.
    """

    min_agreement: float = 0.5
    name: str = "borda"

    def decide(
        self,
        ballots: Sequence[Ballot],
        candidates: Sequence[str],
        weights: Mapping[str, float] | None = None,
    ) -> ConsensusOutcome:
        weights = weights or {}
        counts = _count(ballots, candidates, weights)
        by_voter: dict[str, dict[str, float]] = defaultdict(dict)
        for b in ballots:
            if b.valid and b.decision != "abstain" and b.score is not None and b.candidate_id in (
                candidates
            ):
                by_voter[b.voter][b.candidate_id] = b.score
        points: dict[str, float] = defaultdict(float)
        firsts: dict[str, float] = defaultdict(float)
        total_weight = 0.0
        for voter, scored in by_voter.items():
            w = max(weights.get(voter, 1.0), 0.0)
            total_weight += w
            order = sorted(scored, key=lambda c: (-scored[c], candidates.index(c)))
            for rank, candidate in enumerate(order):
                points[candidate] += w * (len(order) - 1 - rank)
            firsts[order[0]] += w
        winner, tie = _pick(dict(points), candidates, counts)
        agreement = firsts[winner] / total_weight if winner and total_weight else 0.0
        accepted = [c for c in candidates if total_weight and
                    firsts[c] / total_weight >= self.min_agreement - 1e-9]
        reached = winner is not None and agreement >= self.min_agreement - 1e-9
        outcome = _outcome(self.name, winner, reached, dict(points), accepted, counts, tie,
                           f"Borda points, first choice of >= {self.min_agreement:.2f} of voters")
        outcome.agreement = agreement
        return outcome


@dataclass
class ReliabilityRule(_AcceptShareRule):
    """Majority in which each voter weighs as much as their past reliability.

    Weights come from ``neuroforge.knowledge.records.voter_reliability`` (agreement with past
    final decisions, Laplace-smoothed); unknown voters weigh 0.5.
    """

    threshold: float = 0.5
    name: str = "reliability"
    strict: bool = True

    def decide(
        self,
        ballots: Sequence[Ballot],
        candidates: Sequence[str],
        weights: Mapping[str, float] | None = None,
    ) -> ConsensusOutcome:
        voters = {b.voter for b in ballots}
        known = dict(weights or {})
        return super().decide(ballots, candidates, {v: known.get(v, 0.5) for v in voters})


def _outcome(
    rule: str,
    winner: str | None,
    reached: bool,
    tally: Mapping[str, float],
    accepted: list[str],
    counts: _Counts,
    tie: bool,
    criterion: str,
) -> ConsensusOutcome:
    if winner is None:
        reason = "no valid ballots"
    elif reached:
        reason = f"{winner} wins ({criterion})"
    else:
        reason = f"no candidate met the bar ({criterion}); best was {winner}"
    if tie:
        reason += "; a tie was broken by mean score, then candidate order"
    agreement = 0.0
    if winner is not None:
        total = counts.weight[winner]
        agreement = counts.accept[winner] / total if total else 0.0
    return ConsensusOutcome(
        rule=rule, winner=winner, reached=reached, agreement=round(agreement, 4),
        tally={k: round(v, 4) for k, v in tally.items()}, accepted=accepted,
        invalid_ballots=counts.invalid, abstentions=counts.abstained, reason=reason,
    )


RULES: dict[str, Callable[[float], VoteRule]] = {
    "majority": lambda _min_agreement: MajorityRule(),
    "supermajority": lambda min_agreement: SupermajorityRule(threshold=min_agreement),
    "score": lambda min_agreement: ScoreWeightedRule(min_agreement=min_agreement),
    "borda": lambda min_agreement: BordaRule(min_agreement=min_agreement),
    "reliability": lambda _min_agreement: ReliabilityRule(),
}


def make_rule(name: str, min_agreement: float = 2 / 3) -> VoteRule:
    """The rule registered as ``name``; ``min_agreement`` in (0, 1]."""
    if name not in RULES:
        raise ValueError(f"unknown vote rule {name!r}; choose from {', '.join(RULES)}")
    if not 0 < min_agreement <= 1:
        raise ValueError(f"min_agreement must be in (0, 1], got {min_agreement}")
    return RULES[name](min_agreement)
