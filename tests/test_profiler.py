import pytest

from neuroforge.models.backends import ModelUnavailableError
from neuroforge.models.probes import PROBES
from neuroforge.models.profiler import percentile, profile_chat_model
from tests.fakes import ScriptedChatModel


def test_probe_set_has_fifty_varied_probes() -> None:
    assert len(PROBES) == 50
    assert len({p.kind for p in PROBES}) == 10
    assert len({p.prompt for p in PROBES}) == 50


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([10.0], 0.95) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([0.0, 100.0], 0.95) == pytest.approx(95.0)


def test_profile_counts_validity_first_tries_and_answers() -> None:
    sentiment = [p for p in PROBES if p.kind == "sentiment"][:2]  # expect positive, negative
    replies = [
        "Hello!",  # first-token stream probe
        '{"label": "positive", "confidence": 0.9}',  # valid, correct
        "no idea",  # invalid, then ...
        '{"label": "positive", "confidence": 0.4}',  # ... valid on retry, wrong answer
    ]
    model = ScriptedChatModel.from_replies(replies)
    stats, outcomes = profile_chat_model(model, probes=sentiment, max_attempts=2)
    assert stats.probes == 2
    assert stats.structured_valid_rate == 1.0 and stats.first_try_valid_rate == 0.5
    assert stats.details["answer_accuracy"] == 0.5
    assert stats.error_rate == 0.0 and stats.first_token_ms is not None
    assert [o.correct for o in outcomes] == [True, False]


def test_backend_errors_count_as_errors_not_crashes() -> None:
    down = ModelUnavailableError("m", "http://h", "cannot connect")
    model = ScriptedChatModel.from_replies([down, down, down])
    stats, outcomes = profile_chat_model(model, probes=PROBES[:2])
    assert stats.error_rate == 1.0 and stats.structured_valid_rate == 0.0
    assert stats.first_token_ms is None
    assert all(o.model_failed for o in outcomes)
