"""Scheduled autopilot runs: APScheduler with a cron trigger, one run at a time.

One run at a time holds within the process (``max_instances=1``) and across processes:
``autopilot run`` and the scheduler take a PostgreSQL advisory lock when the store is
PostgreSQL (so hosts sharing it exclude each other, and a killed holder's lock ends with
its connection), else ``filelock`` on ``<data_dir>/autopilot.lock``. Fire times missed
while no scheduler was running, or while a run was still busy, are recorded in the store
as runs with status "missed" or "skipped". SIGTERM and SIGINT stop the scheduler
cleanly: a run in progress finishes first.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from neuroforge.settings import Settings

__all__ = ["AutopilotBusyError", "autopilot_lock", "missed_fire_times", "parse_cron",
           "run_scheduler", "scheduler_lock"]

MAX_MISSED_RECORDED = 100


class AutopilotBusyError(RuntimeError):
    """Another autopilot run holds the lock."""


@contextmanager
def _exclusive(path: Path, busy: str) -> Iterator[None]:
    """Hold the file lock at ``path``, or raise ``AutopilotBusyError(busy)`` at once."""
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), blocking=False)
    try:
        lock.acquire()
    except Timeout:
        raise AutopilotBusyError(f"{busy} (lock {path} is held)") from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _advisory(url: str, name: str, busy: str) -> Iterator[None]:
    """Hold PostgreSQL's session advisory lock ``name``, or raise ``AutopilotBusyError``."""
    from neuroforge.knowledge.postgres import LockHeld, advisory_lock

    try:
        with advisory_lock(url, name):
            yield
    except LockHeld:
        raise AutopilotBusyError(f"{busy} (PostgreSQL advisory lock {name!r} is held)"
                                 ) from None


def _shared_store_url(settings: Settings) -> str | None:
    from neuroforge.knowledge.postgres import is_postgres_url

    url = settings.effective_database_url
    return url if is_postgres_url(url) else None


def autopilot_lock(settings: Settings) -> AbstractContextManager[None]:
    """Hold the cross-process (and, on PostgreSQL, cross-host) autopilot lock, or raise
    ``AutopilotBusyError`` at once."""
    busy = "another autopilot run is in progress"
    url = _shared_store_url(settings)
    if url is not None:
        return _advisory(url, "neuroforge-autopilot", busy)
    return _exclusive(settings.data_dir / "autopilot.lock", busy)


def scheduler_lock(settings: Settings) -> AbstractContextManager[None]:
    """Held for a scheduler's lifetime: one scheduler per data directory (per PostgreSQL
    store when the store is shared)."""
    url = _shared_store_url(settings)
    if url is not None:
        return _advisory(url, "neuroforge-scheduler",
                         "an autopilot scheduler is already running against this store; "
                         "stop it first (SIGTERM)")
    return _exclusive(settings.data_dir / "scheduler.lock",
                      "an autopilot scheduler is already running for this data directory; "
                      "stop it first (SIGTERM) or use another NEUROFORGE_DATA_DIR")


def parse_cron(expression: str) -> Any:
    """An APScheduler cron trigger (UTC) from a 5-field crontab expression."""
    from apscheduler.triggers.cron import CronTrigger

    if not isinstance(expression, str) or len(expression.split()) != 5:
        raise ValueError(f"{expression!r} is not a 5-field cron expression "
                         "(minute hour day month weekday), e.g. \"0 3 * * *\"")
    try:
        return CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expression!r}: {exc}") from None


def missed_fire_times(trigger: Any, since: datetime, now: datetime,
                      limit: int = MAX_MISSED_RECORDED) -> list[datetime]:
    """Fire times of ``trigger`` after ``since`` and before ``now`` (at most ``limit``)."""
    missed: list[datetime] = []
    previous = since
    while len(missed) < limit:
        fire = trigger.get_next_fire_time(previous, previous + timedelta(seconds=1))
        if fire is None or fire >= now:
            break
        if fire > since:
            missed.append(fire)
        previous = fire
    return missed


def _record(settings: Settings, status: str, scheduled_for: datetime, note: str) -> None:
    from neuroforge.knowledge import records
    from neuroforge.wiring import open_store

    with open_store(settings).session() as session:
        run_id = records.start_run(session, "autopilot",
                                   {"scheduled_for": scheduled_for.isoformat()})
        records.finish_run(session, run_id, status=status, outputs={"note": note},
                           calls_used=0)


def _last_scheduled(settings: Settings) -> datetime | None:
    from sqlalchemy import select

    from neuroforge.knowledge.schema import Run
    from neuroforge.wiring import open_store

    with open_store(settings).session() as session:
        rows = session.scalars(select(Run).where(Run.graph == "autopilot")
                               .order_by(Run.started_at.desc()).limit(200)).all()
        for run in rows:
            if (run.inputs or {}).get("scheduled_for"):
                moment = datetime.fromisoformat(run.inputs["scheduled_for"])
                return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def run_scheduler(settings: Settings, cron: str, job: Callable[[str], dict[str, Any]],
                  log: Callable[[str], None]) -> None:
    """Run ``job(scheduled_for)`` on ``cron`` until SIGTERM/SIGINT, then return cleanly.

    ``job`` records its own run, with ``scheduled_for`` in the run's inputs.
    """
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
    from apscheduler.schedulers.blocking import BlockingScheduler

    trigger = parse_cron(cron)
    now = datetime.now(UTC)
    last = _last_scheduled(settings)
    if last is not None:
        for fire in missed_fire_times(trigger, last, now):
            _record(settings, "missed", fire, "no scheduler was running")
            log(f"missed run at {fire.isoformat()} recorded")

    def scheduled_run() -> None:
        fire = datetime.now(UTC)
        try:
            with autopilot_lock(settings):
                report = job(fire.isoformat())
            log(f"autopilot run {report.get('run_id')} done: {len(report.get('applied', []))} "
                f"applied, {len(report.get('errors', []))} error(s)")
        except AutopilotBusyError as exc:
            _record(settings, "skipped", fire, str(exc))
            log(f"skipped: {exc}")
        except Exception as exc:  # the scheduler must outlive one bad run
            _record(settings, "failed", fire, f"{type(exc).__name__}: {exc}")
            log(f"autopilot run failed: {exc}")

    def on_missed(event: Any) -> None:
        status = "skipped" if event.code == EVENT_JOB_MAX_INSTANCES else "missed"
        _record(settings, status, event.scheduled_run_time, "the previous run was still busy"
                if status == "skipped" else "the scheduler could not run it in time")
        log(f"{status} run at {event.scheduled_run_time.isoformat()} recorded")

    scheduler = BlockingScheduler(timezone=UTC)
    scheduler.add_job(scheduled_run, trigger, id="autopilot", max_instances=1, coalesce=True,
                      misfire_grace_time=60)
    scheduler.add_listener(on_missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)

    def stop(signum: int, _frame: Any) -> None:
        log(f"received {signal.Signals(signum).name}; stopping after the current run")
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    next_fire = trigger.get_next_fire_time(None, datetime.now(UTC))
    log(f"scheduler started: cron {cron!r} (UTC), next run {next_fire.isoformat()}")
    scheduler.start()
    log("scheduler stopped")
