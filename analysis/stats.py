"""Statistics for experiments: bootstrap intervals and paired significance tests.

Plain numpy and ``math``: no scipy dependency for three small, well-known tests.
Every randomized procedure takes a seed so reports are reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["PairedTest", "bootstrap_ci", "holm", "mcnemar", "paired_permutation"]


def bootstrap_ci(values: Sequence[float], *, level: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; (nan, nan) without data."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return (math.nan, math.nan)
    if data.size == 1 or np.all(data == data[0]):
        return (float(data[0]), float(data[0]))
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return (float(low), float(high))


@dataclass(frozen=True)
class PairedTest:
    """One paired comparison of variant A against variant B on the same examples."""

    test: str
    n: int
    mean_a: float
    mean_b: float
    effect: float  # mean_a - mean_b
    effect_size: float  # odds ratio (McNemar) or Cohen's d_z (permutation)
    p_value: float
    discordant: tuple[int, int] | None = None  # (A right & B wrong, A wrong & B right)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return asdict(self)


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> PairedTest:
    """McNemar's test on paired right/wrong outcomes.

    Exact two-sided binomial test on the discordant pairs when there are fewer than
    25 of them, the continuity-corrected chi-square otherwise. Effect size is the
    odds ratio of the discordant counts (with 0.5 added to both when one is zero).
    """
    if len(a) != len(b):
        raise ValueError(f"paired outcomes differ in length: {len(a)} and {len(b)}")
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    discordant = only_a + only_b
    if discordant == 0:
        p = 1.0
    elif discordant < 25:
        k = min(only_a, only_b)
        p = min(1.0, 2 * sum(math.comb(discordant, i) for i in range(k + 1)) / 2 ** discordant)
    else:
        statistic = (abs(only_a - only_b) - 1) ** 2 / discordant
        p = math.erfc(math.sqrt(statistic / 2))  # chi-square with 1 df
    odds = ((only_a + 0.5) / (only_b + 0.5) if 0 in (only_a, only_b)
            else only_a / only_b)
    n = len(a)
    mean_a = sum(map(bool, a)) / n if n else math.nan
    mean_b = sum(map(bool, b)) / n if n else math.nan
    return PairedTest("mcnemar", n, mean_a, mean_b, mean_a - mean_b, odds, p,
                      (only_a, only_b))


def paired_permutation(a: Sequence[float], b: Sequence[float], *, resamples: int = 10000,
                       seed: int = 0) -> PairedTest:
    """Two-sided paired permutation (sign-flip) test on the mean difference.

    Exact over all 2^n sign patterns when n <= 16, Monte Carlo otherwise. Effect size
    is Cohen's d_z: mean difference over the standard deviation of differences.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired scores differ in length: {x.size} and {y.size}")
    diff = x - y
    n = diff.size
    if n == 0:
        return PairedTest("permutation", 0, math.nan, math.nan, math.nan, math.nan, 1.0)
    observed = abs(diff.mean())
    if n <= 16:
        patterns = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1) * 2 - 1
    else:
        patterns = np.random.default_rng(seed).choice([-1.0, 1.0], size=(resamples, n))
    means = np.abs((patterns * diff).mean(axis=1))
    # The observed pattern counts as one of the permutations, so p is never 0.
    extreme = int(np.sum(means >= observed - 1e-12))
    p = extreme / len(means) if n <= 16 else (extreme + 1) / (len(means) + 1)
    spread = diff.std(ddof=1) if n > 1 else 0.0
    d_z = float(diff.mean() / spread) if spread > 0 else 0.0
    return PairedTest("permutation", n, float(x.mean()), float(y.mean()), float(diff.mean()),
                      d_z, float(min(1.0, p)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted
