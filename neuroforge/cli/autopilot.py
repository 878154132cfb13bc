"""``neuroforge autopilot | monitor``: autonomous runs, schedules, rollback, and the monitor."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from neuroforge.cli.common import JsonFlag, console, errors, fail, print_json, settings
from neuroforge.settings import Settings

__all__ = ["autopilot_app", "monitor", "print_report", "run_autopilot"]

autopilot_app = typer.Typer(help="Autonomous optimization: run, schedule, roll back.",
                            no_args_is_help=True)


def run_autopilot(settings: Settings, dry_run: bool, scheduled_for: str | None = None
                  ) -> dict[str, Any]:
    """One autopilot run; returns its report."""
    from neuroforge.graphs.autopilot import create_autopilot_graph
    from neuroforge.wiring import autopilot_deps

    graph = create_autopilot_graph(autopilot_deps(settings)).compile()
    request: dict[str, Any] = {"dry_run": dry_run}
    if scheduled_for:
        request["scheduled_for"] = scheduled_for
    return dict(graph.invoke(request)["report"])


# About 1,900 years: the dates the windows are cut at must stay after the calendar's
# year 1, where Python's datetime ends (an OverflowError past it).
MAX_DAYS = 700_000


def monitor(
    days: Annotated[float, typer.Option(min=0.01, max=MAX_DAYS,
                                        help="How far back to look.")] = 7.0,
    window_minutes: Annotated[float, typer.Option(min=1, max=MAX_DAYS * 24 * 60,
                                                  help="Window width.")] = 60.0,
    as_json: JsonFlag = False,
) -> None:
    """Metrics per model and graph over time windows, anomalies, and stored alerts."""
    from neuroforge.analysis.anomalies import monitor_store
    from neuroforge.analysis.metrics import series_as_dict
    from neuroforge.knowledge.db import DatabaseError
    from neuroforge.wiring import open_store

    try:
        store = open_store(settings())
    except DatabaseError as exc:
        fail(str(exc))
    with store.session() as session:
        seen = monitor_store(session, days=days, window_minutes=window_minutes)
    series, alerts = seen["series"], seen["alerts"]
    if as_json:
        print_json({"series": [series_as_dict(s) for s in series],
                    "anomalies": [a.as_dict() for a in seen["anomalies"]], "alerts": alerts})
        return
    console.print(_series_table(series) if series else
                  "no runs, outcomes or votes recorded in this period")
    for alert in alerts:
        if not alert["resolved"]:
            console.print(f"[{'red' if alert['severity'] == 'critical' else 'yellow'}]"
                          f"{alert['severity']}[/] {alert['message']} (seen {alert['count']}x)",
                          highlight=False)


# (header, metric key, format); a column no subject has a value for is left out.
_COLUMNS = [("p50 ms", "latency_p50_ms", "{:,.0f}"), ("p95 ms", "latency_p95_ms", "{:,.0f}"),
            ("err", "error_rate", "{:.0%}"), ("inv", "invalid_rate", "{:.0%}"),
            ("qual", "quality", "{:.2f}"), ("regret", "regret", "{:.2f}"),
            ("tok/s", "tokens_per_s", "{:.0f}")]


def _series_table(series: list[Any]) -> Table:
    """The latest window per subject, compact enough for an 80-column terminal."""
    from rich import box

    latest = [s.latest() for s in series]
    shown = [c for c in _COLUMNS if any(c[1] in values for values in latest)]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("subject", overflow="fold", min_width=14)
    table.add_column("win", justify="right", no_wrap=True)
    for header, _key, _fmt in shown:
        table.add_column(header, justify="right", no_wrap=True)
    for s, values in zip(series, latest, strict=True):
        table.add_row(s.subject, str(len(s.windows)),
                      *(fmt.format(values[key]) if key in values else "-"
                        for _h, key, fmt in shown))
    return table


@autopilot_app.command("run")
def autopilot_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Propose and vote; apply nothing.")]
    = False,
    as_json: JsonFlag = False,
) -> None:
    """One autopilot run: monitor, propose actions, vote, apply the approved ones, report."""
    from neuroforge.knowledge.db import DatabaseError
    from neuroforge.models.backends import ModelError
    from neuroforge.scheduler import AutopilotBusyError, autopilot_lock

    current = settings()
    try:
        with autopilot_lock(current):
            report = run_autopilot(current, dry_run)
    except (AutopilotBusyError, DatabaseError, ModelError) as exc:
        fail(str(exc))
    print_json(report) if as_json else print_report(console, report)


@autopilot_app.command("rollback")
def autopilot_rollback(
    action_id: Annotated[str, typer.Argument(help="An applied action's id.")],
    as_json: JsonFlag = False,
) -> None:
    """Undo an applied autopilot action (restores what it changed)."""
    from neuroforge.graphs.autopilot_handlers import rollback_action
    from neuroforge.wiring import autopilot_handlers, open_store

    current = settings()
    store = open_store(current)
    try:
        result = rollback_action(store, autopilot_handlers(current, store), action_id)
    except (LookupError, ValueError) as exc:
        fail(str(exc), 2)
    if as_json:
        print_json(result)
    else:
        console.print(f"rolled back {result['id']} ({result['kind']}): {result['rolled_back']}",
                      highlight=False)


@autopilot_app.command("schedule")
def autopilot_schedule(
    cron: Annotated[str, typer.Option(help="5-field cron expression, UTC.")] = "0 3 * * *",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Scheduled runs apply nothing.")]
    = False,
) -> None:
    """Run the autopilot on a cron schedule until SIGTERM; one run at a time."""
    from neuroforge.scheduler import AutopilotBusyError, parse_cron, run_scheduler, scheduler_lock

    current = settings()
    try:
        parse_cron(cron)
    except ValueError as exc:
        fail(str(exc), 2)

    def log(message: str) -> None:
        errors.print(f"[dim]scheduler[/] {message}", highlight=False)

    try:
        with scheduler_lock(current):
            run_scheduler(current, cron, lambda fire: run_autopilot(current, dry_run, fire), log)
    except AutopilotBusyError as exc:
        fail(str(exc))


def print_report(console: Console, report: dict[str, Any]) -> None:
    """The report as a person reads it."""
    seen = report["seen"]
    console.print(f"autopilot run {report['run_id']}"
                  + (" (dry run: nothing applied)" if report["dry_run"] else ""))
    console.print(f"seen: {seen['subjects']} monitored subjects, "
                  f"{len(seen['anomalies'])} anomalies, alerts {seen['alerts']}, "
                  f"{seen['new_outcomes']} new routing outcomes", highlight=False)
    for anomaly in seen["anomalies"]:
        console.print(f"  ! {anomaly['message']}", highlight=False)
    if not report["proposed"]:
        console.print("proposed: nothing to do")
    table = Table("action", "kind", "reason", "votes", "decision")
    for action in report["proposed"]:
        decision = report["voted"].get(action["id"], {})
        votes = ", ".join(f"{v['voter']}:{v['decision']}" for v in decision.get("votes", []))
        table.add_row(action["id"], action["kind"], action["reason"], votes,
                      "approved" if decision.get("approved") else "rejected")
    if report["proposed"]:
        console.print(table)
    for done in report["applied"]:
        console.print(f"applied {done['id']} ({done['kind']}): {done['after']} "
                      f"(undo: neuroforge autopilot rollback {done['id']})", highlight=False)
    for error in report["errors"]:
        console.print(f"[yellow]note:[/] {error}", highlight=False)
