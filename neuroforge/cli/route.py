"""``neuroforge route | router``: choose a model for a task; train and evaluate the router."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from neuroforge.cli.common import (
    JsonFlag,
    console,
    errors,
    fail,
    print_json,
    read_text_arg,
    settings,
)
from neuroforge.cli.router_tables import print_metrics
from neuroforge.settings import Settings

__all__ = ["route", "router_app"]

router_app = typer.Typer(help="The neural router: train and evaluate.", no_args_is_help=True)


def route(
    task: Annotated[str, typer.Argument(help="The task to route, or - to read stdin.")] = "",
    execute: Annotated[bool, typer.Option("--execute", help="Run the task on the chosen "
                                          "model and record the judged outcome.")] = False,
    cost_weight: Annotated[float, typer.Option(min=0.0, help="Lambda: how much cost counts "
                                               "against predicted quality.")] = 0.0,
    models: Annotated[str | None, typer.Option(
        "--models", help="Only these available models are candidates (comma-separated).")]
    = None,
    as_json: JsonFlag = False,
) -> None:
    """Choose the best local model for a task by weighted vote (neural router, agent, memory)."""
    from neuroforge.graphs.route import RouteInputError, create_route_graph
    from neuroforge.knowledge.db import DatabaseError
    from neuroforge.models.backends import ModelError
    from neuroforge.wiring import load_router, route_deps

    current = settings()
    text = read_text_arg(task, "task")
    _router, why = load_router(current)
    try:
        graph = create_route_graph(route_deps(current)).compile()
        request: dict[str, Any] = {"task": text, "execute": execute, "cost_weight": cost_weight}
        if models is not None:
            request["models"] = [m.strip() for m in models.split(",") if m.strip()]
        out = graph.invoke(request)
    except (RouteInputError, DatabaseError, ModelError) as exc:
        fail(str(exc), 2 if isinstance(exc, RouteInputError) else 1)
    out["router_note"] = why
    if as_json:
        print_json(out)
        if execute and "answer" not in out:
            raise typer.Exit(1)  # the JSON says why; the exit status says it failed
        return
    decision = out["decision"]
    if why:
        errors.print(f"[yellow]note:[/] {why}; rules decide for the neural voter", highlight=False)
    for vote in decision["votes"]:
        console.print(f"  {vote['voter']:>12}: {vote['model'] or '(abstained)'} "
                      f"conf {vote['confidence']:.2f} - {vote['rationale']}", highlight=False)
    console.print(f"[bold]chosen: {decision['model']}[/] - {decision['reason']}",
                  highlight=False)
    if "answer" in out:
        console.print(out["answer"], highlight=False, markup=False)
        if out.get("outcome", {}).get("quality") is not None:
            console.print(f"judged quality {out['outcome']['quality']:.1f}, recorded")
    for event in out.get("events", []):
        if event.startswith("execute: failed") or "unjudged (" in event:
            errors.print(f"[red]{event}[/]", highlight=False)
    if execute and "answer" not in out:
        fail("the task did not run: the chosen model failed (see above)")


DataOption = Annotated[str | None, typer.Option(
    help="Routing table: RouteLLM CSV (file or folder) or JSONL; a seeded share is held out.")]
TrainOption = Annotated[str | None, typer.Option(
    "--train", help="Table to train on (with --test: no split, the test file is held out).")]
TestOption = Annotated[str | None, typer.Option(
    "--test", help="Held-out table scored after training on --train.")]
HeldOut = Annotated[float, typer.Option(min=0.05, max=0.9, help="Share held out of --data.")]


@router_app.command("train")
def router_train(
    data: DataOption = None,
    train: TrainOption = None,
    test: TestOption = None,
    from_records: Annotated[bool, typer.Option("--from-records", help="Train on recorded "
                                               "outcomes; adopt only if better.")] = False,
    held_out: HeldOut = 0.3,
    seed: int = 0,
    as_json: JsonFlag = False,
) -> None:
    """Train the neural router, measure it on held-out data, and save it with its provenance."""
    if sum([data is not None, train is not None, from_records]) != 1:
        fail("give exactly one of --data PATH, --train PATH (with --test PATH) or "
             "--from-records", 2)
    metrics = train_command(settings(), _split(settings(), data, train, test, held_out, seed),
                            from_records)
    print_json(metrics) if as_json else print_metrics(console, metrics)


@router_app.command("eval")
def router_eval(
    data: DataOption = None,
    train: TrainOption = None,
    test: TestOption = None,
    held_out: HeldOut = 0.3,
    seed: int = 0,
    cost_weight: Annotated[float | None, typer.Option(
        min=0.0, help="Also show what the router does at this cost weight (0 = quality "
        "only; costs are unit-free: the most expensive model costs 1).")] = None,
    report: Annotated[str | None, typer.Option(help="Write the frontier plot and figures "
                                               "to this HTML file.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Router and baselines on the same held-out rows: frontier, AIQ, APGR (two models)."""
    if (data is None) == (train is None):
        fail("give --data PATH, or --train PATH and --test PATH", 2)
    current = settings()
    metrics = eval_command(current, _split(current, data, train, test, held_out, seed),
                           cost_weight)
    if report:
        metrics["report"] = write_report(metrics, report)
    print_json(metrics) if as_json else print_metrics(console, metrics)


def _load(path: str) -> Any:
    from neuroforge.tools.router.data import RoutingDataError, load_table

    try:
        return load_table(path)
    except RoutingDataError as exc:
        fail(str(exc), 2)


def _split(settings: Settings, data: str | None, train: str | None, test: str | None,
           held_out: float, seed: int) -> Any:
    """The rows to train on and to hold out, from the options given."""
    from neuroforge.tools.router.data import RoutingDataError, table_from_records
    from neuroforge.tools.router.pipeline import file_split, seeded_split

    if test is not None and train is None:
        fail("--test needs --train", 2)
    try:
        if train is not None:
            if test is None:
                return seeded_split(_load(train), held_out, seed)
            return file_split(_load(train), _load(test))
        if data is not None:
            return seeded_split(_load(data), held_out, seed)
        from neuroforge.wiring import open_store

        with open_store(settings).session() as session:
            return seeded_split(table_from_records(session), held_out, seed)
    except RoutingDataError as exc:
        fail(str(exc), 2)


@contextmanager
def _embedding_progress() -> Iterator[Any]:
    """A progress bar on stderr while prompts are embedded (nothing on a cache hit)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("embedding prompts"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeRemainingColumn(),
                  console=errors, transient=True) as bar:
        tasks: dict[int, Any] = {}

        def update(done: int, total: int) -> None:
            if total not in tasks:
                tasks[total] = bar.add_task("embed", total=total)
            bar.update(tasks[total], completed=done)

        yield update


def train_command(settings: Settings, split: Any, from_records: bool) -> dict[str, Any]:
    """Train from a file (always saved) or from records (adopted only if better)."""
    from neuroforge.tools.router.pipeline import train_and_save, train_candidate_and_maybe_adopt
    from neuroforge.wiring import router_path

    cache = settings.router_dir / "cache"
    with _embedding_progress() as progress:
        if from_records:
            return train_candidate_and_maybe_adopt(split, router_path(settings), cache,
                                                   progress=progress)
        return train_and_save(split, router_path(settings), cache, progress=progress)


def eval_command(settings: Settings, split: Any, cost_weight: float | None = None
                 ) -> dict[str, Any]:
    """Train on the split's train part and report router and baselines on its held-out part."""
    from neuroforge.tools.router.pipeline import evaluate_split

    with _embedding_progress() as progress:
        _router, _meta, metrics = evaluate_split(split, settings.router_dir / "cache",
                                                 progress=progress, cost_weight=cost_weight)
    return metrics


def write_report(metrics: dict[str, Any], path: str) -> str:
    """Write the HTML report; a path that cannot be written is one line."""
    from pathlib import Path

    from neuroforge.tools.router.report import render_html

    target = Path(path).expanduser()
    try:
        target.write_text(render_html(metrics), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write the report to {target}: {exc.strerror or exc}", 2)
    return str(target)
