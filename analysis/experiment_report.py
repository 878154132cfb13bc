"""Experiment reports: a Markdown summary for terminals and one self-contained HTML file
with matplotlib plots embedded as PNG data URIs.
"""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["html_report", "markdown_summary"]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ci(cell: Mapping[str, Any], metric: str) -> str:
    if cell.get(metric) is None:
        return "-"
    low, high = cell.get(f"{metric}_ci") or (None, None)
    return f"{cell[metric]:.3f} [{_fmt(low)}, {_fmt(high)}]"


def _cell_rows(summary: Mapping[str, Any]) -> list[list[str]]:
    return [[label, _ci(c, "accuracy"), _ci(c, "quality"), _fmt(c.get("latency_p50_ms"), 1),
             _fmt(c.get("latency_p95_ms"), 1), _fmt(c.get("tokens_mean"), 1),
             _fmt(c.get("consistency")), str(c.get("examples", 0)), str(c.get("errors", 0))]
            for label, c in summary["cells"].items()]


_CELL_HEADER = ["cell (prompt @ model)", "accuracy [95% CI]", "quality [95% CI]", "p50 ms",
                "p95 ms", "tokens", "consistency", "examples", "errors"]
_TEST_HEADER = ["A", "B", "metric", "test", "examples", "mean A", "mean B", "effect",
                "effect size", "p", "p (Holm)"]
# Said under every significance table, so its means are never read as different numbers.
TESTS_NOTE = ("Means are over the examples both cells answered (the cell table uses all of "
              "a cell's examples), each example's repeats averaged first, as in the cell "
              "table. Accuracy: McNemar when each example was asked once, paired permutation "
              "otherwise; quality and latency: paired permutation.")


def _test_rows(summary: Mapping[str, Any]) -> list[list[str]]:
    return [[t["a"], t["b"], t["metric"], t["test"], str(t.get("examples", "-")),
             _fmt(t["mean_a"]), _fmt(t["mean_b"]),
             _fmt(t["effect"]), _fmt(t["effect_size"], 2), _fmt(t["p_value"], 4),
             _fmt(t["p_holm"], 4) + (" *" if t["significant"] else "")]
            for t in summary["comparisons"]]


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r.replace("|", "\\|") for r in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_summary(summary: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """The run's results as Markdown: cells, best model per category, tests, trend."""
    parts = [f"# Experiment {meta['name']} (run {meta['run_id']})",
             f"{meta.get('status', '?')}; {summary.get('stored', 0)} of "
             f"{summary.get('planned', 0)} cells stored, {summary['errors']} with errors; "
             f"primary metric: {summary['primary_metric']}.",
             "", _markdown_table(_CELL_HEADER, _cell_rows(summary)), ""]
    if summary["best"]:
        metric = summary["primary_metric"]
        parts.append(f"Best cell: **{summary['best']['cell']}** ({metric} "
                     f"{summary['best'][metric]:.3f}).")
    for category, best in summary["best_by_category"].items():
        versus = (f" over {best['runner_up']} (p = {best['p_value']:.4f})"
                  if "runner_up" in best else "")
        parts.append(f"- category **{category}**: best model {best['model']}{versus}")
    if summary["comparisons"]:
        parts += ["", "## Paired tests (* = significant after Holm correction)", "",
                  TESTS_NOTE, "", _markdown_table(_TEST_HEADER, _test_rows(summary))]
    if summary["change_vs_previous"]:
        previous = summary["trend"][-1]["run_id"]
        parts += ["", f"## Change against the previous run ({previous})", ""]
        parts += [f"- {label}: {delta:+.3f}" for label, delta in
                  summary["change_vs_previous"].items()]
    return "\n".join(parts) + "\n"


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _accuracy_plot(summary: Mapping[str, Any]) -> str | None:
    import matplotlib.pyplot as plt

    metric = summary["primary_metric"]
    cells = [(label, c) for label, c in summary["cells"].items() if c.get(metric) is not None]
    if not cells:
        return None
    figure, axis = plt.subplots(figsize=(max(5.0, 1.1 * len(cells)), 3.6))
    values = [c[metric] for _, c in cells]
    lows = [max(0.0, c[metric] - (c.get(f"{metric}_ci") or [c[metric]])[0]) for _, c in cells]
    highs = [max(0.0, (c.get(f"{metric}_ci") or [0, c[metric]])[1] - c[metric])
             for _, c in cells]
    axis.bar(range(len(cells)), values, yerr=[lows, highs], capsize=4, color="#4C72B0")
    axis.set_xticks(range(len(cells)), [label for label, _ in cells], rotation=30, ha="right")
    axis.set_ylim(0, 1.05)
    axis.set_ylabel(f"{metric} (95% bootstrap CI)")
    axis.set_title(f"{metric} per prompt x model")
    return _png(figure)


def _latency_plot(rows: Sequence[Mapping[str, Any]]) -> str | None:
    import matplotlib.pyplot as plt

    by_cell: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row.get("latency_ms") is not None and row.get("error") is None:
            by_cell[f"{row['prompt_key']} @ {row['model']}"].append(row["latency_ms"])
    if not by_cell:
        return None
    figure, axis = plt.subplots(figsize=(max(5.0, 1.1 * len(by_cell)), 3.6))
    axis.boxplot(list(by_cell.values()), showfliers=True)
    axis.set_xticks(range(1, len(by_cell) + 1), list(by_cell), rotation=30, ha="right")
    axis.set_ylabel("latency per call (ms)")
    axis.set_title("latency distributions (uncached calls)")
    return _png(figure)


def _trend_plot(summary: Mapping[str, Any], meta: Mapping[str, Any]) -> str | None:
    import matplotlib.pyplot as plt

    metric = summary["primary_metric"]
    points = [*summary["trend"], {"run_id": meta["run_id"],
                                  "cells": {k: c.get(metric) for k, c in
                                            summary["cells"].items()}}]
    if len(points) < 2:
        return None
    figure, axis = plt.subplots(figsize=(6, 3.6))
    for label in summary["cells"]:
        ys = [p["cells"].get(label) for p in points]
        axis.plot(range(len(points)), [y if y is not None else float("nan") for y in ys],
                  marker="o", label=label)
    axis.set_xticks(range(len(points)), [p["run_id"][:8] for p in points], rotation=30)
    axis.set_ylabel(metric)
    axis.set_ylim(0, 1.05)
    axis.set_title("trend across runs of this experiment")
    axis.legend(fontsize=7)
    return _png(figure)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_report(summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]],
                meta: Mapping[str, Any]) -> str:
    """One self-contained HTML page: tables, plots (embedded PNGs), tests and trend."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in tests
    plots = [("Accuracy", _accuracy_plot(summary)), ("Latency", _latency_plot(rows)),
             ("Trend", _trend_plot(summary, meta))]
    figures = "".join(f"<h2>{title}</h2><img alt='{title} plot' src='{uri}'>"
                      for title, uri in plots if uri)
    best = "".join(
        f"<li>category <b>{html.escape(c)}</b>: {html.escape(b['model'])}"
        + (f" over {html.escape(b['runner_up'])} (p = {b['p_value']:.4f})"
           if "runner_up" in b else "") + "</li>"
        for c, b in summary["best_by_category"].items())
    no_trend = "" if summary["trend"] else "<p>No earlier run of this experiment.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>NeuroForge experiment {html.escape(meta['name'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;
font-size:13px}}th{{background:#f3f3f3}}img{{max-width:100%}}</style></head><body>
<h1>Experiment {html.escape(meta['name'])}</h1>
<p>Run {html.escape(meta['run_id'])}, {html.escape(str(meta.get('status', '?')))},
started {html.escape(str(meta.get('started_at', '?')))};
{summary.get('stored', 0)} of {summary.get('planned', 0)} cells stored,
{summary['errors']} with errors. Primary metric: {summary['primary_metric']}.</p>
<h2>Cells</h2>{_html_table(_CELL_HEADER, _cell_rows(summary))}
<h2>Best model per category</h2><ul>{best}</ul>
{figures}
<h2>Significance</h2><p>{html.escape(TESTS_NOTE)} * = significant at 0.05 after Holm
correction.</p>
{_html_table(_TEST_HEADER, _test_rows(summary))}
{no_trend}
</body></html>
"""
