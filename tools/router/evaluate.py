"""Router evaluation on a held-out split, with baselines on the same split and features.

Two models (RouteLLM's metrics): a router ranks prompts by how much it prefers
the strong model; sending the top share s of prompts to it gives a quality
q(s). PGR(s) = (q(s) - q_weak) / (q_strong - q_weak); APGR is the mean of PGR
over s in [0, 1] (101 points); CPT(x) is the smallest s with PGR >= x. A random
router has APGR 0.5 by construction. More models: sweep the quality/cost knob
lambda and report accuracy against average cost, and the normalized area under
that curve.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "GRID",
    "apgr_metrics",
    "cost_quality_curve",
    "exact_pgr",
    "knn_predict",
    "pgr_curve",
]

GRID = np.linspace(0.0, 1.0, 101)


def _filled(quality: np.ndarray) -> np.ndarray:
    # Unobserved outcomes count as the model's mean (neutral) so rows stay usable.
    means = np.nanmean(quality, axis=0)
    return np.where(np.isnan(quality), means, quality)


def exact_pgr(preference: np.ndarray, weak: np.ndarray, strong: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """(share, PGR) after routing the k most-preferred prompts to the strong model, k = 0..n."""
    n = len(preference)
    # Stable sort with a fixed tie order keeps results reproducible.
    order = np.argsort(-preference, kind="stable")
    gain = np.concatenate([[0.0], np.cumsum(strong[order] - weak[order])]) / n
    gap = strong.mean() - weak.mean()
    shares = np.arange(n + 1) / n
    return shares, (gain / gap if abs(gap) > 1e-12 else np.ones_like(gain))


def pgr_curve(preference: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """PGR at each share in ``GRID`` (linear between whole numbers of routed prompts)."""
    shares, pgr = exact_pgr(preference, weak, strong)
    return np.interp(GRID, shares, pgr)


def _summary(preference: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> dict[str, float]:
    shares, pgr = exact_pgr(preference, weak, strong)

    def cpt(target: float) -> float:
        reached = np.nonzero(pgr >= target - 1e-9)[0]
        return round(float(shares[reached[0]]), 4) if len(reached) else 1.0

    apgr = float(np.interp(GRID, shares, pgr).mean())
    return {"apgr": round(apgr, 4), "cpt50": cpt(0.5), "cpt80": cpt(0.8)}


def apgr_metrics(preferences: dict[str, np.ndarray], quality: np.ndarray, weak: int,
                 strong: int) -> dict[str, Any]:
    """APGR/CPT for each named preference vector, plus random/oracle/always-one baselines."""
    q = _filled(quality)
    w, s = q[:, weak], q[:, strong]
    results: dict[str, Any] = {name: _summary(pref, w, s) for name, pref in preferences.items()}
    results["random"] = {"apgr": 0.5, "cpt50": 0.5, "cpt80": 0.8,
                         "note": "expected value: PGR(s) = s"}
    results["oracle"] = _summary(s - w, w, s)
    results["always_weak"] = {"quality": round(float(w.mean()), 4), "strong_share": 0.0}
    results["always_strong"] = {"quality": round(float(s.mean()), 4), "strong_share": 1.0}
    return results


def knn_predict(train_x: np.ndarray, train_q: np.ndarray, test_x: np.ndarray, k: int = 10
                ) -> np.ndarray:
    """Per-model quality as the mean over the k most similar training prompts (cosine)."""
    def unit(a: np.ndarray) -> np.ndarray:
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    q = _filled(train_q)
    predictions = []
    for start in range(0, len(test_x), 1024):
        sims = unit(test_x[start:start + 1024]) @ unit(train_x).T
        nearest = np.argpartition(-sims, kth=min(k, sims.shape[1] - 1), axis=1)[:, :k]
        predictions.append(q[nearest].mean(axis=1))
    return np.concatenate(predictions)


def cost_quality_curve(predicted: np.ndarray, quality: np.ndarray, costs: np.ndarray,
                       lambdas: np.ndarray | None = None) -> dict[str, Any]:
    """Accuracy against average cost as lambda sweeps, and the normalized area under it."""
    q = _filled(quality)
    lambdas = np.linspace(0, 2, 41) if lambdas is None else lambdas
    points = []
    for lam in lambdas:
        choice = np.argmax(predicted - lam * costs[None, :], axis=1)
        rows = np.arange(len(choice))
        points.append((float(costs[choice].mean()), float(q[rows, choice].mean())))
    points.sort()
    low, high = float(costs.min()), float(costs.max())
    xs = np.array([low] + [p[0] for p in points] + [high])
    ys = np.array([points[0][1]] + [p[1] for p in points] + [points[-1][1]])
    area = float(np.trapezoid(ys, xs) / (high - low)) if high > low else float(ys.mean())
    return {"points": [{"cost": round(c, 4), "quality": round(v, 4)} for c, v in points],
            "auc": round(area, 4)}
