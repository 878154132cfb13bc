"""The accuracy/cost frontier of a router over its cost knob, and RouterBench's AIQ.

A router with cost weight lambda picks, per prompt, ``argmax(predicted - lambda *
unit_cost)`` where unit costs are the models' mean costs divided by the most
expensive one, so the same lambda grid moves decisions for costs in dollars, cents
or any unit. Each lambda is an operating point (mean cost paid, mean quality got).
Two operating points can be mixed at random, so what a router offers is the upper
convex hull of its points, kept non-decreasing (paying more never has to hurt).
AIQ (RouterBench) is the area under that hull over [cheapest single model's cost,
most expensive single model's cost], divided by the width; below a router's
cheapest point it has nothing to offer, so the area there counts as zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "COST_WEIGHTS",
    "Frontier",
    "aiq",
    "choices",
    "cost_to_reach",
    "frontier",
    "hull_value",
    "unit_costs",
    "upper_hull",
]

# 0, then 0.001 .. 10,000: unit costs lie in (0, 1] and predicted qualities in [0, 1],
# so this spans "quality only" to "cheapest model always" for any price ratio.
COST_WEIGHTS = np.concatenate([[0.0], np.logspace(-3, 4, 71)])


def unit_costs(model_costs: np.ndarray) -> np.ndarray:
    """Mean costs divided by the largest: unit-free, the most expensive model at 1."""
    top = float(np.max(model_costs))
    return np.asarray(model_costs, dtype=np.float64) / (top if top > 0 else 1.0)


def choices(predicted: np.ndarray, costs: np.ndarray, weights: np.ndarray = COST_WEIGHTS
            ) -> np.ndarray:
    """Chosen model per (weight, prompt): shape (len(weights), n).

    ``costs`` are unit costs per model (m,) or per prompt and model (n, m). Equal
    predicted quality goes to the cheaper model even at weight 0.
    """
    per_prompt = costs if costs.ndim == 2 else costs[None, :]
    scores = predicted[None, :, :] - (weights[:, None, None] + 1e-9) * per_prompt[None, :, :]
    return np.argmax(scores, axis=2)


def upper_hull(points: np.ndarray) -> np.ndarray:
    """The non-decreasing upper convex hull of (cost, quality) points, sorted by cost."""
    ordered = points[np.lexsort((-points[:, 1], points[:, 0]))]
    hull: list[np.ndarray] = []
    for point in ordered:
        if hull and point[0] == hull[-1][0]:
            continue  # same cost, lower or equal quality (sorted best first)
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # Drop the middle point when it lies on or below the chord to the new point.
            if (x2 - x1) * (point[1] - y1) - (y2 - y1) * (point[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(point)
    kept = np.array(hull)
    top = int(np.argmax(kept[:, 1]))
    return kept[:top + 1]  # beyond the best point, more cost buys nothing


def hull_value(hull: np.ndarray, cost: float) -> float:
    """Quality the hull offers at ``cost``: 0 below its cheapest point, flat past its best."""
    if cost < hull[0, 0] - 1e-12:
        return 0.0
    return float(np.interp(cost, hull[:, 0], hull[:, 1]))


def cost_to_reach(hull: np.ndarray, quality: float) -> float | None:
    """The least cost at which the hull reaches ``quality``; None if it never does."""
    if hull[-1, 1] < quality - 1e-12:
        return None
    if hull[0, 1] >= quality:
        return float(hull[0, 0])
    index = int(np.nonzero(hull[:, 1] >= quality - 1e-12)[0][0])
    (x1, y1), (x2, y2) = hull[index - 1], hull[index]
    return float(x1 + (quality - y1) * (x2 - x1) / (y2 - y1))


def aiq(hull: np.ndarray, low: float, high: float) -> float:
    """Area under the hull over [low, high] divided by the width (the hull's value if equal)."""
    if high <= low:
        return hull_value(hull, high)
    start = max(low, float(hull[0, 0]))  # nothing is offered below the cheapest point
    if start >= high:
        return 0.0
    inner = hull[(hull[:, 0] > start) & (hull[:, 0] < high), 0]
    xs = np.concatenate([[start], inner, [high]])
    ys = np.interp(xs, hull[:, 0], hull[:, 1])
    return float(np.trapezoid(ys, xs) / (high - low))


@dataclass(frozen=True)
class Frontier:
    """A router's operating points over the cost knob and what they add up to."""

    points: np.ndarray  # (weights, 2): mean cost, mean quality
    hull: np.ndarray

    def summary(self, low: float, high: float, reference: tuple[float, float]
                ) -> dict[str, float | None]:
        """AIQ over [low, high]; quality at the reference model's cost; cost to match it."""
        ref_cost, ref_quality = reference
        reach = cost_to_reach(self.hull, ref_quality)
        return {"aiq": round(aiq(self.hull, low, high), 4),
                "quality_at_reference_cost": round(hull_value(self.hull, ref_cost), 4),
                "cost_to_match_reference": None if reach is None else float(f"{reach:.6g}"),
                "cost_share_to_match_reference": (None if reach is None or ref_cost <= 0
                                                  else round(reach / ref_cost, 4))}


def frontier(picked: np.ndarray, quality: np.ndarray, costs: np.ndarray) -> Frontier:
    """Operating points of per-weight choices ``picked`` (weights x n) on true outcomes."""
    rows = np.arange(picked.shape[1])
    got = quality[rows[None, :], picked]
    paid = costs[rows[None, :], picked]
    points = np.stack([paid.mean(axis=1), got.mean(axis=1)], axis=1)
    return Frontier(points, upper_hull(points))
