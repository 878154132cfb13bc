"""``router eval --report FILE.html``: the accuracy/cost frontiers as one self-contained page.

Plain SVG, no plotting library and nothing fetched: the page opens offline.
"""

from __future__ import annotations

import html
from typing import Any

__all__ = ["frontier_rows", "render_html"]

WIDTH, HEIGHT, PAD = 640, 400, 56
COLOURS = {"router": "#d62728", "knn": "#1f77b4", "logistic": "#2ca02c",
           "zero_router": "#7f7f7f", "oracle": "#9467bd"}


def frontier_rows(metrics: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, entry) for the router and every baseline that has a frontier."""
    rows = [("router", metrics["router"])]
    rows += [(name, entry) for name, entry in metrics["baselines"].items()
             if isinstance(entry, dict) and "frontier" in entry]
    return rows


def _scale(metrics: dict[str, Any]) -> tuple[float, float, float, float]:
    costs = [p["cost"] for _, e in frontier_rows(metrics) for p in e["frontier"]]
    costs += [s["cost"] for s in metrics["single_models"]]
    qualities = [p["quality"] for _, e in frontier_rows(metrics) for p in e["frontier"]]
    qualities += [s["quality"] for s in metrics["single_models"]]
    low_q, high_q = min(qualities), max(qualities)
    return min(costs), max(max(costs), min(costs) + 1e-12), low_q, max(high_q, low_q + 1e-6)


def _svg(metrics: dict[str, Any]) -> str:
    x0, x1, y0, y1 = _scale(metrics)

    def at(cost: float, quality: float) -> tuple[float, float]:
        return (PAD + (cost - x0) / (x1 - x0) * (WIDTH - 2 * PAD),
                HEIGHT - PAD - (quality - y0) / (y1 - y0) * (HEIGHT - 2 * PAD))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
             'stroke="black"/>',
             f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="black"/>',
             f'<text x="{WIDTH / 2}" y="{HEIGHT - 12}" text-anchor="middle">mean cost per '
             f'prompt ({html.escape(str(metrics.get("cost_unit", "")))})</text>',
             f'<text x="14" y="{HEIGHT / 2}" transform="rotate(-90 14 {HEIGHT / 2})" '
             'text-anchor="middle">quality</text>']
    for value, anchor in ((x0, "start"), (x1, "end")):
        x, _ = at(value, y0)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD + 16}" text-anchor="{anchor}" '
                     f'font-size="11">{value:.4g}</text>')
    for value in (y0, y1):
        _, y = at(x0, value)
        parts.append(f'<text x="{PAD - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="11">{value:.3f}</text>')
    for index, (name, entry) in enumerate(frontier_rows(metrics)):
        colour = COLOURS.get(name, "#ff7f0e")
        points = " ".join("{:.1f},{:.1f}".format(*at(p["cost"], p["quality"]))
                          for p in entry["frontier"])
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                     f'stroke-width="2"/>')
        parts.append(f'<text x="{WIDTH - PAD - 150}" y="{PAD + 16 * index}" fill="{colour}" '
                     f'font-size="12">{html.escape(name)} (AIQ {entry["aiq"]})</text>')
    for single in metrics["single_models"]:
        x, y = at(single["cost"], single["quality"])
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="black"><title>'
                     f'{html.escape(single["model"])}</title></circle>')
    parts.append("</svg>")
    return "\n".join(parts)


def render_html(metrics: dict[str, Any]) -> str:
    """One HTML page: the frontier plot and the figures behind it."""
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{entry['aiq']}</td>"
        f"<td>{entry.get('aiq_95ci', '')}</td><td>{entry['quality_at_reference_cost']}</td>"
        f"<td>{entry['cost_to_match_reference']}</td><td>{entry.get('apgr', '')}</td></tr>"
        for name, entry in frontier_rows(metrics))
    singles = "".join(f"<tr><td>{html.escape(s['model'])}</td><td>{s['cost']}</td>"
                      f"<td>{s['quality']}</td></tr>" for s in metrics["single_models"])
    rows_info = metrics["rows"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>NeuroForge router eval"
        "</title><style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px}"
        "</style></head><body>"
        f"<h1>Router evaluation</h1><p>{html.escape(str(metrics['source']))}: "
        f"{rows_info['train']} training rows, {rows_info['held_out']} held-out rows. "
        f"Reference model (best single on the training rows): "
        f"{html.escape(metrics['reference_model'])}.</p>{_svg(metrics)}"
        "<h2>Held-out figures</h2><table><tr><th>router</th><th>AIQ</th><th>95 % CI</th>"
        "<th>quality at reference cost</th><th>cost to match reference</th><th>APGR</th>"
        f"</tr>{rows}</table><h2>Single models</h2><table><tr><th>model</th><th>cost</th>"
        f"<th>quality</th></tr>{singles}</table></body></html>\n")
