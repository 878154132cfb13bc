"""Experiments: orchestration overhead per cell, and the example experiment's wall time.

Overhead: 4 prompts x 5 models x 100 examples = 2,000 cells with instant scripted
models, so the figure is the graph's own cost per cell (Send, the concurrency-limited
executor, the store write, the resume check), with and without the SQLite
checkpointer the CLI uses. Target: under 2 ms per cell.

Example: ``examples/antonyms_experiment.yaml`` on the embedded model, as
``neuroforge experiment run`` runs it (72 answer calls and 72 judge calls).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from neuroforge.graphs.experiment import ExperimentDeps, create_experiment_graph, experiment_config
from neuroforge.knowledge.db import open_database
from neuroforge.knowledge.experiment_spec import ExperimentSpec, load_spec

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "antonyms_experiment.yaml"
CELLS_TARGET_MS = 2.0


def _overhead(tmp: Path, checkpointed: bool) -> dict[str, Any]:
    data = tmp / "words.jsonl"
    data.write_text("".join(json.dumps({"input": f"w{i}", "output": f"w{i}"}) + "\n"
                            for i in range(300)))
    spec = ExperimentSpec.model_validate({
        "name": f"overhead-{checkpointed}", "models": [f"m{i}" for i in range(5)],
        "prompts": [{"text": f"prompt {i}"} for i in range(4)],
        "dataset": {"path": str(data), "split": "all", "limit": 100, "scorer": "exact"},
        "concurrency": 4, "metrics": ["accuracy", "latency", "tokens"]})
    model = FakeListChatModel(responses=["w1"])
    store = open_database(f"sqlite:///{tmp}/overhead-{checkpointed}.db")
    deps = ExperimentDeps(store=store, model_for_name=lambda *_: model)
    graph = create_experiment_graph(deps)
    connection = sqlite3.connect(tmp / f"checkpoints-{checkpointed}.db",
                                 check_same_thread=False)
    saver = None
    if checkpointed:
        from langgraph.checkpoint.sqlite import SqliteSaver

        saver = SqliteSaver(connection)
        saver.setup()
    app = graph.compile(checkpointer=saver)
    started = time.perf_counter()
    out = app.invoke({"spec": spec.model_dump(), "run_id": f"bench{int(checkpointed)}"},
                     experiment_config(spec, f"bench{int(checkpointed)}"))
    seconds = time.perf_counter() - started
    connection.close()
    cells = out["summary"]["stored"]
    return {"cells": cells, "seconds": round(seconds, 2),
            "ms_per_cell": round(1000 * seconds / cells, 3),
            "target_ms": CELLS_TARGET_MS, "target_met": 1000 * seconds / cells < CELLS_TARGET_MS}


def _example(tmp: Path) -> dict[str, Any]:
    from neuroforge.cli.experiment import run_experiment
    from neuroforge.settings import load_settings

    os.environ["NEUROFORGE_DATA_DIR"] = str(tmp / "example-data")
    settings = load_settings(backend="embedded")
    spec = load_spec(EXAMPLE)
    started = time.perf_counter()
    state = run_experiment(settings, spec, show_progress=False)
    seconds = time.perf_counter() - started
    summary = state["summary"]
    return {"file": "examples/antonyms_experiment.yaml", "seconds": round(seconds, 1),
            "cells": summary["stored"], "errors": summary["errors"],
            "accuracy": {k: c.get("accuracy") for k, c in summary["cells"].items()},
            "best": summary["best"]}


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "warm-up").mkdir()
        _overhead(tmp / "warm-up", False)  # pays the one-time imports, not timed
        return {"overhead_no_checkpointer": _overhead(tmp, False),
                "overhead_sqlite_checkpointer": _overhead(tmp, True),
                "example_on_embedded_model": _example(tmp)}
