"""Structured-output validity and latency of the embedded model on the 50 probes."""

from __future__ import annotations

from typing import Any

from neuroforge.models.embedded import EmbeddedChatModel
from neuroforge.models.probes import PROBES
from neuroforge.models.profiler import percentile, run_probe


def run() -> dict[str, Any]:
    model = EmbeddedChatModel(temperature=0.2, max_tokens=256, seed=7)
    outcomes = [run_probe(model, probe, max_attempts=3) for probe in PROBES]
    latencies = [o.seconds * 1000 for o in outcomes if o.valid]
    checked = [o for o in outcomes if o.correct is not None]
    by_kind: dict[str, dict[str, float]] = {}
    for kind in sorted({o.kind for o in outcomes}):
        mine = [o for o in outcomes if o.kind == kind]
        by_kind[kind] = {
            "valid_rate": sum(o.valid for o in mine) / len(mine),
            "first_try_rate": sum(o.first_try for o in mine) / len(mine),
        }
    return {
        "model": model.model_name,
        "probes": len(outcomes),
        "valid_rate": sum(o.valid for o in outcomes) / len(outcomes),
        "first_try_valid_rate": sum(o.first_try for o in outcomes) / len(outcomes),
        "latency_ms_p50": round(percentile(latencies, 0.5), 1),
        "latency_ms_p95": round(percentile(latencies, 0.95), 1),
        "answer_accuracy_where_known": round(
            sum(bool(o.correct) for o in checked) / len(checked), 3
        ),
        "answer_checks": len(checked),
        "by_kind": by_kind,
        "failures": [o.error for o in outcomes if not o.valid],
    }
