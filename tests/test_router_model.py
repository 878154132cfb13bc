from pathlib import Path

import numpy as np
import pytest
import torch

from neuroforge.tools.router.baselines import knn_predict
from neuroforge.tools.router.evaluate import apgr_summary, pgr_curve
from neuroforge.tools.router.features import FEATURE_DIM, FEATURE_VERSION
from neuroforge.tools.router.net import (
    LinearRouter,
    RouterEnsemble,
    RouterFileError,
    RouterMeta,
    RouterNet,
    load_router,
    save_router,
)
from neuroforge.tools.router.router import ModelOption, NeuralRouter, RuleRouter, parameter_count
from neuroforge.tools.router.tool import make_route_task_tool
from neuroforge.tools.router.train import TrainConfig, predict_logits, train_net


def synthetic(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two prompt clusters: model 0 is good on cluster A only, model 1 everywhere."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 2, n)
    x = rng.normal(0, 1, (n, FEATURE_DIM)).astype(np.float32)
    x[:, :16] += 1.5 * cluster[:, None]
    q = np.stack([(cluster == 0) & (rng.random(n) < 0.9), rng.random(n) < 0.85], axis=1)
    return x, q.astype(float)


def test_training_learns_and_is_deterministic() -> None:
    x, q = synthetic()
    config = TrainConfig(epochs=40, patience=5)
    net, report = train_net(x[:450], q[:450], config)
    again, _ = train_net(x[:450], q[:450], config)
    for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    p = 1 / (1 + np.exp(-predict_logits(net, x[450:])))
    result = apgr_summary(p[:, 1] - p[:, 0], q[450:, 0], q[450:, 1])
    assert result["apgr"] > 0.75 and report.best_epoch >= 1
    assert len(report.temperature) == 2 and all(0.25 <= t <= 4 for t in report.temperature)


def test_pgr_curve_on_a_hand_checked_example() -> None:
    weak = np.array([1.0, 0.0, 0.0, 1.0])
    strong = np.array([1.0, 1.0, 1.0, 1.0])
    curve = pgr_curve(np.array([0.0, 0.9, 0.8, 0.1]), weak, strong)
    # Gap is 0.5; sending 2 of 4 prompts (the two the strong model wins) recovers all of it.
    assert curve[0] == 0 and curve[50] == 1.0 and curve[100] == 1.0 and curve[25] == 0.5
    perfect = apgr_summary(np.array([0.0, 0.9, 0.8, 0.1]), weak, strong)
    assert perfect["cpt50"] == 0.25 and perfect["cpt80"] == 0.5
    backwards = apgr_summary(np.array([0.9, 0.0, 0.1, 0.8]), weak, strong)
    assert backwards["apgr"] < 0.5 < perfect["apgr"]

def test_knn_uses_the_nearest_prompts() -> None:
    train_x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    train_q = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    predicted = knn_predict(train_x, train_q, np.array([[1.0, 0.05], [0.05, 1.0]]), k=2)
    assert predicted.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    # k larger than the training set averages everything instead of failing.
    assert knn_predict(train_x, train_q, train_x[:1], k=50).tolist() == [[0.5, 0.5]]


def test_save_load_and_refusals(tmp_path: Path) -> None:
    torch.manual_seed(0)
    linear = LinearRouter(2)
    ensemble = RouterEnsemble([RouterNet(2), linear], [[1.3, 1.1], [0.7, 0.7]], [0.25, 0.75])
    meta = RouterMeta(models=["a", "b"], costs=[0.0, 1.0], provenance={"seed": 3})
    path = tmp_path / "router.pt"
    save_router(path, ensemble, meta)
    loaded, loaded_meta = load_router(path)
    assert loaded_meta.temperatures == [[1.3, 1.1], [0.7, 0.7]]
    assert loaded_meta.member_kinds == ["mlp", "linear"]
    assert loaded_meta.provenance == {"seed": 3}
    x = np.random.default_rng(0).normal(size=(3, FEATURE_DIM)).astype(np.float32)
    assert np.allclose(ensemble.predict(x), loaded.predict(x))
    one = 1 / (1 + np.exp(-predict_logits(ensemble.members[0], x) / np.array([1.3, 1.1])))
    two = 1 / (1 + np.exp(-linear(torch.from_numpy(x)).detach().numpy() / 0.7))
    assert np.allclose(loaded.predict(x), 0.25 * one + 0.75 * two, atol=1e-6)
    net = ensemble.members[0]
    with pytest.raises(RouterFileError, match="no trained router"):
        load_router(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RouterFileError, match="not a readable router file"):
        load_router(tmp_path / "junk.pt")
    old = RouterMeta(models=["a", "b"], costs=[0, 1], feature_version=FEATURE_VERSION - 1)
    save_router(tmp_path / "old.pt", RouterEnsemble([net], [[1.0, 1.0]]), old)
    with pytest.raises(RouterFileError, match="feature version"):
        load_router(tmp_path / "old.pt")
    # A single-net file from before ensembles says to retrain, not a key error.
    torch.save({"state_dict": net.state_dict(), "meta": {"models": ["a", "b"], "costs": [0, 1],
                                                        "temperature": 1.0, "file_format": 1}},
               tmp_path / "v1.pt")
    with pytest.raises(RouterFileError, match="format 1.*Retrain"):
        load_router(tmp_path / "v1.pt")


def test_new_model_learns_from_a_few_outcomes_without_disturbing_others() -> None:
    x, q = synthetic()
    net, _ = train_net(x[:450], q[:450], TrainConfig(epochs=30, patience=5))
    before = predict_logits(net, x[450:])
    index = net.add_model()
    # The new model is good exactly where model 0 is bad (cluster B): 40 outcomes suffice.
    new_q = np.full((450, 3), np.nan)
    new_q[:40, 2] = 1 - q[:40, 0]
    net, _ = train_net(x[:450], new_q, TrainConfig(epochs=80, patience=20, lr=5e-3), net=net,
                       frozen_models=2)
    after = predict_logits(net, x[450:])
    assert index == 2 and np.allclose(before, after[:, :2], atol=1e-5)
    cluster_b = x[450:, :16].mean(axis=1) > 0.75
    assert after[cluster_b, 2].mean() > after[~cluster_b, 2].mean()


def test_decisions_fallback_and_tool() -> None:
    options = [ModelOption("tiny", 0.0, 1.35e8), ModelOption("big", 1.0, 7e9)]
    rules = RuleRouter()
    assert rules.route("Say hello", options).model == "tiny"
    hard = rules.route("def f(x):\n    return x + 1\nFix this code", options)
    assert hard.model == "big" and hard.method == "fallback"
    net = RouterNet(2)
    with torch.no_grad():
        net.model_bias.copy_(torch.tensor([-6.0, -6.0]))  # hopeless on everything
    low = NeuralRouter(RouterEnsemble([net], [[1.0, 1.0]]), RouterMeta(models=["tiny", "big"],
                                                                costs=[0, 1]))
    decision = low.route("Say hello", options)
    assert decision.method == "fallback" and "confidence" in decision.reason
    unknown = NeuralRouter(RouterEnsemble([net], [[1.0, 1.0]]), RouterMeta(models=["x", "y"],
                                                                    costs=[0, 1]))
    assert "knows none" in unknown.route("Say hello", options).reason
    tool = make_route_task_tool(rules, lambda: options)
    assert set(tool.args) == {"task"}
    assert '"model": "tiny"' in tool.invoke({"task": "Say hello"})
    assert "empty" in tool.invoke({"task": "  "})
    assert parameter_count("3.2B") == 3.2e9 and parameter_count("smollm2-135m") == 1.35e8
    assert parameter_count("mystery") is None
