"""Train, evaluate and adopt routers: what ``neuroforge router train/eval`` run.

A split is either a seeded share of one table or two files (train, test); either way
the router and every learned baseline see only the training rows, and all of them are
scored on the same held-out rows by ``scorecard``.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuroforge.tools.router.baselines import (
    KNN_CHOICES,
    L2_CHOICES,
    knn_predict,
    logistic_predict,
    tuned,
)
from neuroforge.tools.router.data import RoutingDataError, RoutingTable
from neuroforge.tools.router.features import EMBEDDING_DIMENSIONS, Progress, featurize
from neuroforge.tools.router.frontier import unit_costs
from neuroforge.tools.router.net import (
    RouterEnsemble,
    RouterFileError,
    RouterMeta,
    load_router,
    save_router,
)
from neuroforge.tools.router.scorecard import operating_point, scorecard
from neuroforge.tools.router.train import TrainConfig, fit_router

__all__ = [
    "Split",
    "evaluate_split",
    "file_split",
    "seeded_split",
    "train_and_save",
    "train_candidate_and_maybe_adopt",
]

EMBEDDING_COLUMNS = 2 * EMBEDDING_DIMENSIONS


@dataclass(frozen=True)
class Split:
    """Training and held-out rows, and how they were made (recorded with the weights)."""

    train: RoutingTable
    test: RoutingTable
    how: dict[str, Any]
    whole: RoutingTable | None = None
    rows: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)


def seeded_split(table: RoutingTable, held_out: float = 0.3, seed: int = 0) -> Split:
    """A fixed-seed share of ``table`` held out."""
    if not 0 < held_out < 1:
        raise ValueError("held_out must be between 0 and 1")
    order = list(range(len(table.prompts)))
    random.Random(seed).shuffle(order)
    cut = max(1, int(round(len(order) * held_out)))
    if cut >= len(order):
        raise RoutingDataError(f"{table.source}: too few rows ({len(order)}) to hold some out")
    train_rows, test_rows = np.array(sorted(order[cut:])), np.array(sorted(order[:cut]))
    how = {"table": table.source, "fingerprint": table.fingerprint(), "held_out": held_out,
           "seed": seed}
    return Split(table.subset(train_rows), table.subset(test_rows), how, table,
                 (train_rows, test_rows))


def file_split(train: RoutingTable, test: RoutingTable) -> Split:
    """Train on one table, test on another; test prompts also in train are dropped."""
    if sorted(train.models) != sorted(test.models):
        raise RoutingDataError(f"{test.source} has models {test.models}, {train.source} has "
                               f"{train.models}: a test file must score the same models")
    order = [test.models.index(m) for m in train.models]
    seen = set(train.prompts)
    keep = [i for i, p in enumerate(test.prompts) if p not in seen]
    if not keep:
        raise RoutingDataError(f"{test.source}: every test prompt also appears in "
                               f"{train.source}; nothing is held out")
    aligned = RoutingTable([test.prompts[i] for i in keep], train.models,
                           test.quality[keep][:, order], test.costs[keep][:, order],
                           test.source, test.cost_unit)
    how = {"train_table": train.source, "train_fingerprint": train.fingerprint(),
           "test_table": test.source, "test_fingerprint": test.fingerprint(),
           "dropped_overlap": len(test.prompts) - len(keep)}
    return Split(train, aligned, how)


def _features(split: Split, cache_dir: Path | None, progress: Progress | None
              ) -> tuple[np.ndarray, np.ndarray]:
    # A seeded split embeds the whole table once, so another seed or held-out share
    # re-uses the cache instead of embedding again.
    if split.whole is not None and split.rows is not None:
        whole = featurize(split.whole.prompts, cache_dir, progress)
        return whole[split.rows[0]], whole[split.rows[1]]
    return (featurize(split.train.prompts, cache_dir, progress),
            featurize(split.test.prompts, cache_dir, progress))


def _baselines(split: Split, x_train: np.ndarray, x_test: np.ndarray
               ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    train = split.train
    emb_train, emb_test = x_train[:, :EMBEDDING_COLUMNS], x_test[:, :EMBEDDING_COLUMNS]
    k, k_scores = tuned(knn_predict, KNN_CHOICES, emb_train, train.quality, train.costs)
    l2, l2_scores = tuned(logistic_predict, L2_CHOICES, x_train, train.quality, train.costs)
    predicted = {"knn": knn_predict(emb_train, train.quality, emb_test, k),
                 "logistic": logistic_predict(x_train, train.quality, x_test, l2)}
    tuning = {"knn": {"k": k, "cv_scores": k_scores},
              "logistic": {"l2": l2, "cv_scores": l2_scores}}
    return predicted, tuning


def evaluate_split(split: Split, cache_dir: Path | None, *, config: TrainConfig | None = None,
                   progress: Progress | None = None, cost_weight: float | None = None
                   ) -> tuple[RouterEnsemble, RouterMeta, dict[str, Any]]:
    """Train on the split's train rows; router and baselines on its held-out rows."""
    config = config or TrainConfig()
    started = time.perf_counter()
    x_train, x_test = _features(split, cache_dir, progress)
    featurize_s = time.perf_counter() - started
    router, report = fit_router(x_train, split.train.quality, config)
    predicted = {"router": router.predict(x_test)}
    baseline_predictions, tuning = _baselines(split, x_train, x_test)
    card = scorecard(split.test, split.train, {**predicted, **baseline_predictions})
    results = card.pop("results")
    metrics: dict[str, Any] = {
        "source": split.train.source, "models": split.train.models,
        "cost_unit": split.train.cost_unit, "split": split.how,
        "rows": {"train": len(split.train.prompts), "held_out": len(split.test.prompts)},
        "featurize_seconds": round(featurize_s, 2), "train": asdict(report),
        "router": results.pop("router"), "baselines": results, "tuning": tuning, **card,
    }
    if cost_weight is not None:
        metrics["operating_point"] = operating_point(predicted["router"], split.test,
                                                     cost_weight)
    meta = RouterMeta(models=split.train.models,
                      costs=[float(c) for c in unit_costs(split.train.model_costs)],
                      hidden=config.hidden, model_dim=config.model_dim,
                      temperatures=list(router.temperatures), metrics=_headline(metrics),
                      source=split.train.source, cost_scale=split.train.cost_scale,
                      cost_unit=split.train.cost_unit,
                      provenance={**split.how, "members": len(router.members),
                                  "train_rows": len(split.train.prompts)},
                      trained_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return router, meta, metrics


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    router = metrics["router"]
    keep = {k: router[k] for k in ("apgr", "cpt50", "cpt80", "aiq") if k in router}
    return {**keep, "held_out_rows": metrics["rows"]["held_out"]}


def train_and_save(split: Split, path: Path, cache_dir: Path | None, **kwargs: Any
                   ) -> dict[str, Any]:
    """Train, evaluate on held-out data, and save the router with its metrics."""
    router, meta, metrics = evaluate_split(split, cache_dir, **kwargs)
    save_router(path, router, meta)
    metrics["saved_to"] = str(path)
    return metrics


def _score(router: dict[str, Any]) -> float:
    return float(router.get("apgr", router.get("aiq", 0.0)))


def train_candidate_and_maybe_adopt(split: Split, path: Path, cache_dir: Path | None,
                                    **kwargs: Any) -> dict[str, Any]:
    """Train a candidate; adopt it only if it beats the current router on the same held-out rows.

    A rejected candidate is kept beside the current file (``*.candidate.pt``) and reported.
    """
    router, meta, metrics = evaluate_split(split, cache_dir, **kwargs)
    current_score = None
    try:
        current, current_meta = load_router(path)
        if current_meta.models == meta.models:
            predicted = current.predict(featurize(split.test.prompts, cache_dir))
            card = scorecard(split.test, split.train, {"router": predicted})
            current_score = _score(card["results"]["router"])
    except RouterFileError:
        current_score = None
    candidate = _score(metrics["router"])
    adopt = current_score is None or candidate > current_score
    target = path if adopt else path.with_suffix(".candidate.pt")
    save_router(target, router, meta)
    metrics.update({"adopted": adopt, "saved_to": str(target), "candidate_score": candidate,
                    "current_score": current_score})
    return metrics
