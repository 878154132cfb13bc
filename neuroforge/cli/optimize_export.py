"""`neuroforge optimize --export`: the optimized prompt written as JSON a program can run
without NeuroForge, and the check that the path can take it before the run starts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from neuroforge.cli.common import fail

__all__ = ["check_export_path", "export_result"]


def export_result(result: dict[str, Any], path: Path) -> None:
    """Write ``result``'s optimized prompt as runnable JSON (see ``runnable_prompt``)."""
    from neuroforge.graphs.optimize import DEV_SIZE
    from neuroforge.knowledge.datasets import load_task
    from neuroforge.tools.prompt_eval import runnable_prompt

    task = (result.get("options") or {}).get("task")
    loaded = load_task(task, dev_size=DEV_SIZE) if task else None
    # What the run's test split was scored with: for per-input demonstrations every
    # labelled example, test excepted; for kNN answers the train split.
    pool, anchors = (loaded.labelled(), loaded.train) if loaded else ([], [])
    data = {"run_id": result.get("run_id"), "test_accuracy": result.get("test_optimized"),
            **runnable_prompt(result["optimized"], pool, anchors)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        # The run is kept: a finished run resumed returns its result without a call.
        fail(f"cannot write {path}: {exc.strerror or exc}; the run is saved, so write it "
             f"elsewhere with `neuroforge optimize --resume {result.get('run_id')} "
             "--export PATH`")


def check_export_path(path: Path) -> None:
    """Refuse (exit 2) an export path that cannot be written, before the run pays for a
    result it could not save there: a folder, or a parent that cannot be made or written."""
    if path.is_dir():
        fail(f"--export {path} is a folder; give a file path, e.g. {path / 'prompt.json'}", 2)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", 2)
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        fail(f"cannot write {path}: permission denied", 2)
