"""Two-model routing metrics (RouteLLM's) and bootstrap intervals over test rows.

A router ranks prompts by how much it prefers the strong model; sending the top
share s of prompts to it gives a quality q(s). PGR(s) = (q(s) - q_weak) /
(q_strong - q_weak); APGR is the mean of PGR over s in [0, 1] (101 points);
CPT(x) is the smallest s with PGR >= x. A random router has APGR 0.5 by
construction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "GRID",
    "apgr",
    "apgr_summary",
    "apgr_with_interval",
    "bootstrap_interval",
    "exact_pgr",
    "pgr_curve",
]

GRID = np.linspace(0.0, 1.0, 101)


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


def apgr(preference: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> float:
    """Mean PGR over the 101 call shares of ``GRID``."""
    shares, pgr = exact_pgr(preference, weak, strong)
    return float(np.interp(GRID, shares, pgr).mean())


def apgr_summary(preference: np.ndarray, weak: np.ndarray, strong: np.ndarray
                 ) -> dict[str, float]:
    """APGR, CPT(50 %) and CPT(80 %) of one preference vector."""
    shares, pgr = exact_pgr(preference, weak, strong)

    def cpt(target: float) -> float:
        reached = np.nonzero(pgr >= target - 1e-9)[0]
        return round(float(shares[reached[0]]), 4) if len(reached) else 1.0

    value = float(np.interp(GRID, shares, pgr).mean())
    return {"apgr": round(value, 4), "cpt50": cpt(0.5), "cpt80": cpt(0.8)}


def bootstrap_interval(statistic: Callable[[np.ndarray], float], rows: int,
                       rounds: int = 1000, seed: int = 0) -> list[float]:
    """95 % percentile interval of ``statistic(resampled row indices)`` over ``rounds``."""
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, rows, rows)) for _ in range(rounds)]
    low, high = np.percentile(values, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def apgr_with_interval(preference: np.ndarray, weak: np.ndarray, strong: np.ndarray,
                       rounds: int = 1000) -> dict[str, Any]:
    """``apgr_summary`` plus a bootstrap interval of APGR over the test rows."""
    summary: dict[str, Any] = apgr_summary(preference, weak, strong)

    def statistic(rows: np.ndarray) -> float:
        return apgr(preference[rows], weak[rows], strong[rows])

    summary["apgr_95ci"] = bootstrap_interval(statistic, len(preference), rounds)
    return summary
