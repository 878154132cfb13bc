"""Neural router: quality on RouteLLM's GSM8K and MMLU tables, and speed.

Quality: contaminated prompts dropped, 30 % held out with seed 0. The router and every
baseline see only the training rows (kNN's k and the logistic L2 tuned by 5-fold CV
there) and are scored on the same held-out rows with the same scorer; 95 % bootstrap
intervals over held-out rows (1,000 resamples). Ablations in the same run: one MLP (the
previous router) and the MLP ensemble without its linear member.
Speed: one routing decision for a short prompt (embedding included), p50/p99 over 200;
batch scoring throughput on precomputed features (embedding excluded); training the
full ensemble on 10,000 examples.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from neuroforge.tools.router.baselines import filled
from neuroforge.tools.router.data import load_table
from neuroforge.tools.router.evaluate import apgr_with_interval
from neuroforge.tools.router.features import featurize
from neuroforge.tools.router.pipeline import evaluate_split, seeded_split
from neuroforge.tools.router.router import ModelOption, NeuralRouter
from neuroforge.tools.router.train import TrainConfig, fit_router

ROUTELLM = Path(__file__).resolve().parents[2] / "shared/data/routing/routellm"
CACHE = Path(__file__).parent / "results" / ".cache"
AIMS = {"gsm8k": 0.68, "mmlu": 0.70}
SHORT = ["Translate 'good morning' to French.", "What is 12 * 7?", "Write a haiku about rain.",
         "Name the capital of Peru.", "Fix this Python: print('hi'", "Summarize: cats sleep a lot."]
ABLATIONS = {"one_mlp": TrainConfig(members=1, linear_l2=None),
             "mlp_ensemble_only": TrainConfig(linear_l2=None)}


def _ablations(split: Any) -> dict[str, Any]:
    x = featurize(split.whole.prompts, CACHE)
    x_train, x_test = x[split.rows[0]], x[split.rows[1]]
    q = filled(split.test.quality)
    weak, strong = int(np.argmin(split.test.model_costs)), int(np.argmax(split.test.model_costs))
    out = {}
    for name, config in ABLATIONS.items():
        ensemble, _ = fit_router(x_train, split.train.quality, config)
        p = ensemble.predict(x_test)
        out[name] = apgr_with_interval(p[:, strong] - p[:, weak], q[:, weak], q[:, strong])
    return out


def _quality(name: str, path: Path) -> tuple[dict[str, Any], Any, Any]:
    split = seeded_split(load_table(path), 0.3, 0)
    router, meta, metrics = evaluate_split(split, CACHE)
    base = metrics["baselines"]
    keys = ("apgr", "apgr_95ci", "cpt50", "cpt80")
    rows = {"router": {k: metrics["router"][k] for k in keys}}
    for baseline in ("knn", "logistic", "oracle"):
        rows[baseline] = {k: base[baseline][k] for k in keys}
    rows["random"] = {"apgr": 0.5}
    learned = ("knn", "logistic")
    best = max(learned, key=lambda b: base[b]["apgr"])
    upper = base[best]["apgr_95ci"][1]
    summary = {
        "rows": metrics["rows"], "results": rows, "ablations": _ablations(split),
        "tuning": metrics["tuning"],
        "always_weak": base["cheapest"]["quality"], "always_strong": base["best_single"]["quality"],
        "train_seconds": metrics["train"]["seconds"],
        "aim": AIMS[name], "best_baseline": best, "best_baseline_upper_95": upper,
        "meets_aim": metrics["router"]["apgr"] >= AIMS[name],
        "above_best_baseline_upper_bound": metrics["router"]["apgr"] > upper,
    }
    return summary, router, meta


def _speed(router: Any, meta: Any) -> dict[str, Any]:
    decide = NeuralRouter(router, meta, threshold=0.0)
    options = [ModelOption(m, c) for m, c in zip(meta.models, meta.costs, strict=True)]
    for prompt in SHORT:  # warm up: model load, tokenizer, first allocations
        decide.route(prompt, options)
    latencies = []
    for i in range(200):
        started = time.perf_counter()
        decide.route(f"{SHORT[i % len(SHORT)]} (variant {i})", options)
        latencies.append((time.perf_counter() - started) * 1000)
    table = load_table(ROUTELLM / "mmlu/responses")
    batch = featurize(table.prompts, CACHE)[:10_000]
    started = time.perf_counter()
    for _ in range(5):
        router.predict(batch)
    throughput = 5 * len(batch) / (time.perf_counter() - started)
    started = time.perf_counter()
    _, report = fit_router(batch, table.quality[:10_000], TrainConfig())
    return {
        "decision_latency_ms": {"p50": round(statistics.median(latencies), 2),
                                "p99": round(float(np.percentile(latencies, 99)), 2),
                                "target_p50": 20},
        "batch_throughput_prompts_per_s": round(throughput), "throughput_target": 2000,
        "training_10k": {"seconds": round(time.perf_counter() - started, 2),
                         "epochs_all_members": report.epochs_run, "target_seconds": 60},
    }


def run() -> dict[str, Any]:
    gsm8k, _, _ = _quality("gsm8k", ROUTELLM / "gsm8k/gsm8k_responses.csv")
    mmlu, router, meta = _quality("mmlu", ROUTELLM / "mmlu/responses")
    return {"gsm8k": gsm8k, "mmlu": mmlu, **_speed(router, meta)}
