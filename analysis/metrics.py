"""Operational metrics read from the knowledge store, bucketed into time windows.

Per graph: runs, error rate, latency p50/p95 (run seconds). Per model: latency p50/p95
and judged quality of routed executions, invalid-ballot rate and mean vote score,
routing regret (the best quality recorded for the same task minus the chosen model's),
and tokens/s from the newest profile. Each series is a list of windows, oldest first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from neuroforge.knowledge.schema import (
    ModelProfile,
    ModelRecord,
    RoutingDecision,
    RoutingOutcome,
    Run,
    Vote,
)

__all__ = ["MetricWindow", "Series", "collect_series", "series_as_dict", "window_start"]


@dataclass
class MetricWindow:
    """One time window of one subject: metric name -> value (absent when no data)."""

    start: datetime
    values: dict[str, float] = field(default_factory=dict)
    samples: int = 0


@dataclass
class Series:
    """A subject's windows, oldest first: ``graph:optimize`` or ``model:llama3.2:3b``."""

    subject: str
    windows: list[MetricWindow]

    def latest(self) -> dict[str, float]:
        """The newest window's values (empty when there are no windows)."""
        return self.windows[-1].values if self.windows else {}


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns; they were stored as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def window_start(moment: datetime, width: timedelta) -> datetime:
    """The start of the window of ``width`` that holds ``moment`` (aligned to the epoch)."""
    seconds = width.total_seconds()
    stamp = _aware(moment).timestamp()
    return datetime.fromtimestamp(stamp - stamp % seconds, UTC)


def _bucket(rows: Iterable[tuple[str, datetime, dict[str, float]]], width: timedelta
            ) -> dict[str, dict[datetime, list[dict[str, float]]]]:
    buckets: dict[str, dict[datetime, list[dict[str, float]]]] = defaultdict(
        lambda: defaultdict(list))
    for subject, moment, sample in rows:
        buckets[subject][window_start(moment, width)].append(sample)
    return buckets


def _summarize(samples: list[dict[str, float]]) -> dict[str, float]:
    """Window values from per-event samples: rates, means and latency percentiles."""
    out: dict[str, float] = {}
    for key in ("error", "invalid"):
        values = [s[key] for s in samples if key in s]
        if values:
            out[f"{key}_rate"] = float(np.mean(values))
    for key in ("quality", "vote_score", "regret"):
        values = [s[key] for s in samples if key in s]
        if values:
            out[key] = float(np.mean(values))
    latencies = [s["latency_ms"] for s in samples if "latency_ms" in s]
    if latencies:
        out["latency_p50_ms"] = float(np.percentile(latencies, 50))
        out["latency_p95_ms"] = float(np.percentile(latencies, 95))
    return out


def _run_rows(session: Session, since: datetime) -> list[tuple[str, datetime, dict[str, float]]]:
    rows = session.execute(select(Run.graph, Run.started_at, Run.status, Run.seconds)
                           .where(Run.started_at >= since,
                                  Run.status.in_(("succeeded", "failed")))).all()
    out = []
    for graph, started, status, seconds in rows:
        sample = {"error": 1.0 if status == "failed" else 0.0}
        if seconds is not None and status != "failed":
            sample["latency_ms"] = seconds * 1000
        out.append((f"graph:{graph}", started, sample))
    return out


def _model_rows(session: Session, since: datetime
                ) -> list[tuple[str, datetime, dict[str, float]]]:
    out: list[tuple[str, datetime, dict[str, float]]] = []
    outcomes = session.execute(
        select(RoutingOutcome.task, RoutingOutcome.model, RoutingOutcome.quality,
               RoutingOutcome.latency_ms, RoutingOutcome.created_at,
               RoutingDecision.chosen_model)
        .outerjoin(RoutingDecision, RoutingDecision.id == RoutingOutcome.decision_id)
        .where(RoutingOutcome.created_at >= since)).all()
    best: dict[str, float] = defaultdict(float)
    for o in outcomes:
        best[o.task] = max(best[o.task], o.quality)
    for o in outcomes:
        sample = {"quality": o.quality}
        if o.latency_ms is not None:
            sample["latency_ms"] = o.latency_ms
        if o.chosen_model == o.model:
            sample["regret"] = best[o.task] - o.quality
        out.append((f"model:{o.model}", o.created_at, sample))
    votes = session.execute(select(Vote.model, Vote.valid, Vote.score, Vote.created_at)
                            .where(Vote.created_at >= since, Vote.model.is_not(None))).all()
    for v in votes:
        sample = {"invalid": 0.0 if v.valid else 1.0}
        if v.valid and v.score is not None:
            sample["vote_score"] = v.score
        out.append((f"model:{v.model}", v.created_at, sample))
    return out


def _tokens_per_s(session: Session) -> dict[str, float]:
    rows = session.execute(select(ModelRecord.name, ModelProfile.tokens_per_s)
                           .join(ModelProfile, ModelProfile.model_id == ModelRecord.id)
                           .order_by(ModelProfile.created_at)).all()
    return {f"model:{name}": tps for name, tps in rows}  # newest profile wins


def collect_series(session: Session, *, days: float = 7.0, window_minutes: float = 60.0,
                   now: datetime | None = None) -> list[Series]:
    """Every graph's and model's metric windows over the last ``days``."""
    now = _aware(now or datetime.now(UTC))
    since = now - timedelta(days=days)
    width = timedelta(minutes=window_minutes)
    buckets = _bucket([*_run_rows(session, since), *_model_rows(session, since)], width)
    speeds = _tokens_per_s(session)
    series = []
    for subject in sorted(buckets):
        windows = [MetricWindow(start, _summarize(samples), len(samples))
                   for start, samples in sorted(buckets[subject].items())]
        if subject in speeds and windows:
            windows[-1].values["tokens_per_s"] = speeds[subject]
        series.append(Series(subject, windows))
    return series


def series_as_dict(series: Series) -> dict[str, Any]:
    """JSON-ready form of a series (window starts as ISO strings)."""
    return {"subject": series.subject,
            "windows": [{"start": w.start.isoformat(), "samples": w.samples,
                         **{k: round(v, 4) for k, v in w.values.items()}}
                        for w in series.windows]}
