"""Analysis of an experiment run: per-cell estimates, paired tests, best model per
category, and the trend against earlier runs of the same experiment.

Examples are the unit of resampling and pairing: repeats of one example are
averaged first (majority for right/wrong), so repeats never inflate significance.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from neuroforge.analysis.stats import bootstrap_ci, holm, mcnemar, paired_permutation

__all__ = ["cell_label", "summarize", "trend_point"]

_SPACE = re.compile(r"\s+")


def cell_label(prompt_key: str, model: str) -> str:
    """How a (prompt, model) cell is named in tables and plots."""
    return f"{prompt_key} @ {model}"


def _answer_key(output: str) -> str:
    first = next((line for line in output.strip().splitlines() if line.strip()), "")
    return _SPACE.sub(" ", first.strip().lower())


def _by_example(rows: Sequence[Mapping[str, Any]], field: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        if row.get(field) is not None:
            out[row["example_key"]].append(row[field])
    return out


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def _cell(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> dict[str, Any]:
    ok = [r for r in rows if r.get("error") is None]
    out: dict[str, Any] = {"cells": len(rows), "errors": len(rows) - len(ok),
                           "examples": len({r["example_key"] for r in ok})}
    correct = _by_example(ok, "correct")
    if "accuracy" in metrics and correct:
        per_example = [float(np.mean(v)) for v in correct.values()]
        out["accuracy"] = _round(float(np.mean(per_example)))
        out["accuracy_ci"] = [_round(x) for x in bootstrap_ci(per_example)]
    scores = _by_example(ok, "score")
    if "quality" in metrics and scores:
        per_example = [float(np.mean(v)) for v in scores.values()]
        out["quality"] = _round(float(np.mean(per_example)))
        out["quality_ci"] = [_round(x) for x in bootstrap_ci(per_example)]
    latencies = [r["latency_ms"] for r in ok if r.get("latency_ms") is not None]
    if "latency" in metrics and latencies:
        out["latency_p50_ms"] = _round(float(np.percentile(latencies, 50)), 1)
        out["latency_p95_ms"] = _round(float(np.percentile(latencies, 95)), 1)
    tokens = [r["tokens"] for r in ok if r.get("tokens") is not None]
    if "tokens" in metrics and tokens:
        out["tokens_mean"] = _round(float(np.mean(tokens)), 1)
    answers = _by_example(ok, "output")
    repeated = [v for v in answers.values() if len(v) > 1]
    if "consistency" in metrics and repeated:
        # Share of an example's repeats that give its most common answer.
        shares = [Counter(map(_answer_key, v)).most_common(1)[0][1] / len(v) for v in repeated]
        out["consistency"] = _round(float(np.mean(shares)))
    return out


def _paired(a_rows: Sequence[Mapping[str, Any]], b_rows: Sequence[Mapping[str, Any]],
            metrics: Sequence[str]) -> list[dict[str, Any]]:
    tests = []
    for metric, field in (("accuracy", "correct"), ("quality", "score"),
                          ("latency", "latency_ms")):
        if metric not in metrics:
            continue
        a, b = _by_example(a_rows, field), _by_example(b_rows, field)
        shared = sorted(set(a) & set(b))
        if metric == "accuracy" and shared and all(len(a[k]) == len(b[k]) == 1
                                                   for k in shared):
            test = mcnemar([bool(a[k][0]) for k in shared], [bool(b[k][0]) for k in shared])
        elif len(shared) >= 2:
            # An example's value is the mean over its repeats, as in the cell table (for
            # accuracy a majority vote per example, McNemar's input, reports other means).
            test = paired_permutation([float(np.mean(a[k])) for k in shared],
                                      [float(np.mean(b[k])) for k in shared])
        else:
            continue
        tests.append({"metric": metric, "examples": len(shared), **test.as_dict()})
    return tests


def _comparisons(groups: Mapping[tuple[str, str], list[Mapping[str, Any]]],
                 prompts: Sequence[str], models: Sequence[str],
                 metrics: Sequence[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for model in models:  # prompt variants on the same model
        for pa, pb in itertools.combinations(prompts, 2):
            for test in _paired(groups.get((pa, model), []), groups.get((pb, model), []),
                                metrics):
                found.append({"a": cell_label(pa, model), "b": cell_label(pb, model),
                              "between": "prompts", **test})
    for prompt in prompts:  # models on the same prompt
        for ma, mb in itertools.combinations(models, 2):
            for test in _paired(groups.get((prompt, ma), []), groups.get((prompt, mb), []),
                                metrics):
                found.append({"a": cell_label(prompt, ma), "b": cell_label(prompt, mb),
                              "between": "models", **test})
    adjusted = holm([t["p_value"] for t in found])
    for test, p in zip(found, adjusted, strict=True):
        test["p_holm"] = round(p, 6)
        test["p_value"] = round(test["p_value"], 6)
        test["significant"] = p < 0.05
    return found


def _best_by_category(groups: Mapping[tuple[str, str], list[Mapping[str, Any]]],
                      categories: Mapping[str, str], models: Sequence[str],
                      primary: str) -> dict[str, dict[str, Any]]:
    field = "correct" if primary == "accuracy" else "score"
    best: dict[str, dict[str, Any]] = {}
    for category in sorted(set(categories.values())):
        keys = [k for k, c in categories.items() if c == category]
        # Per model: mean outcome per (prompt, example), the pairing unit across models.
        per_model: dict[str, dict[tuple[str, str], float]] = {}
        for model in models:
            outcomes: dict[tuple[str, str], float] = {}
            for key in keys:
                ok = [r for r in groups.get((key, model), []) if r.get("error") is None]
                for example, values in _by_example(ok, field).items():
                    outcomes[(key, example)] = float(np.mean(values))
            if outcomes:
                per_model[model] = outcomes
        if not per_model:
            continue
        ranked = sorted(per_model, key=lambda m: -statistics.fmean(per_model[m].values()))
        entry: dict[str, Any] = {
            "model": ranked[0], primary: _round(statistics.fmean(per_model[ranked[0]].values())),
            "ranking": {m: _round(statistics.fmean(per_model[m].values())) for m in ranked}}
        if len(ranked) > 1:
            a, b = per_model[ranked[0]], per_model[ranked[1]]
            shared = sorted(set(a) & set(b))
            test = (mcnemar([a[k] >= 0.5 for k in shared], [b[k] >= 0.5 for k in shared])
                    if primary == "accuracy" else
                    paired_permutation([a[k] for k in shared], [b[k] for k in shared]))
            entry |= {"runner_up": ranked[1], "p_value": round(test.p_value, 6)}
        best[category] = entry
    return best


def trend_point(run_id: str, started_at: str, cells: Mapping[str, Mapping[str, Any]],
                primary: str) -> dict[str, Any]:
    """One run's primary metric per cell, for the trend across runs."""
    return {"run_id": run_id, "started_at": started_at,
            "cells": {label: c.get(primary) for label, c in cells.items()}}


def summarize(rows: Sequence[Mapping[str, Any]], spec: Mapping[str, Any],
              history: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The analysis of one run's cells; ``history`` holds earlier runs' trend points."""
    metrics = list(spec.get("metrics") or ["accuracy"])
    primary = "accuracy" if "accuracy" in metrics else "quality"
    prompts = [p["key"] for p in spec["prompts"]]
    categories = {p["key"]: p.get("category", "general") for p in spec["prompts"]}
    models = list(spec["models"])
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["prompt_key"], row["model"])].append(row)
    cells = {cell_label(p, m): {"prompt": p, "model": m, "category": categories[p],
                                **_cell(groups.get((p, m), []), metrics)}
             for p in prompts for m in models}
    scored = [(label, c[primary]) for label, c in cells.items() if c.get(primary) is not None]
    best = max(scored, key=lambda item: item[1]) if scored else None
    previous = history[-1] if history else None
    changes = {}
    if previous:
        for label, cell in cells.items():
            before = previous["cells"].get(label)
            if before is not None and cell.get(primary) is not None:
                changes[label] = round(cell[primary] - before, 4)
    return {
        "primary_metric": primary,
        "cells": cells,
        "comparisons": _comparisons(groups, prompts, models, metrics),
        "best_by_category": _best_by_category(groups, categories, models, primary),
        "best": {"cell": best[0], primary: best[1]} if best else None,
        "errors": sum(c["errors"] for c in cells.values()),
        "trend": [*history],
        "change_vs_previous": changes,
    }
