"""Scheduling: cron parsing, missed runs, the cross-process lock, a real scheduler process."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from neuroforge.knowledge.db import open_database
from neuroforge.knowledge.schema import Run
from neuroforge.scheduler import autopilot_lock, missed_fire_times, parse_cron, scheduler_lock
from neuroforge.settings import load_settings

NEUROFORGE = str(Path(sys.executable).parent / "neuroforge")


@pytest.mark.parametrize("bad", ["", "* * *", "61 * * * *", "every day"])
def test_bad_cron_expressions_are_explained(bad: str) -> None:
    with pytest.raises(ValueError, match="cron expression"):
        parse_cron(bad)


def test_missed_fire_times_between_two_moments() -> None:
    trigger = parse_cron("0 3 * * *")
    since = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
    missed = missed_fire_times(trigger, since, since + timedelta(days=3))
    assert [m.day for m in missed] == [21, 22, 23] and all(m.hour == 3 for m in missed)
    assert missed_fire_times(trigger, since, since + timedelta(hours=1)) == []


def test_the_lock_holds_across_processes(tmp_path: Path, store_url: str) -> None:
    settings = load_settings()
    env = os.environ.copy()
    if store_url.startswith("postgresql"):
        # Another "host": its own data directory, only the PostgreSQL store is shared.
        env["NEUROFORGE_DATA_DIR"] = str(tmp_path / "other-host")
    with autopilot_lock(settings):
        busy = subprocess.run([NEUROFORGE, "autopilot", "run"], capture_output=True, text=True,
                              timeout=120, env=env)
    assert busy.returncode == 1 and "another autopilot run is in progress" in busy.stderr
    free = subprocess.run([NEUROFORGE, "autopilot", "run", "--json"], capture_output=True,
                          text=True, timeout=120, env=os.environ.copy())
    assert free.returncode == 0, free.stderr
    assert '"proposed": []' in free.stdout  # an empty store: nothing to do


def test_scheduler_runs_on_cron_records_missed_runs_and_stops_on_sigterm(
        tmp_path: Path) -> None:
    settings = load_settings()
    db = open_database(settings.effective_database_url)
    three_minutes_ago = (datetime.now(UTC) - timedelta(minutes=3, seconds=30)).replace(
        second=0, microsecond=0)
    with db.session() as session:  # a scheduled run from before a restart
        session.add(Run(graph="autopilot", status="succeeded",
                        inputs={"scheduled_for": three_minutes_ago.isoformat()}))
    env = {**os.environ, "NEUROFORGE_BACKEND": "embedded"}
    process = subprocess.Popen([NEUROFORGE, "autopilot", "schedule", "--cron", "* * * * *"],
                               stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 150
        assert process.stderr is not None
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            lines.append(line)
            if "done:" in line:
                break
        assert any("done:" in line for line in lines), "".join(lines)
        process.send_signal(signal.SIGTERM)
        _out, rest = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, "".join(lines) + rest
    assert "received SIGTERM" in rest and "scheduler stopped" in rest
    with db.session() as session:
        runs = session.scalars(select(Run).where(Run.graph == "autopilot")).all()
        statuses = [r.status for r in runs]
    assert statuses.count("missed") >= 2  # the minutes nobody was scheduling
    assert sum(1 for r in runs if r.status == "succeeded"
               and (r.inputs or {}).get("scheduled_for") and r.outputs.get("run_id")) == 1


def test_a_second_scheduler_is_refused_while_one_runs() -> None:
    settings = load_settings()
    with scheduler_lock(settings):
        second = subprocess.run([NEUROFORGE, "autopilot", "schedule", "--cron", "* * * * *"],
                                capture_output=True, text=True, timeout=60,
                                env=os.environ.copy())
    assert second.returncode == 1 and "scheduler is already running" in second.stderr
    assert "Traceback" not in second.stderr
    db = open_database(settings.effective_database_url)
    with db.session() as session:  # refused before it could record skipped runs
        assert session.scalars(select(Run).where(Run.graph == "autopilot")).all() == []
