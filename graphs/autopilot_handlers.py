"""The autopilot's action handlers: retrain the router, move its threshold, re-optimize.

Each handler applies one kind of action and returns what its rollback needs; the
store keeps both, so ``rollback_action`` can undo an applied action later.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from neuroforge.graphs.autopilot import ActionHandler
from neuroforge.graphs.optimize import OptimizeDeps, create_optimize_graph
from neuroforge.knowledge.actions import set_status
from neuroforge.knowledge.db import Database
from neuroforge.knowledge.overrides import router_threshold, set_override
from neuroforge.knowledge.schema import AutopilotAction
from neuroforge.tools.router.adoption import restore_router, retrain_with_backup
from neuroforge.tools.router.data import table_from_records

__all__ = ["default_handlers", "reoptimize_handler", "retrain_router_handler",
           "rollback_action", "threshold_handler"]


def retrain_router_handler(store: Database, router_file: Path) -> ActionHandler:
    """Retrain on recorded outcomes; adopt only if better; undo restores the backup."""

    def apply(_params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        with store.session() as session:
            table = table_from_records(session)
        return retrain_with_backup(table, router_file, router_file.parent / "cache")

    return ActionHandler(apply, lambda before, after: restore_router(before, after,
                                                                       router_file))


def threshold_handler(overrides_file: Path) -> ActionHandler:
    """Move the neural router's confidence threshold; undo puts the old value back."""

    def apply(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        before = router_threshold(overrides_file)
        set_override(overrides_file, "router_threshold", float(params["to"]))
        return {"threshold": before}, {"threshold": float(params["to"])}

    def rollback(before: dict[str, Any], _after: dict[str, Any]) -> dict[str, Any]:
        set_override(overrides_file, "router_threshold", float(before["threshold"]))
        return {"threshold": before["threshold"]}

    return ActionHandler(apply, rollback)


def reoptimize_handler(optimize_deps: Callable[[], OptimizeDeps], budget: int) -> ActionHandler:
    """Run a short optimization of a prompt that regressed; nothing earlier changes."""

    def apply(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        graph = create_optimize_graph(optimize_deps()).compile()
        request = {"prompt": params["prompt"], "task": params.get("task"), "generations": 2,
                   "budget": budget}
        result = graph.invoke(request, {"recursion_limit": 200})["result"]
        return {}, {"run_id": result["run_id"], "optimized": result["optimized"],
                    "optimized_score": result["optimized_score"]}

    def rollback(_before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        # Re-optimizing only added a run and prompt versions; nothing earlier was changed.
        return {"note": f"nothing to undo; run {after.get('run_id')} stays on record"}

    return ActionHandler(apply, rollback)


def default_handlers(store: Database, router_file: Path, overrides_file: Path,
                     optimize_deps: Callable[[], OptimizeDeps], budget: int
                     ) -> dict[str, ActionHandler]:
    """The handler for every action kind the optimizer agent can propose."""
    return {"retrain_router": retrain_router_handler(store, router_file),
            "adjust_threshold": threshold_handler(overrides_file),
            "reoptimize_prompt": reoptimize_handler(optimize_deps, budget)}


def rollback_action(store: Database, handlers: dict[str, ActionHandler], action_id: str
                    ) -> dict[str, Any]:
    """Undo an applied action; raises ``LookupError`` / ``ValueError`` with the reason."""
    with store.session() as session:
        action = session.get(AutopilotAction, action_id)
        if action is None:
            raise LookupError(f"no autopilot action {action_id!r}; "
                              "`neuroforge autopilot run --json` lists action ids")
        if action.status != "applied":
            raise ValueError(f"action {action_id} is {action.status}; only applied actions "
                             "can be rolled back")
        kind, before, after = action.kind, dict(action.before), dict(action.after)
    result = handlers[kind].rollback(before, after)
    with store.session() as session:
        set_status(session, action_id, "rolled_back")
    return {"id": action_id, "kind": kind, "rolled_back": result}
