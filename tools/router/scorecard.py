"""One comparison of a router and its baselines on held-out rows, with the same scorer.

Every router (the neural one, kNN, logistic, the oracle) is a matrix of predicted
quality per (prompt, model); each is turned into decisions over the same cost-weight
grid, on the same rows, against the same true outcomes and per-prompt costs. Fixed
policies (each single model, random) are points. The zero router is RouterBench's:
the convex hull of the single models, i.e. mixing whole models at random.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroforge.tools.router.baselines import filled
from neuroforge.tools.router.data import RoutingTable
from neuroforge.tools.router.evaluate import apgr_with_interval, bootstrap_interval
from neuroforge.tools.router.frontier import (
    COST_WEIGHTS,
    Frontier,
    aiq,
    choices,
    frontier,
    unit_costs,
    upper_hull,
)

__all__ = ["operating_point", "scorecard"]


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _aiq_interval(picked: np.ndarray, quality: np.ndarray, costs: np.ndarray, low: float,
                  high: float) -> list[float]:
    rows = np.arange(picked.shape[1])
    got, paid = quality[rows[None, :], picked], costs[rows[None, :], picked]

    def statistic(sample: np.ndarray) -> float:
        points = np.stack([paid[:, sample].mean(axis=1), got[:, sample].mean(axis=1)], axis=1)
        return aiq(upper_hull(points), low, high)

    return bootstrap_interval(statistic, picked.shape[1], rounds=300)


def _curve_entry(curve: Frontier, low: float, high: float, reference: tuple[float, float]
                 ) -> dict[str, Any]:
    entry: dict[str, Any] = curve.summary(low, high, reference)
    entry["frontier"] = [{"cost": _round(c), "quality": round(float(q), 4)}
                         for c, q in curve.hull]
    return entry


def operating_point(predicted: np.ndarray, table: RoutingTable, cost_weight: float
                    ) -> dict[str, Any]:
    """What the router does at one cost weight: mean cost, quality and share per model."""
    q = filled(table.quality)
    picked = choices(predicted, unit_costs(table.model_costs), np.array([cost_weight]))[0]
    rows = np.arange(len(picked))
    shares = np.bincount(picked, minlength=len(table.models)) / max(len(picked), 1)
    return {"cost_weight": cost_weight, "cost": _round(float(table.costs[rows, picked].mean())),
            "quality": round(float(q[rows, picked].mean()), 4),
            "shares": {m: round(float(s), 4) for m, s in zip(table.models, shares, strict=True)}}


def _single_models(table: RoutingTable, train: RoutingTable) -> dict[str, Any]:
    q = filled(table.quality)
    singles = [{"model": m, "cost": _round(float(c)), "quality": round(float(v), 4)}
               for m, c, v in zip(table.models, table.model_costs, q.mean(axis=0), strict=True)]
    # The best single model is the one a user would pick from the training rows.
    best = int(np.argmax(np.nanmean(train.quality, axis=0)))
    cheapest = int(np.argmin(table.model_costs))
    return {"singles": singles, "best": best, "cheapest": cheapest}


def scorecard(test: RoutingTable, train: RoutingTable, predicted: dict[str, np.ndarray]
              ) -> dict[str, Any]:
    """Router and baselines on ``test``: frontier, AIQ, reference comparisons, and for two
    models RouteLLM's APGR/CPT; bootstrap intervals over test rows for the headline metric."""
    q = filled(test.quality)
    units = unit_costs(test.model_costs)
    low, high = float(test.model_costs.min()), float(test.model_costs.max())
    singles = _single_models(test, train)
    best = singles["singles"][singles["best"]]
    reference = (best["cost"], best["quality"])
    learned = {**predicted, "oracle": q}
    results: dict[str, Any] = {}
    for name, scores in learned.items():
        # The oracle knows each prompt's outcome and its own cost; routers know neither.
        picked = choices(scores, test.costs / test.cost_scale if name == "oracle" else units)
        entry = _curve_entry(frontier(picked, q, test.costs), low, high, reference)
        entry["aiq_95ci"] = _aiq_interval(picked, q, test.costs, low, high)
        results[name] = entry
    zero = upper_hull(np.array([[s["cost"], s["quality"]] for s in singles["singles"]]))
    results["zero_router"] = _curve_entry(Frontier(zero, zero), low, high, reference)
    results["random"] = {"cost": _round(float(test.model_costs.mean())),
                         "quality": round(float(q.mean()), 4)}
    results["best_single"] = dict(best)
    results["cheapest"] = dict(singles["singles"][singles["cheapest"]])
    if len(test.models) == 2:
        _add_apgr(results, test, learned)
    return {"single_models": singles["singles"], "reference_model": best["model"],
            "cost_range": [_round(low), _round(high)], "results": results,
            "cost_weights": [float(w) for w in COST_WEIGHTS]}


def _add_apgr(results: dict[str, Any], test: RoutingTable, learned: dict[str, np.ndarray]
              ) -> None:
    q = filled(test.quality)
    weak, strong = int(np.argmin(test.model_costs)), int(np.argmax(test.model_costs))
    for name, scores in learned.items():
        results[name].update(apgr_with_interval(scores[:, strong] - scores[:, weak],
                                                q[:, weak], q[:, strong]))
    results["random"].update({"apgr": 0.5, "cpt50": 0.5, "cpt80": 0.8})
