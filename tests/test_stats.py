"""Bootstrap intervals and paired tests against hand-computed values."""

import math
import random

import pytest

from neuroforge.analysis.stats import bootstrap_ci, holm, mcnemar, paired_permutation


def test_bootstrap_interval_covers_the_mean_and_narrows_with_data() -> None:
    rng = random.Random(1)
    small = [float(rng.random() < 0.6) for _ in range(20)]
    large = [float(rng.random() < 0.6) for _ in range(2000)]
    low, high = bootstrap_ci(small)
    assert low <= sum(small) / 20 <= high
    big_low, big_high = bootstrap_ci(large)
    assert big_high - big_low < (high - low) / 4
    assert big_low < 0.6 < big_high
    assert bootstrap_ci([0.5]) == (0.5, 0.5)
    assert all(math.isnan(x) for x in bootstrap_ci([]))


def test_mcnemar_exact_and_chi_square() -> None:
    # 10 discordant pairs all favouring A: exact two-sided p = 2 / 2^10.
    a = [True] * 10 + [True] * 5 + [False] * 5
    b = [False] * 10 + [True] * 5 + [False] * 5
    test = mcnemar(a, b)
    assert test.discordant == (10, 0)
    assert test.p_value == pytest.approx(2 / 1024)
    assert test.effect == pytest.approx(0.5) and test.effect_size == pytest.approx(21.0)
    # 40 vs 20 discordant: chi-square (|40-20|-1)^2/60 = 6.0167, p = 0.01418.
    a = [True] * 40 + [False] * 20
    b = [False] * 40 + [True] * 20
    assert mcnemar(a, b).p_value == pytest.approx(0.014175, abs=1e-5)
    assert mcnemar([True, False], [True, False]).p_value == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        mcnemar([True], [True, False])


def test_paired_permutation_exact_and_monte_carlo() -> None:
    # Differences all +1 over 6 pairs: only the all-plus and all-minus patterns are as
    # extreme, so p = 2 / 64.
    test = paired_permutation([2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6])
    assert test.p_value == pytest.approx(2 / 64)
    assert test.effect == 1.0 and test.effect_size == 0.0  # no spread in differences
    rng = random.Random(3)
    a = [rng.gauss(0, 1) for _ in range(60)]
    same = paired_permutation(a, [x + rng.gauss(0, 0.1) for x in a])
    shifted = paired_permutation([x + 0.5 for x in a], [x + rng.gauss(0, 0.1) for x in a])
    assert same.p_value > 0.05 and shifted.p_value < 0.001 and shifted.effect_size > 3


def test_holm_adjustment() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []
