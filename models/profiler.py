"""Profile a chat model on the probe set: latency, tokens/s, structured-output validity."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage

from neuroforge.knowledge.registry import ProfileStats
from neuroforge.models.backends import ModelError, as_model_error
from neuroforge.models.probes import PROBES, Probe
from neuroforge.models.structured import StructuredOutputError, structured_reply

__all__ = [
    "ProbeOutcome", "measure_first_token", "percentile", "profile_chat_model", "profile_models",
    "spread_probes",
]


@dataclass(frozen=True)
class ProbeOutcome:
    """How one probe went."""

    kind: str
    valid: bool
    first_try: bool
    correct: bool | None
    seconds: float
    output_tokens: int
    error: str | None = None
    model_failed: bool = False


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = int(position), min(int(position) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _matches(expected: object, actual: object) -> bool:
    if isinstance(expected, float) and isinstance(actual, int | float):
        return abs(float(actual) - expected) < 1e-6
    return actual == expected


def run_probe(model: BaseChatModel, probe: Probe, max_attempts: int) -> ProbeOutcome:
    """Ask one probe; model errors become failed outcomes, not exceptions."""
    started = time.perf_counter()
    try:
        reply = structured_reply(
            model, [HumanMessage(probe.prompt)], probe.schema, max_attempts=max_attempts
        )
    except StructuredOutputError as exc:
        return ProbeOutcome(probe.kind, False, False, None, time.perf_counter() - started, 0,
                            exc.error)
    except Exception as exc:
        typed = as_model_error(exc, model)
        if typed is None:
            raise
        return ProbeOutcome(probe.kind, False, False, None, time.perf_counter() - started, 0,
                            str(typed), model_failed=True)
    correct = None
    if probe.expect is not None:
        key, expected = probe.expect
        correct = _matches(expected, getattr(reply.value, key))
    return ProbeOutcome(
        probe.kind, True, reply.attempts == 1, correct, reply.seconds, reply.output_tokens
    )


def measure_first_token(model: BaseChatModel, prompt: str = "Name three colours.") -> float:
    """Seconds from request to the first streamed text chunk."""
    started = time.perf_counter()
    try:
        for chunk in model.stream([HumanMessage(prompt)]):
            if chunk.text:
                return time.perf_counter() - started
    except Exception as exc:
        typed = as_model_error(exc, model)
        raise (typed or exc) from exc
    return time.perf_counter() - started


def profile_chat_model(
    model: BaseChatModel,
    *,
    probes: Sequence[Probe] = PROBES,
    max_attempts: int = 3,
    on_probe: Callable[[int, ProbeOutcome], None] | None = None,
) -> tuple[ProfileStats, list[ProbeOutcome]]:
    """Run ``probes`` against ``model`` and summarize; ``on_probe`` reports progress."""
    if not probes:
        raise ValueError("profiling needs at least one probe")
    try:
        first_token_ms: float | None = measure_first_token(model) * 1000
    except ModelError:
        first_token_ms = None
    outcomes = []
    for index, probe in enumerate(probes):
        outcome = run_probe(model, probe, max_attempts)
        outcomes.append(outcome)
        if on_probe:
            on_probe(index, outcome)
    answered = [o for o in outcomes if o.valid]
    latencies = [o.seconds * 1000 for o in outcomes if o.valid]
    tokens, seconds = sum(o.output_tokens for o in answered), sum(o.seconds for o in answered)
    checked = [o for o in outcomes if o.correct is not None]
    model_errors = [o for o in outcomes if o.model_failed]
    stats = ProfileStats(
        probes=len(outcomes),
        latency_p50_ms=percentile(latencies, 0.5),
        latency_p95_ms=percentile(latencies, 0.95),
        tokens_per_s=tokens / seconds if seconds > 0 else 0.0,
        first_token_ms=first_token_ms,
        structured_valid_rate=sum(o.valid for o in outcomes) / len(outcomes),
        first_try_valid_rate=sum(o.first_try for o in outcomes) / len(outcomes),
        error_rate=len(model_errors) / len(outcomes),
        details={
            "answer_accuracy": (sum(bool(o.correct) for o in checked) / len(checked))
            if checked else None,
            "kinds": sorted({o.kind for o in outcomes}),
        },
    )
    return stats, outcomes


def spread_probes(count: int, probes: Sequence[Probe] = PROBES) -> list[Probe]:
    """``count`` probes spread over all ten kinds, not the first kind only."""
    kinds = sorted({p.kind for p in probes}, key=[p.kind for p in probes].index)
    per_kind = {k: [p for p in probes if p.kind == k] for k in kinds}
    chosen = []
    for i in range(count):
        group = per_kind[kinds[i % len(kinds)]]
        chosen.append(group[(i // len(kinds)) % len(group)])
    return chosen


def profile_models(
    names: Sequence[str],
    make_model: Callable[[str], BaseChatModel],
    record: Callable[[str, ProfileStats], None],
    *,
    probes: Sequence[Probe],
    max_attempts: int = 3,
    on_start: Callable[[str], None] | None = None,
) -> list[dict[str, object]]:
    """Profile each named model, ``record`` its figures, and return them as plain dicts.

    Raises ``ModelError`` when a backend fails outright; models profiled before it
    stay recorded.
    """
    results: list[dict[str, object]] = []
    for name in names:
        if on_start:
            on_start(name)
        stats, _outcomes = profile_chat_model(make_model(name), probes=probes,
                                              max_attempts=max_attempts)
        record(name, stats)
        results.append({"model": name, **stats.__dict__})
    return results
