"""Monitor and autopilot: anomaly detection precision/recall on a seeded synthetic trace
with injected faults, and the overhead of one autopilot run on a store of 10,000 runs.

Trace: 6 subjects x 300 hourly windows of latency p95, error rate and quality with
realistic noise (log-normal latency, binomial errors, beta quality) and a slow drift;
faults injected at seeded random windows: latency x2.5-4, error rate +0.2-0.4,
quality -0.2-0.35. Every window is scored (not only the newest); a detection is a true
positive when the window and metric match an injected fault.

Overhead: 10,000 runs, 4,000 routing outcomes and 6,000 votes spread over 7 days,
then one full autopilot run (monitor, proposals, votes, apply, report) with
instant scripted validators and handlers, so the figure excludes model calls.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from neuroforge.analysis.anomalies import RULES, detect_in_values
from neuroforge.graphs.autopilot import ActionHandler, AutopilotDeps, create_autopilot_graph
from neuroforge.knowledge.db import open_database
from neuroforge.knowledge.schema import RoutingDecision, RoutingOutcome, Run, Vote

WINDOWS, SUBJECTS, FAULT_RATE = 300, 6, 0.03
RULE = {r.metric: r for r in RULES}


def synthetic_trace(seed: int = 0) -> tuple[dict[str, dict[str, list[float]]], set[tuple[str,
                                                                                       str, int]]]:
    """Per-subject metric series and the set of injected (subject, metric, window) faults."""
    rng = random.Random(seed)
    trace: dict[str, dict[str, list[float]]] = {}
    faults: set[tuple[str, str, int]] = set()
    for s in range(SUBJECTS):
        subject = f"model:m{s}"
        base_latency, base_error, base_quality = rng.uniform(300, 3000), rng.uniform(0, 0.05), \
            rng.uniform(0.5, 0.85)
        series: dict[str, list[float]] = {"latency_p95_ms": [], "error_rate": [], "quality": []}
        for w in range(WINDOWS):
            drift = 1 + 0.1 * w / WINDOWS
            latency = base_latency * drift * rng.lognormvariate(0, 0.12)
            errors = sum(rng.random() < base_error for _ in range(40)) / 40
            quality = rng.betavariate(base_quality * 60, (1 - base_quality) * 60)
            if w > 24 and rng.random() < FAULT_RATE:
                metric = rng.choice(list(series))
                faults.add((subject, metric, w))
                if metric == "latency_p95_ms":
                    latency *= rng.uniform(2.5, 4)
                elif metric == "error_rate":
                    errors = min(1.0, errors + rng.uniform(0.2, 0.4))
                else:
                    quality = max(0.0, quality - rng.uniform(0.2, 0.35))
            series["latency_p95_ms"].append(latency)
            series["error_rate"].append(errors)
            series["quality"].append(quality)
        trace[subject] = series
    return trace, faults


def detection_quality(seed: int = 0) -> dict[str, Any]:
    """Precision and recall of the monitor's detector on one seeded trace."""
    trace, faults = synthetic_trace(seed)
    found = {(subject, metric, index)
             for subject, series in trace.items() for metric, values in series.items()
             for index, *_ in detect_in_values(values, RULE[metric])}
    true_positive = len(found & faults)
    return {"seed": seed, "injected": len(faults), "flagged": len(found),
            "precision": round(true_positive / len(found), 3) if found else None,
            "recall": round(true_positive / len(faults), 3) if faults else None}


def _seed_store(url: str) -> None:
    rng = random.Random(1)
    now = datetime.now(UTC)
    db = open_database(url)
    with db.session() as session:
        for _ in range(10_000):
            started = now - timedelta(minutes=rng.uniform(0, 7 * 24 * 60))
            seconds = rng.lognormvariate(1, 0.3)
            session.add(Run(graph=rng.choice(["optimize", "route", "chat"]),
                            status="failed" if rng.random() < 0.03 else "succeeded",
                            started_at=started, finished_at=started + timedelta(seconds=seconds),
                            seconds=seconds, outputs={}))
        for i in range(2_000):
            when = now - timedelta(minutes=rng.uniform(0, 7 * 24 * 60))
            decision = RoutingDecision(task=f"task {i}", chosen_model="small", method="neural",
                                       created_at=when)
            session.add(decision)
            session.flush()
            for model in ("small", "large"):
                session.add(RoutingOutcome(decision_id=decision.id if model == "small" else None,
                                           task=f"task {i}", model=model,
                                           quality=rng.random(), latency_ms=rng.uniform(50, 900),
                                           created_at=when))
        voting = Run(graph="optimize", status="succeeded", outputs={})
        session.add(voting)
        session.flush()
        for i in range(6_000):
            session.add(Vote(run_id=voting.id, subject_kind="prompt", subject_id=str(i),
                             voter="v", model=rng.choice(["small", "large"]),
                             decision="accept", score=rng.uniform(0, 10),
                             valid=rng.random() > 0.05,
                             created_at=now - timedelta(minutes=rng.uniform(0, 7 * 24 * 60))))


def autopilot_overhead() -> dict[str, Any]:
    """Wall time of one autopilot run over 10,000 recorded runs, model calls excluded."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        _seed_store(url)
        ballot = json.dumps({"score": 8, "decision": "accept", "rationale": "ok"})
        voter = FakeListChatModel(responses=[ballot] * 1000)
        handler = ActionHandler(lambda params: ({}, {"ok": True}), lambda b, a: {})
        deps = AutopilotDeps(store=open_database(url), model_for=lambda role, t=None: voter,
                             handlers={k: handler for k in ("retrain_router",
                                                            "adjust_threshold",
                                                            "reoptimize_prompt")})
        graph = create_autopilot_graph(deps).compile()
        started = time.perf_counter()
        report = graph.invoke({})["report"]
        seconds = time.perf_counter() - started
    return {"runs_in_store": 10_000, "seconds": round(seconds, 2), "target_seconds": 10,
            "proposed": [a["kind"] for a in report["proposed"]],
            "subjects": report["seen"]["subjects"]}


def run() -> dict[str, Any]:
    quality = [detection_quality(seed) for seed in range(5)]
    precision = [q["precision"] for q in quality if q["precision"] is not None]
    recall = [q["recall"] for q in quality if q["recall"] is not None]
    return {"detector": "median/MAD robust z >= 3.5 over up to 24 prior windows, plus a "
                        "material-change floor",
            "trace": {"subjects": SUBJECTS, "windows": WINDOWS, "fault_rate": FAULT_RATE},
            "per_seed": quality,
            "precision_mean": round(sum(precision) / len(precision), 3),
            "recall_mean": round(sum(recall) / len(recall), 3),
            "autopilot_overhead": autopilot_overhead()}
