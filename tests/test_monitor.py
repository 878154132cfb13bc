"""The monitor: metric windows from the store, robust anomaly detection, alert dedupe."""

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from neuroforge.analysis.anomalies import RULES, detect, detect_in_values, store_alerts
from neuroforge.analysis.metrics import collect_series
from neuroforge.cli import app
from neuroforge.knowledge.db import Database, open_database
from neuroforge.knowledge.schema import Alert, Run

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
LATENCY = next(r for r in RULES if r.metric == "latency_p95_ms")
QUALITY = next(r for r in RULES if r.metric == "quality")


def test_a_spike_is_found_and_noise_is_not() -> None:
    rng = random.Random(0)
    values = [1000 + rng.gauss(0, 50) for _ in range(40)]
    values[30] = 3000
    assert [i for i, *_ in detect_in_values(values, LATENCY)] == [30]
    # The spike does not poison the baseline of the windows after it (median, not mean).
    values[31] = 1500  # +50 % against a median of ~1000, and many MADs away
    assert [i for i, *_ in detect_in_values(values, LATENCY)] == [30, 31]


def test_direction_and_materiality_matter() -> None:
    quality = [0.8, 0.81, 0.79, 0.8, 0.8, 0.82, 0.8, 0.5]
    assert [i for i, *_ in detect_in_values(quality, QUALITY)] == [7]
    assert detect_in_values([*quality[:-1], 0.99], QUALITY) == []  # better is not an alarm
    flat = [0.8] * 7 + [0.75]  # many "MADs" on a flat line, but too small to matter
    assert detect_in_values(flat, QUALITY) == []
    assert detect_in_values([0.8, None, 0.2], QUALITY) == []  # too little history


def seed_runs(db: Database, spike: bool) -> None:
    with db.session() as session:
        for hour in range(24):
            for k in range(3):
                started = NOW - timedelta(hours=23 - hour, minutes=10 + k)
                seconds = 2.0 + 0.1 * k
                if spike and hour == 23:
                    seconds = 9.0
                session.add(Run(graph="optimize", status="succeeded", started_at=started,
                                finished_at=started + timedelta(seconds=seconds),
                                seconds=seconds))


def test_store_windows_detect_latency_spike_and_alerts_dedupe(
        tmp_path: Path, store_url: str) -> None:
    db = open_database(store_url)
    seed_runs(db, spike=True)
    with db.session() as session:
        series = collect_series(session, days=2, now=NOW)
        [optimize] = series
        assert optimize.subject == "graph:optimize" and len(optimize.windows) == 24
        assert optimize.windows[0].values["error_rate"] == 0.0
        found = detect(series)
        assert {(a.kind, a.subject) for a in found} == {("latency_spike", "graph:optimize")}
        assert store_alerts(session, found, ["graph:optimize"])["opened"] == 2  # p50 and p95
        again = store_alerts(session, detect(series), ["graph:optimize"])
        assert again == {"opened": 0, "repeated": 0, "resolved": 0}  # same window: no repeat
        assert session.query(Alert).count() == 2
        # The next check finds the spike gone: the alerts resolve.
        assert store_alerts(session, [], ["graph:optimize"])["resolved"] == 2


def test_monitor_command_reports_json_and_text(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'neuroforge.db'}")
    seed_runs(db, spike=False)
    runner = CliRunner()
    out = runner.invoke(app, ["monitor", "--json", "--days", "100000"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["series"][0]["subject"] == "graph:optimize" and data["anomalies"] == []
    text = runner.invoke(app, ["monitor", "--days", "100000"])
    assert text.exit_code == 0 and "graph:optimize" in text.stdout


def test_the_monitor_table_fits_80_columns_with_every_metric() -> None:
    import io

    from rich.console import Console

    from neuroforge.analysis.metrics import MetricWindow, Series
    from neuroforge.cli.autopilot import _series_table

    full = {"latency_p50_ms": 12345.0, "latency_p95_ms": 23456.0, "error_rate": 0.05,
            "invalid_rate": 0.1, "quality": 0.83, "regret": 0.12, "tokens_per_s": 102.0}
    series = [Series("model:llama3.2:3b-instruct-q4_K_M", [MetricWindow(NOW, full)]),
              Series("graph:optimize", [MetricWindow(NOW, {"latency_p50_ms": 900.0})])]
    out = io.StringIO()
    Console(file=out, width=80).print(_series_table(series))
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert all(len(line) <= 80 for line in lines)
    assert any("12,345" in line and "83" in line and "102" in line for line in lines)
    assert any("graph:optimize" in line and "900" in line for line in lines)  # one line each
