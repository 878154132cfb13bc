"""How ``router train/eval`` print their figures: single models, router vs baselines, frontier."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_metrics"]

LEARNED = ("router", "knn", "logistic", "zero_router", "oracle")


def _ci(entry: dict[str, Any], key: str) -> str:
    interval = entry.get(key)
    return f"{interval[0]:.3f}-{interval[1]:.3f}" if interval else "-"


def _figure(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _comparison(metrics: dict[str, Any], two_models: bool) -> Table:
    reference = metrics["reference_model"]
    columns = ["router", "AIQ", "95% CI", f"quality at {reference}'s cost",
               f"cost share to match {reference}"]
    if two_models:
        columns += ["APGR", "APGR 95% CI", "CPT(50%)", "CPT(80%)"]
    table = Table(*columns)
    rows = {"router": metrics["router"], **metrics["baselines"]}
    for name in LEARNED:
        entry = rows.get(name)
        if entry is None:
            continue
        cells = [name, _figure(entry["aiq"]), _ci(entry, "aiq_95ci"),
                 _figure(entry["quality_at_reference_cost"]),
                 _figure(entry["cost_share_to_match_reference"])]
        if two_models:
            cells += [_figure(entry.get("apgr")), _ci(entry, "apgr_95ci"),
                      _figure(entry.get("cpt50")), _figure(entry.get("cpt80"))]
        table.add_row(*cells)
    return table


def _singles(metrics: dict[str, Any]) -> Table:
    table = Table("model (held-out rows)", f"mean cost ({metrics['cost_unit']})", "quality")
    for single in metrics["single_models"]:
        table.add_row(single["model"], f"{single['cost']:.6g}", f"{single['quality']:.4f}")
    random = metrics["baselines"]["random"]
    table.add_row("random choice", f"{random['cost']:.6g}", f"{random['quality']:.4f}")
    return table


def _frontier(metrics: dict[str, Any]) -> Table:
    table = Table("router frontier: mean cost", "quality")
    for point in metrics["router"]["frontier"]:
        table.add_row(f"{point['cost']:.6g}", f"{point['quality']:.4f}")
    return table


def print_metrics(console: Console, metrics: dict[str, Any]) -> None:
    """Every figure of ``router train/eval``, as tables."""
    rows_info, models = metrics["rows"], ", ".join(metrics["models"])
    console.print(f"data: {metrics['source']} ({rows_info['train']} train, "
                  f"{rows_info['held_out']} held out); models: {models}", highlight=False)
    console.print(_singles(metrics))
    console.print(_comparison(metrics, len(metrics["models"]) == 2))
    console.print(_frontier(metrics))
    tuning = metrics["tuning"]
    console.print(f"baselines tuned by 5-fold CV on the training rows: kNN k="
                  f"{tuning['knn']['k']}, logistic L2={tuning['logistic']['l2']:g}",
                  highlight=False)
    if "operating_point" in metrics:
        point = metrics["operating_point"]
        shares = ", ".join(f"{m} {s:.0%}" for m, s in point["shares"].items())
        console.print(f"at cost weight {point['cost_weight']:g}: mean cost "
                      f"{point['cost']:.6g}, quality {point['quality']:.4f} ({shares})",
                      highlight=False)
    train = metrics["train"]
    temperature = sum(train["temperature"]) / len(train["temperature"])
    console.print(f"training: {train['seconds']} s over {train['epochs_run']} epochs in all; "
                  f"mean temperature {temperature:.2f}", highlight=False)
    if "adopted" in metrics:
        verdict = "adopted" if metrics["adopted"] else "kept aside (not better than current)"
        console.print(f"candidate {verdict}: {metrics['candidate_score']} vs current "
                      f"{metrics['current_score']} -> {metrics['saved_to']}", highlight=False)
    elif "saved_to" in metrics:
        console.print(f"saved to {metrics['saved_to']}", highlight=False)
    if "report" in metrics:
        console.print(f"report written to {metrics['report']}", highlight=False)
