import json

import pytest

from neuroforge.agents.consensus import RULES, make_rule
from neuroforge.agents.schemas import Ballot
from neuroforge.agents.validator import cast_ballot, make_voters
from tests.fakes import FunctionChatModel


def b(voter: str, cand: str, decision: str, score: float | None = None, valid: bool = True
      ) -> Ballot:
    return Ballot(voter=voter, candidate_id=cand, decision=decision, score=score,  # type: ignore[arg-type]
                  valid=valid)


def test_majority_needs_more_than_half() -> None:
    ballots = [b("v1", "A", "accept", 8), b("v2", "A", "reject", 4), b("v3", "B", "accept", 6),
               b("v1", "B", "accept", 7), b("v2", "B", "reject", 5)]
    outcome = make_rule("majority").decide(ballots, ["A", "B"])
    assert outcome.winner == "B" and outcome.reached
    assert outcome.tally == {"A": 0.5, "B": pytest.approx(0.6667, abs=1e-4)}
    assert outcome.accepted == ["B"]


def test_exact_half_is_not_a_majority_but_meets_a_half_supermajority() -> None:
    ballots = [b("v1", "A", "accept", 8), b("v2", "A", "reject", 4)]
    assert not make_rule("majority").decide(ballots, ["A"]).reached
    assert make_rule("supermajority", 0.5).decide(ballots, ["A"]).reached
    assert not make_rule("supermajority", 0.75).decide(ballots, ["A"]).reached


def test_abstentions_and_invalid_ballots_are_excluded_and_counted() -> None:
    ballots = [b("v1", "A", "accept", 8), b("v2", "A", "abstain"),
               b("v3", "A", "abstain", valid=False), b("v4", "A", "reject", 2, valid=False)]
    outcome = make_rule("majority").decide(ballots, ["A"])
    assert outcome.reached and outcome.agreement == 1.0
    assert outcome.abstentions == 1 and outcome.invalid_ballots == 2


def test_no_valid_ballots_reaches_nothing() -> None:
    for name in RULES:
        outcome = make_rule(name, 0.5).decide([b("v1", "A", "accept", 9, valid=False)], ["A"])
        assert outcome.winner is None and not outcome.reached
        assert outcome.reason == "no valid ballots"


def test_ties_break_on_mean_score_then_order_and_say_so() -> None:
    ballots = [b("v1", "A", "accept", 6), b("v1", "B", "accept", 9)]
    outcome = make_rule("majority").decide(ballots, ["A", "B"])
    assert outcome.winner == "B" and "tie" in outcome.reason
    same = [b("v1", "A", "accept", 7), b("v1", "B", "accept", 7)]
    assert make_rule("majority").decide(same, ["A", "B"]).winner == "A"
    assert make_rule("majority").decide(same, ["B", "A"]).winner == "B"


def test_score_rule_picks_best_mean_but_needs_agreement() -> None:
    ballots = [b("v1", "A", "reject", 9), b("v2", "A", "reject", 9), b("v1", "B", "accept", 6),
               b("v2", "B", "accept", 6)]
    outcome = make_rule("score", 0.5).decide(ballots, ["A", "B"])
    assert outcome.winner == "A" and not outcome.reached and outcome.accepted == ["B"]


def test_borda_counts_rankings() -> None:
    # v1: A > B > C; v2: B > A > C; v3: B > C > A  => B wins with 5 points.
    scores = {"v1": {"A": 9, "B": 5, "C": 1}, "v2": {"A": 6, "B": 8, "C": 2},
              "v3": {"A": 1, "B": 7, "C": 4}}
    ballots = [b(v, c, "accept", s) for v, row in scores.items() for c, s in row.items()]
    outcome = make_rule("borda", 0.6).decide(ballots, ["A", "B", "C"])
    assert outcome.tally == {"A": 3.0, "B": 5.0, "C": 1.0}
    assert outcome.winner == "B" and outcome.reached and outcome.agreement == pytest.approx(2 / 3)
    assert not make_rule("borda", 0.7).decide(ballots, ["A", "B", "C"]).reached


def test_reliability_weights_change_the_outcome() -> None:
    ballots = [b("trusted", "A", "accept", 8), b("flaky1", "A", "reject", 3),
               b("flaky2", "A", "reject", 3)]
    plain = make_rule("majority").decide(ballots, ["A"])
    weighted = make_rule("reliability").decide(
        ballots, ["A"], {"trusted": 0.95, "flaky1": 0.2, "flaky2": 0.2})
    assert not plain.reached and weighted.reached
    assert weighted.agreement == pytest.approx(0.95 / 1.35, abs=1e-3)


def test_unknown_rule_and_bad_agreement_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown vote rule"):
        make_rule("dictator")
    with pytest.raises(ValueError, match="min_agreement"):
        make_rule("supermajority", 1.5)


@pytest.mark.parametrize(("reply", "valid"), [
    ({"score": 2, "decision": "accept", "rationale": "weak"}, False),
    ({"score": 10, "decision": "reject", "rationale": "perfect"}, False),
    ({"score": 8, "decision": "accept", "rationale": "clearer"}, True),
    ({"score": 5, "decision": "reject", "rationale": "no better"}, True),
])
def test_a_ballot_whose_decision_contradicts_its_score_is_invalid(reply: dict, valid: bool
                                                                  ) -> None:
    model = FunctionChatModel(respond=lambda _messages: json.dumps(reply))
    ballot, _ = cast_ballot(model, make_voters(1)[0], "Write about dogs.", "c1",
                            "Write three facts about dogs.")
    assert ballot.valid is valid
    if not valid:
        assert ballot.decision == "abstain" and "contradicts itself" in ballot.rationale
