"""Learned baselines a router must beat, tuned by cross-validation on the training split only.

- kNN: a model's predicted quality is its mean outcome over the k most similar training
  prompts (cosine on the MiniLM embeddings); k is chosen by 5-fold CV.
- Logistic regression: one linear logit per model on the router's own features, the L2
  strength chosen by 5-fold CV.

Both are tuned for the routing score itself (APGR with two models, AIQ with more), the
figure they are compared on.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from neuroforge.tools.router.evaluate import apgr
from neuroforge.tools.router.frontier import aiq, choices, frontier, unit_costs
from neuroforge.tools.router.train import fit_linear

__all__ = [
    "KNN_CHOICES",
    "L2_CHOICES",
    "filled",
    "knn_predict",
    "logistic_predict",
    "routing_score",
    "tuned",
]

KNN_CHOICES = (1, 3, 5, 10, 20, 50, 100, 200)
L2_CHOICES = (1e-3, 1e-2, 1e-1, 1.0)
Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]


def filled(quality: np.ndarray) -> np.ndarray:
    """Unobserved outcomes as the model's mean (neutral), so rows stay usable."""
    return np.where(np.isnan(quality), np.nanmean(quality, axis=0), quality)


def routing_score(predicted: np.ndarray, quality: np.ndarray, costs: np.ndarray) -> float:
    """APGR for two models (strong = the costlier), AIQ for more; on true outcomes."""
    q = filled(quality)
    model_costs = costs.mean(axis=0)
    if q.shape[1] == 2:
        weak, strong = int(np.argmin(model_costs)), int(np.argmax(model_costs))
        return apgr(predicted[:, strong] - predicted[:, weak], q[:, weak], q[:, strong])
    curve = frontier(choices(predicted, unit_costs(model_costs)), q, costs)
    return aiq(curve.hull, float(model_costs.min()), float(model_costs.max()))


def knn_predict(train_x: np.ndarray, train_q: np.ndarray, test_x: np.ndarray, k: float = 10
                ) -> np.ndarray:
    """Per-model quality as the mean over the k most similar training prompts (cosine)."""
    def unit(a: np.ndarray) -> np.ndarray:
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    k = int(min(max(k, 1), len(train_x)))
    q = filled(train_q)
    reference = unit(train_x)
    predictions = []
    for start in range(0, len(test_x), 1024):
        sims = unit(test_x[start:start + 1024]) @ reference.T
        nearest = (np.argpartition(-sims, kth=k - 1, axis=1)[:, :k] if k < sims.shape[1]
                   else np.tile(np.arange(sims.shape[1]), (len(sims), 1)))
        predictions.append(q[nearest].mean(axis=1))
    return np.concatenate(predictions)


def logistic_predict(train_x: np.ndarray, train_q: np.ndarray, test_x: np.ndarray,
                     l2: float = 1e-3) -> np.ndarray:
    """Per-model logistic regression (masked on observed outcomes), full-batch L-BFGS."""
    model = fit_linear(train_x, train_q, l2)
    with torch.no_grad():
        return torch.sigmoid(model(torch.from_numpy(test_x.astype(np.float32)))).numpy(
            ).astype(np.float64)


def tuned(predict: Predictor, choices_: tuple[float, ...], train_x: np.ndarray,
          train_q: np.ndarray, train_costs: np.ndarray, folds: int = 5, seed: int = 0
          ) -> tuple[float, dict[str, float]]:
    """The setting with the best mean routing score over ``folds`` CV folds of the train split."""
    order = np.random.default_rng(seed).permutation(len(train_x))
    parts = np.array_split(order, folds)
    scores: dict[str, float] = {}
    for setting in choices_:
        per_fold = []
        for index, held in enumerate(parts):
            fit = np.concatenate([p for i, p in enumerate(parts) if i != index])
            if len(held) == 0 or len(fit) == 0:
                continue
            predicted = predict(train_x[fit], train_q[fit], train_x[held], setting)
            per_fold.append(routing_score(predicted, train_q[held], train_costs[held]))
        scores[f"{setting:g}"] = round(float(np.mean(per_fold)), 4) if per_fold else -1.0
    best = max(choices_, key=lambda s: scores[f"{s:g}"])
    return best, scores
