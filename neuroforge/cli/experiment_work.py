"""``neuroforge experiment work RUN_ID``: join a run and work its queued cells."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from neuroforge.cli.common import (
    JsonFlag,
    console,
    errors,
    fail,
    print_json,
    settings,
    stop_on_interrupt,
)
from neuroforge.cli.experiment_progress import CellProgress
from neuroforge.cli.model_checks import unknown_models
from neuroforge.knowledge.experiment_spec import ExperimentSpec

__all__ = ["experiment_work"]


def experiment_work(
    run_id: Annotated[str, typer.Argument(help="The run to join (see `experiment list`).")],
    concurrency: Annotated[int | None, typer.Option(
        min=1, max=64, help="Cells this process runs at once; default: the spec's.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Join a running experiment: work its queued cells beside the process that started it.

    Any process that reaches the same store (a shared PostgreSQL on another host, or this
    host's data directory) can join; cells are claimed so none is run by two workers.
    The process that started the run writes the analysis once every cell is done.
    """
    from neuroforge.graphs.experiment import ExperimentStopped, worker_task
    from neuroforge.knowledge.cell_queue import queue_counts
    from neuroforge.wiring import experiment_deps, open_store

    current = settings()
    store = open_store(current)
    spec, experiment_id, counts = _joinable_run(store, run_id)
    judge = [spec.judge_model] if spec.judge_model else []
    problems = unknown_models(current, [*spec.models, *judge])
    if problems:
        fail("; ".join(problems), 2)
    deps = experiment_deps(current, store)
    task = worker_task(spec, run_id, experiment_id)
    threads = concurrency or spec.concurrency
    results: list[dict[str, Any]] = []
    with CellProgress(not as_json, errors) as progress:
        progress.planned({"planned": counts.total, "skipped": counts.done})
        deps.on_cell, deps.on_counts = progress.cell_done, progress.sync
        try:
            with stop_on_interrupt(deps.stop, errors):
                results = _work_in_threads(deps, task, threads)
        except (KeyboardInterrupt, ExperimentStopped):
            fail(f"stopped; cells this worker had claimed but not run are back in the queue "
                 f"of run {run_id}", 130)
    with store.session() as session:
        after = queue_counts(session, run_id)
    worked = sum(r["done"] for r in results)
    failed = sum(len(r["errors"]) for r in results)
    if as_json:
        print_json({"run_id": run_id, "worked": worked, "failed": failed,
                    "queue": {"todo": after.todo, "claimed": after.claimed,
                              "done": after.done}})
    else:
        console.print(f"worked {worked} cells of run {run_id} ({failed} failed); the run has "
                      f"{after.done} of {after.total} cells done", highlight=False)
        console.print("the process that started the run writes its analysis; if it has "
                      f"stopped, finish with `neuroforge experiment run FILE --resume {run_id}`",
                      highlight=False)
    if failed:
        fail(f"{failed} of the {worked} cells this worker ran failed (see above); a resume "
             f"of run {run_id} runs them again")


def _joinable_run(store: Any, run_id: str) -> tuple[ExperimentSpec, str, Any]:
    """(spec, experiment id, queue counts) of a run a worker can join, or exit 2."""
    from neuroforge.knowledge.cell_queue import queue_counts
    from neuroforge.knowledge.experiments import experiment_of_run

    try:
        with store.session() as session:
            run, _ = experiment_of_run(session, run_id)
            spec = ExperimentSpec.model_validate(run.inputs["spec"])
            counts = queue_counts(session, run_id)
            experiment_id = run.inputs["experiment_id"]
    except LookupError as exc:
        fail(str(exc), 2)
    if counts.total == 0:
        fail(f"run {run_id} has no queued cells: it was started by an older NeuroForge; "
             f"finish it with `neuroforge experiment run FILE --resume {run_id}`", 2)
    return spec, experiment_id, counts


def _work_in_threads(deps: Any, task: Any, threads: int) -> list[dict[str, Any]]:
    """Run ``threads`` workers on the queue; re-raise the first failure after all end."""
    from concurrent.futures import ThreadPoolExecutor

    from neuroforge.graphs.experiment import work_queue

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(work_queue, deps, task) for _ in range(threads)]
        try:
            return [future.result() for future in futures]
        except KeyboardInterrupt:
            deps.stop.set()  # the workers release their claims and end at a cell boundary
            for future in futures:
                future.exception()
            raise
