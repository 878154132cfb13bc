"""``neuroforge experiment``: run an experiment file with a progress bar, resume, list runs,
rank models, write reports. Models are checked before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from neuroforge.cli.common import (
    JsonFlag,
    RunInterrupted,
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
from neuroforge.settings import Settings

__all__ = ["experiment_app", "run_experiment"]

experiment_app = typer.Typer(help="Experiments: prompts x models on a labelled dataset.",
                             no_args_is_help=True)


@experiment_app.command("run")
def experiment_run(
    file: Annotated[Path, typer.Argument(help="Experiment file (.yaml, .yml or .toml).")],
    no_cache: Annotated[bool, typer.Option("--no-cache",
                                           help="Make every repeat a fresh model call.")]
    = False,
    resume: Annotated[str | None, typer.Option(help="Run id of an interrupted run to finish.")]
    = None,
    as_json: JsonFlag = False,
) -> None:
    """Run an experiment with a live progress bar; finished cells are stored as they finish."""
    from neuroforge.analysis.experiment_report import markdown_summary
    from neuroforge.graphs.experiment import ExperimentError
    from neuroforge.knowledge.db import DatabaseError
    from neuroforge.knowledge.experiment_spec import ExperimentSpecError, load_spec

    current = settings()
    try:
        spec = load_spec(file)
    except ExperimentSpecError as exc:
        fail(str(exc), 2)
    judge = [spec.judge_model] if spec.judge_model else []
    problems = unknown_models(current, [*spec.models, *judge])
    if problems:
        fail("; ".join(problems), 2)
    try:
        state = run_experiment(current, spec, no_cache=no_cache, resume=resume,
                               show_progress=True, console=errors)
    except (ExperimentError, DatabaseError, LookupError) as exc:
        fail(str(exc), 2)
    except RunInterrupted as stopped:
        fail(f"interrupted; finished cells are saved. Continue with `neuroforge experiment run "
             f"{file} --resume {stopped.run_id}`", 130)
    summary = state["summary"]
    if as_json:
        print_json({"run_id": state["run_id"], "experiment": spec.name, **summary})
    else:
        meta = {"run_id": state["run_id"], "name": spec.name,
                "status": "partial" if summary["errors"] else "succeeded"}
        console.print(markdown_summary(summary, meta), highlight=False, markup=False,
                      soft_wrap=True)
        console.print(f"report: neuroforge experiment report {state['run_id']} --out "
                      "report.html", highlight=False)
    if summary["errors"]:
        # What finished is stored and reported above; the run is not done until the
        # failed cells are, and a resume runs only those.
        answers = sum(cell["cells"] for cell in summary["cells"].values())
        fail(f"{summary['errors']} of {answers} cells failed (see above); the "
             "finished ones are saved. Once the cause is fixed, run the failed ones with "
             f"`neuroforge experiment run {file} --resume {state['run_id']}`")


@experiment_app.command("list")
def experiment_list(as_json: JsonFlag = False) -> None:
    """Recent experiment runs, newest first."""
    from neuroforge.knowledge.experiments import list_experiment_runs
    from neuroforge.wiring import open_store

    with open_store(settings()).session() as session:
        found = list_experiment_runs(session)
    if as_json:
        print_json({"runs": found})
        return
    if not found:
        console.print("no experiment runs yet; start one with `neuroforge experiment run FILE`")
        return
    table = Table("run", "experiment", "status", "started (UTC)", "cells", "best cell")
    for r in found:
        best = dict(r["best"] or {})
        cell = best.pop("cell", None)
        shown = f"{cell}: {next(iter(best.values())):.3f}" if cell and best else "-"
        table.add_row(r["run_id"], r["experiment"], r["status"], r["started_at"][:19],
                      f"{r['cells']}/{r['planned'] or '?'}", shown)
    console.print(table)


@experiment_app.command("strengths")
def experiment_strengths(
    target: Annotated[str | None, typer.Argument(
        help='A category or dataset, e.g. "lexical" or "antonyms"; default: all.')] = None,
    as_json: JsonFlag = False,
) -> None:
    """Which model is strongest where: the knowledge graph built from finished experiments."""
    from neuroforge.knowledge.strengths import strength_graph, strongest_models
    from neuroforge.wiring import open_store

    with open_store(settings()).session() as session:
        graph = strength_graph(session)
    measured = sorted(n for n, d in graph.nodes(data=True) if d["kind"] != "model")
    targets = measured
    if target is not None:
        targets = [t for t in measured if graph.nodes[t]["name"] == target or t == target]
        if not targets:
            known = ", ".join(measured) or "none yet"
            fail(f"no experiment measured {target!r}; known: {known}", 2)
    ranked = {t: strongest_models(graph, t) for t in targets}
    if as_json:
        print_json(ranked)
        return
    if not ranked:
        console.print("no finished experiments yet; run `neuroforge experiment run FILE`")
        return
    table = Table("category / dataset", "model", "strength", "examples", "cells")
    for name, models in ranked.items():
        for i, entry in enumerate(models):
            table.add_row(name if i == 0 else "", entry["model"], f"{entry['strength']:.3f}",
                          str(entry["examples"]), str(entry["cells"]))
    console.print(table)


@experiment_app.command("report")
def experiment_report(
    run_id: Annotated[str, typer.Argument(help="An experiment run id (see `experiment list`).")],
    out: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here.")]
    = None,
    as_json: JsonFlag = False,
) -> None:
    """Print a run's Markdown summary; with --out also write the HTML report with plots."""
    from neuroforge.analysis.experiment_report import html_report, markdown_summary
    from neuroforge.knowledge.experiments import load_report
    from neuroforge.wiring import open_store

    try:
        with open_store(settings()).session() as session:
            summary, rows, meta = load_report(session, run_id)
    except LookupError as exc:
        fail(str(exc), 2)
    if out is not None:
        target = report_paths(out)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html_report(summary, rows, meta), encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {target}: {exc.strerror or exc}")
    if as_json:
        print_json({**meta, **summary, "html": str(report_paths(out)) if out else None})
        return
    console.print(markdown_summary(summary, meta), highlight=False, markup=False,
                  soft_wrap=True)
    if out is not None:
        console.print(f"HTML report written to {report_paths(out)}", highlight=False)


def run_experiment(settings: Settings, spec: ExperimentSpec, *, no_cache: bool = False,
                   resume: str | None = None, show_progress: bool = True,
                   console: Console | None = None) -> dict[str, Any]:
    """Run (or resume) an experiment under the checkpointer; returns the final state.

    Raises ``LookupError`` when ``resume`` names no experiment run, and
    ``RunInterrupted`` (with the run id) after Ctrl-C, the run marked interrupted.
    """
    from neuroforge.graphs.experiment import create_experiment_graph, experiment_config
    from neuroforge.knowledge.experiments import resumable_run
    from neuroforge.knowledge.records import mark_interrupted
    from neuroforge.knowledge.schema import new_id
    from neuroforge.wiring import checkpointer, experiment_deps, open_store

    store = open_store(settings)
    run_id = resume or new_id()
    if resume:
        with store.session() as session:
            stored = resumable_run(session, resume, spec.fingerprint())
    config = experiment_config(spec, run_id)
    request: dict[str, Any] | None = {"spec": spec.model_dump(), "run_id": run_id,
                                      "no_cache": no_cache}
    deps = experiment_deps(settings, store)
    with checkpointer(settings) as saver, CellProgress(show_progress, console) as progress:
        deps.on_cell, deps.on_counts = progress.cell_done, progress.sync
        app = create_experiment_graph(deps).compile(checkpointer=saver)
        if resume and app.get_state(config).next:
            request = None  # continue the interrupted superstep; finished branches stay done
            progress.planned({"planned": stored["planned"], "skipped": stored["finished"]})
        try:
            with stop_on_interrupt(deps.stop, console):
                for update in app.stream(request, config, stream_mode="updates"):
                    if "plan" in update:
                        progress.planned(update["plan"] or {})
        except KeyboardInterrupt:
            with store.session() as session:
                mark_interrupted(session, run_id)
            raise RunInterrupted(run_id) from None
        return dict(app.get_state(config).values)


def report_paths(out: Path) -> Path:
    """Where the HTML goes: ``out`` itself, or ``out/report.html`` for a directory."""
    return out / "report.html" if out.is_dir() else out
