"""Neural router: quality on RouteLLM's GSM8K and MMLU tables, and speed.

Quality: contaminated prompts dropped, 30 % held out with seed 0; router and
baselines (random, always-one, oracle, kNN over the same MiniLM features) on the
same rows. Speed: one routing decision for a short prompt (embedding included),
p50/p99 over 200; batch scoring throughput on precomputed features (embedding
excluded); training time on 10,000 examples.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroforge.tools.router.data import load_table
from neuroforge.tools.router.features import featurize
from neuroforge.tools.router.pipeline import evaluate_table
from neuroforge.tools.router.router import ModelOption, NeuralRouter
from neuroforge.tools.router.train import TrainConfig, predict_logits, train_net

ROUTELLM = Path(__file__).resolve().parents[2] / "shared/data/routing/routellm"
CACHE = Path(__file__).parent / "results" / ".cache"
SHORT = ["Translate 'good morning' to French.", "What is 12 * 7?", "Write a haiku about rain.",
         "Name the capital of Peru.", "Fix this Python: print('hi'", "Summarize: cats sleep a lot."]


def _quality(name: str, path: Path) -> tuple[dict[str, Any], Any, Any]:
    net, meta, metrics = evaluate_table(load_table(path), CACHE)
    base = metrics["baselines"]
    summary = {"rows": metrics["rows"], "router": metrics["router"], "knn": base["knn"],
               "random": base["random"]["apgr"], "oracle": base["oracle"]["apgr"],
               "always_weak": base["always_weak"]["quality"],
               "always_strong": base["always_strong"]["quality"],
               "train_seconds": metrics["train"]["seconds"],
               "beats_random_and_knn": metrics["router"]["apgr"] > max(
                   base["knn"]["apgr"], 0.5)}
    return summary, net, meta


def run() -> dict[str, Any]:
    gsm8k, _, _ = _quality("gsm8k", ROUTELLM / "gsm8k/gsm8k_responses.csv")
    mmlu, net, meta = _quality("mmlu", ROUTELLM / "mmlu/responses")
    router = NeuralRouter(net, meta, threshold=0.0)
    options = [ModelOption(m, c) for m, c in zip(meta.models, meta.costs, strict=True)]
    for prompt in SHORT:  # warm up: model load, tokenizer, first allocations
        router.route(prompt, options)
    latencies = []
    for i in range(200):
        started = time.perf_counter()
        router.route(f"{SHORT[i % len(SHORT)]} (variant {i})", options)
        latencies.append((time.perf_counter() - started) * 1000)
    table = load_table(ROUTELLM / "mmlu/responses")
    features = featurize(table.prompts, CACHE)
    batch = features[:10_000]
    started = time.perf_counter()
    for _ in range(5):
        predict_logits(net, batch)
    throughput = 5 * len(batch) / (time.perf_counter() - started)
    started = time.perf_counter()
    torch.manual_seed(0)
    _, report = train_net(batch, table.quality[:10_000], TrainConfig())
    train_seconds = time.perf_counter() - started
    return {
        "gsm8k": gsm8k, "mmlu": mmlu,
        "aims": {"gsm8k_apgr": 0.68, "mmlu_apgr": 0.70},
        "decision_latency_ms": {"p50": round(statistics.median(latencies), 2),
                                "p99": round(float(np.percentile(latencies, 99)), 2),
                                "target_p50": 20},
        "batch_throughput_prompts_per_s": round(throughput),
        "throughput_target": 2000,
        "training_10k": {"seconds": round(train_seconds, 2), "epochs": report.epochs_run,
                         "target_seconds": 60},
    }
