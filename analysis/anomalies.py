"""The monitor: finds anomalies in the store's metric windows and keeps alerts.

Method: robust statistics, not a learned model. Each window is compared with the
median of the windows before it (up to ``baseline``), scaled by the median absolute
deviation; a window is anomalous when its robust z-score passes ``z_threshold`` in
the harmful direction *and* the change is material (``min_change``). Why: a store
holds tens to hundreds of windows per subject, far too few to train an autoencoder
that beats this, while median/MAD needs no training, ignores past spikes in its own
baseline, and every alert can say exactly why it fired ("p95 latency 2400 ms against
a median of 800 ms"). Precision and recall are measured in ``benchmarks/monitor.py``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from neuroforge.analysis.metrics import Series, collect_series
from neuroforge.knowledge.schema import Alert, utcnow

__all__ = ["RULES", "Anomaly", "MetricRule", "detect", "detect_in_values", "monitor_store",
           "store_alerts"]


@dataclass(frozen=True)
class MetricRule:
    """How one metric goes wrong: its bad direction and the smallest change that matters."""

    metric: str
    kind: str
    higher_is_worse: bool
    min_change: float  # absolute for rates and scores; relative (share) for latencies
    relative: bool = False


RULES = (
    MetricRule("latency_p50_ms", "latency_spike", True, 0.5, relative=True),
    MetricRule("latency_p95_ms", "latency_spike", True, 0.5, relative=True),
    MetricRule("error_rate", "error_rise", True, 0.15),
    MetricRule("invalid_rate", "invalid_output_rise", True, 0.15),
    MetricRule("quality", "quality_drop", False, 0.15),
    MetricRule("vote_score", "quality_drop", False, 1.5),
    MetricRule("regret", "regret_rise", True, 0.15),
)


@dataclass(frozen=True)
class Anomaly:
    """One anomalous window of one metric of one subject."""

    subject: str
    metric: str
    kind: str
    window_start: str
    value: float
    baseline: float
    z: float

    @property
    def fingerprint(self) -> str:
        """Alerts about one metric of one subject are one alert, however often it fires."""
        return f"{self.kind}:{self.metric}:{self.subject}"[:200]

    def message(self) -> str:
        """A sentence a person can act on."""
        return (f"{self.subject}: {self.metric} {_readable(self.value)} against a median of "
                f"{_readable(self.baseline)} (robust z {self.z:.1f}) in the window from "
                f"{self.window_start[:16].replace('T', ' ')}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self) | {"message": self.message()}


def _readable(value: float) -> str:
    """9000.0 -> "9,000", 0.0123 -> "0.0123": whole numbers where they are large."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _robust_z(value: float, history: Sequence[float]) -> tuple[float, float]:
    median = statistics.median(history)
    mad = statistics.median(abs(h - median) for h in history)
    # A floor on the scale: a perfectly flat history must not make any wiggle "infinite".
    scale = max(1.4826 * mad, 0.05 * abs(median), 1e-6)
    return (value - median) / scale, median


def detect_in_values(values: Sequence[float | None], rule: MetricRule, *, baseline: int = 24,
                     min_history: int = 5, z_threshold: float = 3.5) -> list[tuple[int, float,
                                                                                  float, float]]:
    """Indexes of anomalous values as (index, value, baseline median, z); ``None`` = no data."""
    found = []
    for index, value in enumerate(values):
        if value is None:
            continue
        history = [v for v in values[max(0, index - baseline):index] if v is not None]
        if len(history) < min_history:
            continue
        z, median = _robust_z(value, history)
        change = value - median if rule.higher_is_worse else median - value
        material = change >= (rule.min_change * abs(median) if rule.relative else
                              rule.min_change)
        harmful_z = z if rule.higher_is_worse else -z
        if harmful_z >= z_threshold and material:
            found.append((index, value, median, harmful_z))
    return found


def detect(series: Sequence[Series], *, latest_only: bool = True, **options: Any
           ) -> list[Anomaly]:
    """Anomalies in every series; by default only in each series' newest window."""
    anomalies = []
    for s in series:
        for rule in RULES:
            values = [w.values.get(rule.metric) for w in s.windows]
            for index, value, median, z in detect_in_values(values, rule, **options):
                if latest_only and index != len(values) - 1:
                    continue
                anomalies.append(Anomaly(s.subject, rule.metric, rule.kind,
                                         s.windows[index].start.isoformat(), value, median,
                                         round(z, 2)))
    return anomalies


def store_alerts(session: Session, anomalies: Sequence[Anomaly],
                 checked_subjects: Sequence[str]) -> dict[str, int]:
    """Upsert alerts by fingerprint; resolve open alerts of checked subjects that stopped firing.

    Returns how many alerts were opened, repeated and resolved.
    """
    counts = {"opened": 0, "repeated": 0, "resolved": 0}
    firing = {a.fingerprint: a for a in anomalies}
    existing = {a.fingerprint: a for a in session.scalars(select(Alert))}
    now = utcnow()
    for fingerprint, anomaly in firing.items():
        alert = existing.get(fingerprint)
        severity = "critical" if anomaly.z >= 2 * 3.5 else "warning"
        if alert is None:
            session.add(Alert(fingerprint=fingerprint, kind=anomaly.kind,
                              subject=anomaly.subject, severity=severity,
                              message=anomaly.message(), details=anomaly.as_dict()))
            counts["opened"] += 1
            continue
        if alert.details.get("window_start") != anomaly.window_start or alert.resolved:
            alert.count += 1  # the same window seen again by a later check is not a repeat
            counts["repeated"] += 1
        alert.message, alert.details = anomaly.message(), anomaly.as_dict()
        alert.severity, alert.last_seen, alert.resolved = severity, now, False
    for fingerprint, alert in existing.items():
        if (fingerprint not in firing and not alert.resolved
                and alert.subject in checked_subjects):
            alert.resolved = True
            counts["resolved"] += 1
    session.flush()
    return counts


def monitor_store(session: Session, *, days: float = 7.0, window_minutes: float = 60.0
                  ) -> dict[str, Any]:
    """One monitoring pass: metric windows, anomalies in the latest one, alerts updated.

    Returns ``series`` (the ``Series`` objects), ``anomalies`` and every stored
    ``alert`` as a plain dict, newest first.
    """
    series = collect_series(session, days=days, window_minutes=window_minutes)
    anomalies = detect(series)
    store_alerts(session, anomalies, [s.subject for s in series])
    alerts = [{"id": a.id, "kind": a.kind, "subject": a.subject, "severity": a.severity,
               "message": a.message, "count": a.count, "resolved": a.resolved,
               "first_seen": a.first_seen.isoformat(), "last_seen": a.last_seen.isoformat()}
              for a in session.scalars(select(Alert).order_by(Alert.last_seen.desc()))]
    return {"series": series, "anomalies": anomalies, "alerts": alerts}
