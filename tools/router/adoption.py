"""Retraining the adopted router safely: back up the weights in force, restore them on undo."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from neuroforge.tools.router.data import RoutingTable
from neuroforge.tools.router.pipeline import seeded_split, train_candidate_and_maybe_adopt

__all__ = ["restore_router", "retrain_with_backup"]


def retrain_with_backup(table: RoutingTable, router_file: Path, cache_dir: Path | None
                        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train a candidate on ``table`` and adopt it only if better; ``(before, after)``.

    ``before`` names the backup of the weights that were in force (``None`` when there
    were none), which is what ``restore_router`` needs.
    """
    backup = None
    if router_file.is_file():
        backups = router_file.parent / "backups"
        backups.mkdir(parents=True, exist_ok=True)
        # The nanosecond suffix keeps two retrains within one second apart.
        backup = backups / f"router-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns()}.pt"
        shutil.copy2(router_file, backup)
    metrics = train_candidate_and_maybe_adopt(seeded_split(table), router_file, cache_dir)
    return ({"backup": str(backup) if backup else None},
            {"adopted": metrics.get("adopted"), "candidate": metrics.get("candidate_score"),
             "current": metrics.get("current_score"), "saved_to": metrics.get("saved_to")})


def restore_router(before: dict[str, Any], after: dict[str, Any], router_file: Path
                   ) -> dict[str, Any]:
    """Undo ``retrain_with_backup``: put the backup back, or remove a first adoption."""
    if before.get("backup"):
        shutil.copy2(before["backup"], router_file)
        return {"restored": before["backup"]}
    if after.get("adopted") and router_file.is_file():
        router_file.unlink()  # there was no router before: back to the rule-based one
        return {"removed": str(router_file)}
    return {"note": "the candidate was not adopted; nothing to undo"}
