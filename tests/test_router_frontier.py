"""The cost knob, the frontier and AIQ: hand-checked values and unit independence."""

import numpy as np
import pytest

from neuroforge.tools.router.baselines import routing_score
from neuroforge.tools.router.data import RoutingTable
from neuroforge.tools.router.evaluate import apgr_with_interval
from neuroforge.tools.router.frontier import (
    aiq,
    choices,
    cost_to_reach,
    frontier,
    hull_value,
    unit_costs,
    upper_hull,
)
from neuroforge.tools.router.scorecard import operating_point, scorecard


def test_hull_drops_points_under_a_chord_and_after_the_best() -> None:
    points = np.array([[0.0, 0.5], [0.5, 0.6], [1.0, 0.9], [2.0, 0.8], [1.0, 0.7]])
    hull = upper_hull(points)
    assert hull.tolist() == [[0.0, 0.5], [1.0, 0.9]]
    # Flat past the best point; nothing below the cheapest point.
    assert hull_value(hull, 2.0) == 0.9 and hull_value(hull, -1.0) == 0.0
    assert hull_value(hull, 0.5) == pytest.approx(0.7)
    assert cost_to_reach(hull, 0.7) == pytest.approx(0.5)
    assert cost_to_reach(hull, 0.95) is None and cost_to_reach(hull, 0.2) == 0.0


def test_aiq_is_the_normalised_area_with_no_credit_below_the_cheapest_point() -> None:
    hull = upper_hull(np.array([[0.0, 0.5], [1.0, 0.9]]))
    assert aiq(hull, 0.0, 1.0) == pytest.approx(0.7)
    assert aiq(hull, 0.0, 2.0) == pytest.approx((0.7 + 0.9) / 2)  # flat to the right
    late = upper_hull(np.array([[0.5, 0.5], [1.0, 0.9]]))
    # Area of the trapezoid over [0.5, 1] only, divided by the whole width.
    assert aiq(late, 0.0, 1.0) == pytest.approx(0.5 * 0.7)


def _table(scale: float) -> RoutingTable:
    """Three models priced like cheap/mid/frontier APIs, times ``scale`` (the unit)."""
    rng = np.random.default_rng(0)
    kind = rng.integers(0, 3, 300)  # prompt difficulty: 0 easy, 1 medium, 2 hard
    quality = np.stack([kind == 0, kind <= 1, np.ones(300, bool)], axis=1).astype(float)
    prices = np.array([0.0001, 0.001, 0.01]) * scale
    costs = np.tile(prices, (300, 1)) * rng.uniform(0.5, 1.5, (300, 1))
    return RoutingTable([f"p{i}" for i in range(300)], ["small", "mid", "large"], quality,
                        costs, "synthetic", "as given")


@pytest.mark.parametrize("scale", [1.0, 100.0, 1e6])  # dollars, cents, arbitrary units
def test_cost_knob_sweeps_every_model_whatever_the_unit(scale: float) -> None:
    table = _table(scale)
    predicted = np.clip(table.quality * 0.8 + 0.1, 0, 1)  # a good, not perfect, router
    picked = choices(predicted, unit_costs(table.model_costs))
    chosen = {int(m) for row in picked for m in set(row.tolist())}
    assert chosen == {0, 1, 2}
    rows = np.arange(len(table.prompts))
    # Weight 0: the best predicted quality (the cheaper on a tie); the top: cheapest only.
    assert (predicted[rows, picked[0]] == predicted.max(axis=1)).all()
    assert (picked[0] == 2).any() and (picked[-1] == 0).all()
    curve = frontier(picked, table.quality, table.costs)
    # The same decisions in any unit: the frontier only scales along the cost axis.
    reference = frontier(choices(predicted, unit_costs(_table(1.0).model_costs)),
                         _table(1.0).quality, _table(1.0).costs)
    assert np.allclose(curve.points[:, 0] / scale, reference.points[:, 0])
    assert len(curve.hull) >= 3
    low, high = table.model_costs.min(), table.model_costs.max()
    assert aiq(curve.hull, low, high) == pytest.approx(aiq(reference.hull, low / scale,
                                                           high / scale))
    middle = operating_point(predicted, table, 0.3)
    assert 0 < middle["shares"]["small"] < 1 and middle["quality"] > 0.95


def test_scorecard_compares_router_and_baselines_on_the_same_rows() -> None:
    table = _table(1.0)
    train, test = table.subset(np.arange(200)), table.subset(np.arange(200, 300))
    perfect = np.clip(test.quality, 0, 1)
    noise = np.random.default_rng(1).random(test.quality.shape)
    card = scorecard(test, train, {"router": perfect, "coin": noise})
    results = card["results"]
    assert card["reference_model"] == "large"
    # Knowing outcomes is not enough to be the oracle: it also knows each prompt's own cost.
    assert 0.97 * results["oracle"]["aiq"] < results["router"]["aiq"] <= results["oracle"]["aiq"]
    assert results["router"]["aiq"] > results["zero_router"]["aiq"] > 0
    assert results["coin"]["aiq"] < results["router"]["aiq"]
    # The perfect router matches the large model's quality at a fraction of its cost.
    assert results["router"]["cost_share_to_match_reference"] < 0.5
    low, high = results["router"]["aiq_95ci"]
    assert low <= results["router"]["aiq"] <= high
    assert "apgr" not in results["router"]  # three models: no APGR


def test_two_model_scorecard_keeps_apgr_with_an_interval() -> None:
    rng = np.random.default_rng(0)
    weak = (rng.random(400) < 0.6).astype(float)
    strong = np.maximum(weak, rng.random(400) < 0.5).astype(float)
    table = RoutingTable([str(i) for i in range(400)], ["weak", "strong"],
                         np.stack([weak, strong], axis=1), np.tile([0.0, 1.0], (400, 1)), "t")
    oracle_like = np.stack([weak, strong], axis=1)
    card = scorecard(table, table, {"router": oracle_like})
    router = card["results"]["router"]
    assert router["apgr"] > 0.85 and router["apgr_95ci"][0] <= router["apgr"]
    assert card["results"]["random"]["apgr"] == 0.5
    summary = apgr_with_interval(rng.random(400), weak, strong)
    assert summary["apgr_95ci"][0] < 0.5 < summary["apgr_95ci"][1]
    assert routing_score(oracle_like, table.quality, table.costs) == router["apgr"] or abs(
        routing_score(oracle_like, table.quality, table.costs) - router["apgr"]) < 1e-4
