"""``neuroforge router train/eval``: data loading errors as messages, metrics as tables."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from neuroforge.settings import Settings

__all__ = ["eval_command", "print_metrics", "train_command"]

_errors = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 2) -> NoReturn:
    _errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _table(settings: Settings, data: str | None) -> Any:
    from tools.router.data import RoutingDataError, load_table, table_from_records

    try:
        if data is not None:
            return load_table(data)
        from neuroforge.runtime import open_store

        with open_store(settings).session() as session:
            return table_from_records(session)
    except RoutingDataError as exc:
        _fail(str(exc))


def train_command(settings: Settings, data: str | None, from_records: bool, held_out: float,
                  seed: int) -> dict[str, Any]:
    """Train from a file (always saved) or from records (adopted only if better)."""
    from neuroforge.runtime import router_path
    from tools.router.pipeline import train_and_save, train_candidate_and_maybe_adopt

    table = _table(settings, data)
    cache = settings.router_dir / "cache"
    if from_records:
        return train_candidate_and_maybe_adopt(table, router_path(settings), cache,
                                               held_out=held_out, seed=seed)
    return train_and_save(table, router_path(settings), cache, held_out=held_out, seed=seed)


def eval_command(settings: Settings, data: str, held_out: float, seed: int) -> dict[str, Any]:
    """Train on the split's train part and report router and baselines on its held-out part."""
    from tools.router.pipeline import evaluate_table

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
