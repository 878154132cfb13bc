"""Train, evaluate and adopt routers: what ``neuroforge router train/eval`` run."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from neuroforge.tools.router.data import RoutingTable, split_table
from neuroforge.tools.router.evaluate import apgr_metrics, cost_quality_curve, knn_predict
from neuroforge.tools.router.features import EMBEDDING_DIMENSIONS, featurize
from neuroforge.tools.router.net import (
    RouterFileError,
    RouterMeta,
    RouterNet,
    load_router,
    save_router,
)
from neuroforge.tools.router.train import TrainConfig, predict_logits, train_net

__all__ = ["evaluate_table", "train_and_save", "train_candidate_and_maybe_adopt"]

EMBEDDING_COLUMNS = 2 * EMBEDDING_DIMENSIONS


def _probabilities(net: RouterNet, temperature: float, features: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-predict_logits(net, features) / temperature))


def _metrics(table: RoutingTable, predicted: dict[str, np.ndarray]) -> dict[str, Any]:
    """Two models: APGR/CPT; more: cost/quality curves. Baselines included."""
    models = table.models
    if len(models) == 2:
        weak, strong = int(np.argmin(table.costs)), int(np.argmax(table.costs))
        prefs = {name: p[:, strong] - p[:, weak] for name, p in predicted.items()}
        result = apgr_metrics(prefs, table.quality, weak, strong)
        result["models"] = {"weak": models[weak], "strong": models[strong]}
        return result
    curves = {name: cost_quality_curve(p, table.quality, table.costs)
              for name, p in predicted.items()}
    filled = np.where(np.isnan(table.quality), np.nanmean(table.quality, axis=0), table.quality)
    curves["oracle"] = cost_quality_curve(filled, table.quality, table.costs)
    curves["random"] = {"quality": round(float(filled.mean()), 4),
                        "cost": round(float(table.costs.mean()), 4)}
    for index, model in enumerate(models):
        curves[f"always:{model}"] = {"quality": round(float(filled[:, index].mean()), 4),
                                     "cost": round(float(table.costs[index]), 4)}
    return curves


def evaluate_table(table: RoutingTable, cache_dir: Path | None, *, held_out: float = 0.3,
                   seed: int = 0, config: TrainConfig | None = None
                   ) -> tuple[RouterNet, RouterMeta, dict[str, Any]]:
    """Train on a seeded split and measure router and baselines on the held-out part."""
    config = config or TrainConfig()
    train, test = split_table(table, held_out, seed)
    started = time.perf_counter()
    x_train, x_test = featurize(train.prompts, cache_dir), featurize(test.prompts, cache_dir)
    featurize_s = time.perf_counter() - started
    net, report = train_net(x_train, train.quality, config)
    router = _probabilities(net, report.temperature, x_test)
    knn = knn_predict(x_train[:, :EMBEDDING_COLUMNS], train.quality,
                      x_test[:, :EMBEDDING_COLUMNS])
    metrics = {
        "source": table.source, "models": table.models,
        "rows": {"train": len(train.prompts), "held_out": len(test.prompts)},
        "seed": seed, "featurize_seconds": round(featurize_s, 2),
        "train": asdict(report), **_named(_metrics(test, {"router": router, "knn": knn})),
    }
    meta = RouterMeta(models=table.models, costs=[float(c) for c in table.costs],
                      hidden=config.hidden, model_dim=config.model_dim,
                      temperature=report.temperature, metrics=_headline(metrics),
                      source=table.source, trained_at=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime()))
    return net, meta, metrics


def _named(metrics: dict[str, Any]) -> dict[str, Any]:
    router = metrics.pop("router")
    return {"router": router, "baselines": metrics}


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    router = metrics["router"]
    keep = {k: router[k] for k in ("apgr", "cpt50", "cpt80", "auc") if k in router}
    return {**keep, "held_out_rows": metrics["rows"]["held_out"]}


def train_and_save(table: RoutingTable, path: Path, cache_dir: Path | None, **kwargs: Any
                   ) -> dict[str, Any]:
    """Train, evaluate on held-out data, and save the router with its metrics."""
    net, meta, metrics = evaluate_table(table, cache_dir, **kwargs)
    save_router(path, net, meta)
    metrics["saved_to"] = str(path)
    return metrics


def _score(metrics: dict[str, Any]) -> float:
    router = metrics["router"]
    return float(router.get("apgr", router.get("auc", 0.0)))


def train_candidate_and_maybe_adopt(table: RoutingTable, path: Path, cache_dir: Path | None,
                                    **kwargs: Any) -> dict[str, Any]:
    """Train a candidate; adopt it only if it beats the current router on the same held-out rows.

    A rejected candidate is kept beside the current file (``*.candidate.pt``) and reported.
    """
    net, meta, metrics = evaluate_table(table, cache_dir, **kwargs)
    current_score = None
    try:
        current_net, current_meta = load_router(path)
        if current_meta.models == meta.models:
            _, test = split_table(table, kwargs.get("held_out", 0.3), kwargs.get("seed", 0))
            predicted = _probabilities(current_net, current_meta.temperature,
                                       featurize(test.prompts, cache_dir))
            current_score = _score({"router": _metrics(test, {"router": predicted})["router"]})
    except RouterFileError:
        current_score = None
    candidate = _score(metrics)
    adopt = current_score is None or candidate > current_score
    target = path if adopt else path.with_suffix(".candidate.pt")
    save_router(target, net, meta)
    metrics.update({"adopted": adopt, "saved_to": str(target), "candidate_score": candidate,
                    "current_score": current_score})
    return metrics
