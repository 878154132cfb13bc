"""``neuroforge route | router``: choose a model for a task; train and evaluate the router."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from neuroforge.cli.common import (
    JsonFlag,
    console,
    errors,
    fail,
    print_json,
    read_text_arg,
    settings,
)
from neuroforge.settings import Settings

__all__ = ["route", "router_app"]

router_app = typer.Typer(help="The neural router: train and evaluate.", no_args_is_help=True)


def route(
    task: Annotated[str, typer.Argument(help="The task to route, or - to read stdin.")] = "",
    execute: Annotated[bool, typer.Option("--execute", help="Run the task on the chosen "
                                          "model and record the judged outcome.")] = False,
    cost_weight: Annotated[float, typer.Option(min=0.0, help="Lambda: how much cost counts "
                                               "against predicted quality.")] = 0.0,
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
        out = graph.invoke({"task": text, "execute": execute, "cost_weight": cost_weight})
    except (RouteInputError, DatabaseError, ModelError) as exc:
        fail(str(exc), 2 if isinstance(exc, RouteInputError) else 1)
    out["router_note"] = why
    if as_json:
        print_json(out)
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
        if event.startswith("execute: failed"):
            errors.print(f"[red]{event}[/]", highlight=False)


@router_app.command("train")
def router_train(
    data: Annotated[str | None, typer.Option(help="Routing table: RouteLLM CSV (file or "
                                             "folder) or JSONL.")] = None,
    from_records: Annotated[bool, typer.Option("--from-records", help="Train on recorded "
                                               "outcomes; adopt only if better.")] = False,
    held_out: Annotated[float, typer.Option(min=0.05, max=0.9)] = 0.3,
    seed: int = 0,
    as_json: JsonFlag = False,
) -> None:
    """Train the neural router, measure it on held-out data, and save it."""
    if (data is None) == (not from_records):
        fail("give exactly one of --data PATH or --from-records", 2)
    metrics = train_command(settings(), data, from_records, held_out, seed)
    print_json(metrics) if as_json else print_metrics(console, metrics)


@router_app.command("eval")
def router_eval(
    data: Annotated[str, typer.Option(help="Routing table to evaluate on.")],
    held_out: Annotated[float, typer.Option(min=0.05, max=0.9)] = 0.3,
    seed: int = 0,
    as_json: JsonFlag = False,
) -> None:
    """Router and baselines (random, always-one, oracle, kNN) on the same held-out split."""
    metrics = eval_command(settings(), data, held_out, seed)
    print_json(metrics) if as_json else print_metrics(console, metrics)


def _table(settings: Settings, data: str | None) -> Any:
    from neuroforge.tools.router.data import RoutingDataError, load_table, table_from_records

    try:
        if data is not None:
            return load_table(data)
        from neuroforge.wiring import open_store

        with open_store(settings).session() as session:
            return table_from_records(session)
    except RoutingDataError as exc:
        fail(str(exc), 2)


def train_command(settings: Settings, data: str | None, from_records: bool, held_out: float,
                  seed: int) -> dict[str, Any]:
    """Train from a file (always saved) or from records (adopted only if better)."""
    from neuroforge.tools.router.pipeline import train_and_save, train_candidate_and_maybe_adopt
    from neuroforge.wiring import router_path

    table = _table(settings, data)
    cache = settings.router_dir / "cache"
    if from_records:
        return train_candidate_and_maybe_adopt(table, router_path(settings), cache,
                                               held_out=held_out, seed=seed)
    return train_and_save(table, router_path(settings), cache, held_out=held_out, seed=seed)


def eval_command(settings: Settings, data: str, held_out: float, seed: int) -> dict[str, Any]:
    """Train on the split's train part and report router and baselines on its held-out part."""
    from neuroforge.tools.router.pipeline import evaluate_table

    _net, _meta, metrics = evaluate_table(_table(settings, data), settings.router_dir / "cache",
                                          held_out=held_out, seed=seed)
    return metrics


def print_metrics(console: Console, metrics: dict[str, Any]) -> None:
    """A table of router and baseline metrics."""
    rows_info, models = metrics["rows"], ", ".join(metrics["models"])
    console.print(f"data: {metrics['source']} ({rows_info['train']} train, "
                  f"{rows_info['held_out']} held out); models: {models}")
    rows = {"router": metrics["router"], **metrics["baselines"]}
    table = Table("router", "APGR / AUC", "CPT(50%)", "CPT(80%)", "quality")
    for name, m in rows.items():
        if not isinstance(m, dict) or name == "models":
            continue
        table.add_row(name, str(m.get("apgr", m.get("auc", "-"))), str(m.get("cpt50", "-")),
                      str(m.get("cpt80", "-")), str(m.get("quality", "-")))
    console.print(table)
    train = metrics["train"]
    console.print(f"training: {train['epochs_run']} epochs (best {train['best_epoch']}), "
                  f"{train['seconds']} s; temperature {train['temperature']:.2f}")
    if "adopted" in metrics:
        verdict = "adopted" if metrics["adopted"] else "kept aside (not better than current)"
        console.print(f"candidate {verdict}: {metrics['candidate_score']} vs current "
                      f"{metrics['current_score']} -> {metrics['saved_to']}")
    elif "saved_to" in metrics:
        console.print(f"saved to {metrics['saved_to']}")
