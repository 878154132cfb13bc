"""A worker process with scripted, near-instant models, for the multi-worker tests and
the worker benchmark: ``python -m tests.queue_worker start|join ...``.

``start`` runs the whole experiment graph (plan, its own worker branches, analysis) and
prints the summary as JSON; ``join`` works an existing run's queue, like
``neuroforge experiment work``. Every model call is appended to ``--calls`` (one line,
``pid<TAB>input``), so a test can count cells that were called twice.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from neuroforge.graphs.experiment import (
    ExperimentDeps,
    create_experiment_graph,
    experiment_config,
    work_queue,
    worker_task,
)
from neuroforge.knowledge.db import open_database
from neuroforge.knowledge.experiment_spec import ExperimentSpec
from neuroforge.knowledge.experiments import experiment_of_run

__all__ = ["matrix_spec", "spawn"]

ROOT = Path(__file__).resolve().parents[1]


def spawn(action: str, url: str, run_id: str, calls: Path, *extra: str,
          delay: float = 0.01) -> subprocess.Popen[str]:
    """Start ``python -m tests.queue_worker ACTION`` as a separate process."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.queue_worker", action, "--url", url, "--run-id", run_id,
         "--calls", str(calls), "--delay", str(delay), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def matrix_spec(data: Path, prompts: int, models: int, examples: int,
                concurrency: int = 1) -> dict[str, Any]:
    """An experiment of prompts x models x examples cells over a generated dataset."""
    data.write_text("".join(json.dumps({"input": f"w{i}", "output": f"w{i}"}) + "\n"
                            for i in range(examples)))
    return ExperimentSpec.model_validate({
        "name": "workers", "models": [f"m{i}" for i in range(models)],
        "prompts": [{"text": f"prompt {i}"} for i in range(prompts)],
        "dataset": {"path": str(data), "split": "all", "limit": examples, "scorer": "exact"},
        "concurrency": concurrency, "metrics": ["accuracy", "latency"],
        "cache": False}).model_dump()


class _LoggedModel(FakeListChatModel):
    """Answers "w1" after ``delay_s``, logging each call's input to a file."""

    log: str = ""
    delay_s: float = 0.0

    def _call(self, messages: Any, stop: Any = None, run_manager: Any = None,
              **kwargs: Any) -> str:
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.log:
            with open(self.log, "a", encoding="utf-8") as out:
                out.write(f"{os.getpid()}\t{json.dumps(messages[-1].content)}\n")
        return super()._call(messages, stop, run_manager, **kwargs)


def _deps(url: str, calls: str, delay_s: float) -> ExperimentDeps:
    model = _LoggedModel(responses=["w1"], log=calls, delay_s=delay_s)
    return ExperimentDeps(store=open_database(url), model_for_name=lambda *_: model)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run ``start`` or ``join``."""
    parser = argparse.ArgumentParser(prog="python -m tests.queue_worker")
    parser.add_argument("action", choices=["start", "join"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--spec", help="JSON file of the spec (start)")
    parser.add_argument("--calls", default="")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    deps = _deps(args.url, args.calls, args.delay)
    started = time.perf_counter()
    if args.action == "start":
        spec = json.loads(Path(args.spec).read_text())
        app = create_experiment_graph(deps).compile()
        out = app.invoke({"spec": spec, "run_id": args.run_id},
                         experiment_config(spec, args.run_id))
        print(json.dumps({"done": out["done"], "stored": out["summary"]["stored"],
                          "seconds": time.perf_counter() - started}))
        return 0
    with deps.store.session() as session:
        run, _ = experiment_of_run(session, args.run_id)
        spec_model = ExperimentSpec.model_validate(run.inputs["spec"])
        task = worker_task(spec_model, args.run_id, run.inputs["experiment_id"])
    result = work_queue(deps, task)
    print(json.dumps({"done": result["done"], "seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
