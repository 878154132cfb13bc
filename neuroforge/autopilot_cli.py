"""``neuroforge autopilot`` and ``neuroforge monitor``: action handlers wired to settings,
one run, rollback, and the report printed for people.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from neuroforge.settings import Settings

__all__ = ["autopilot_deps", "overrides_path", "print_report", "rollback_action",
           "router_threshold", "run_autopilot"]

DEFAULT_THRESHOLD = 0.35


def overrides_path(settings: Settings) -> Path:
    """Settings the autopilot changed (versioned by its actions), as JSON."""
    return settings.data_dir / "autopilot.json"


def _overrides(settings: Settings) -> dict[str, Any]:
    try:
        data = json.loads(overrides_path(settings).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_overrides(settings: Settings, data: dict[str, Any]) -> None:
    path = overrides_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)  # atomic: a crash never leaves half a file


def router_threshold(settings: Settings) -> float:
    """The neural router's confidence threshold in force (autopilot override or default)."""
    value = _overrides(settings).get("router_threshold", DEFAULT_THRESHOLD)
    return float(value) if isinstance(value, int | float) else DEFAULT_THRESHOLD


def _retrain_handlers(settings: Settings) -> Any:
    from graphs.autopilot import ActionHandler
    from neuroforge.runtime import open_store, router_path
    from tools.router.data import table_from_records
    from tools.router.pipeline import train_candidate_and_maybe_adopt

    def apply(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        current = router_path(settings)
        backup = None
        if current.is_file():
            backups = settings.router_dir / "backups"
            backups.mkdir(parents=True, exist_ok=True)
            backup = backups / f"router-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns()}.pt"
            shutil.copy2(current, backup)
        with open_store(settings).session() as session:
            table = table_from_records(session)
        metrics = train_candidate_and_maybe_adopt(table, current, settings.router_dir / "cache")
        return ({"backup": str(backup) if backup else None},
                {"adopted": metrics.get("adopted"), "candidate": metrics.get("candidate_score"),
                 "current": metrics.get("current_score"), "saved_to": metrics.get("saved_to")})

    def rollback(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        current = router_path(settings)
        if before.get("backup"):
            shutil.copy2(before["backup"], current)
            return {"restored": before["backup"]}
        if after.get("adopted") and current.is_file():
            current.unlink()  # there was no router before: back to the rule-based one
            return {"removed": str(current)}
        return {"note": "the candidate was not adopted; nothing to undo"}

    return ActionHandler(apply, rollback)


def _threshold_handlers(settings: Settings) -> Any:
    from graphs.autopilot import ActionHandler

    def set_threshold(value: float) -> None:
        _write_overrides(settings, {**_overrides(settings), "router_threshold": value})

    def apply(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        before = router_threshold(settings)
        set_threshold(float(params["to"]))
        return {"threshold": before}, {"threshold": float(params["to"])}

    def rollback(before: dict[str, Any], _after: dict[str, Any]) -> dict[str, Any]:
        set_threshold(float(before["threshold"]))
        return {"threshold": before["threshold"]}

    return ActionHandler(apply, rollback)


def _reoptimize_handlers(settings: Settings) -> Any:
    from graphs.autopilot import ActionHandler
    from graphs.optimize import create_optimize_graph
    from neuroforge.runtime import optimize_deps

    def apply(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        graph = create_optimize_graph(optimize_deps(settings)).compile()
        request = {"prompt": params["prompt"], "task": params.get("task"), "generations": 2,
                   "budget": settings.budgets.max_model_calls}
        result = graph.invoke(request, {"recursion_limit": 200})["result"]
        return {}, {"run_id": result["run_id"], "optimized": result["optimized"],
                    "optimized_score": result["optimized_score"]}

    def rollback(_before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        # Re-optimizing only added a run and prompt versions; nothing earlier was changed.
        return {"note": f"nothing to undo; run {after.get('run_id')} stays on record"}

    return ActionHandler(apply, rollback)


def autopilot_deps(settings: Settings) -> Any:
    """Everything the autopilot graph needs, from settings."""
    from graphs.autopilot import AutopilotDeps
    from neuroforge.runtime import model_factory, open_store

    return AutopilotDeps(
        store=open_store(settings), model_for=model_factory(settings),
        handlers={"retrain_router": _retrain_handlers(settings),
                  "adjust_threshold": _threshold_handlers(settings),
                  "reoptimize_prompt": _reoptimize_handlers(settings)},
        threshold=lambda: router_threshold(settings),
        attempts=settings.budgets.structured_attempts)


def run_autopilot(settings: Settings, dry_run: bool, scheduled_for: str | None = None
                  ) -> dict[str, Any]:
    """One autopilot run; returns its report."""
    from graphs.autopilot import create_autopilot_graph

    graph = create_autopilot_graph(autopilot_deps(settings)).compile()
    request: dict[str, Any] = {"dry_run": dry_run}
    if scheduled_for:
        request["scheduled_for"] = scheduled_for
    return dict(graph.invoke(request)["report"])


def rollback_action(settings: Settings, action_id: str) -> dict[str, Any]:
    """Undo an applied action; raises ``LookupError`` / ``ValueError`` with the reason."""
    from knowledge.actions import set_status
    from knowledge.schema import AutopilotAction
    from neuroforge.runtime import open_store

    deps = autopilot_deps(settings)
    with deps.store.session() as session:
        action = session.get(AutopilotAction, action_id)
        if action is None:
            raise LookupError(f"no autopilot action {action_id!r}; "
                              "`neuroforge autopilot run --json` lists action ids")
        if action.status != "applied":
            raise ValueError(f"action {action_id} is {action.status}; only applied actions "
                             "can be rolled back")
        kind, before, after = action.kind, dict(action.before), dict(action.after)
    result = deps.handlers[kind].rollback(before, after)
    with open_store(settings).session() as session:
        set_status(session, action_id, "rolled_back")
    return {"id": action_id, "kind": kind, "rolled_back": result}


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
