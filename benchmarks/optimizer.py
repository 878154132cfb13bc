"""Optimizer against human instructions and the free few-shot baseline on 8
instruction-induction tasks (embedded target).

For each task: held-out accuracy (``raw/execute``, never seen while optimizing) of
the human-written instructions (``annotations/``: mean and best of the first five),
of the first human instruction plus 3 random training demonstrations (the free
baseline: mean of 3 seeds, rendered as the optimizer renders its own), and of the
optimized prompt, which starts from the first human instruction and is optimized on
the ``raw/induce`` examples (train for demonstrations, dev for scoring). Ablation:
the same run with one judge instead of three voters.
Scorer: "contains" (the target appears as whole words in the answer's first line),
the same for every prompt.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from neuroforge.agents.optimizer import few_shot_baseline
from neuroforge.graphs.optimize import OptimizeDeps, create_optimize_graph
from neuroforge.knowledge.datasets import human_instructions
from neuroforge.knowledge.db import open_database
from neuroforge.models.embedded import EmbeddedChatModel
from neuroforge.tools.prompt_eval import evaluate_prompt

DATA = Path(__file__).resolve().parents[2] / "shared/data/tasks/instruction_induction/raw/induce"
TASKS = ["antonyms", "first_word_letter", "larger_animal", "letters_list", "num_to_verbal",
         "sentiment", "singular_to_plural", "sum"]
HUMAN_INSTRUCTIONS = 5
RUN = {"generations": 2, "population": 4, "budget": 700, "debate_rounds": 1, "seed": 0}


def _model_for(role: str, temperature: float | None = None) -> EmbeddedChatModel:
    defaults = {"analyst": 0.2, "creative": 0.9, "validator": 0.3, "optimizer": 0.7,
                "target": 0.0}
    return EmbeddedChatModel(temperature=defaults.get(role, 0.5) if temperature is None
                             else temperature, max_tokens=256, seed=0)


def _optimize(deps: OptimizeDeps, start: str, path: Path, voters: int) -> dict[str, Any]:
    graph = create_optimize_graph(deps).compile()
    started = time.perf_counter()
    result = graph.invoke({"prompt": start, "task": str(path), "voters": voters, **RUN},
                          {"recursion_limit": 200})["result"]
    return {"test_accuracy": result["test_optimized"], "dev_accuracy": result["optimized_score"],
            "calls": result["calls_used"], "seconds": round(time.perf_counter() - started, 1),
            "changed": result["changed"], "stop_reason": result["stop_reason"],
            "prompt": result["optimized"]}


def run_task(name: str, store_url: str) -> dict[str, Any]:
    path = DATA / f"{name}.json"
    deps = OptimizeDeps(model_for=_model_for, store=open_database(store_url), dev_size=32)
    test = deps.task(str(path)).test
    target = _model_for("target", 0.0)
    humans = human_instructions(path)[:HUMAN_INSTRUCTIONS]
    human_acc = [evaluate_prompt(target, h, test, cache=deps.answer_cache).accuracy
                 for h in humans]
    task = deps.task(str(path))
    free = few_shot_baseline(target, humans[0], task.train, test)
    consensus = _optimize(deps, humans[0], path, voters=3)
    single = _optimize(deps, humans[0], path, voters=1)
    return {
        "task": name, "test_examples": len(test),
        "human_first": human_acc[0], "human_mean": round(statistics.mean(human_acc), 4),
        "human_best": max(human_acc), "few_shot_free": free, "optimized": consensus,
        "single_judge": single,
        "delta_vs_human_mean": round(consensus["test_accuracy"] - statistics.mean(human_acc), 4),
        "delta_vs_few_shot": round(consensus["test_accuracy"] - float(free["accuracy"]), 4),
    }


def run() -> dict[str, Any]:
    tasks = os.environ.get("NEUROFORGE_BENCH_TASKS", ",".join(TASKS)).split(",")
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for task in tasks:
            rows.append(run_task(task, f"sqlite:///{tmp}/bench.db"))
            # A long run: show each task's row as it finishes.
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    deltas = [r["delta_vs_human_mean"] for r in rows]
    versus_free = [r["delta_vs_few_shot"] for r in rows]
    single_deltas = [r["single_judge"]["test_accuracy"] - r["human_mean"] for r in rows]
    return {
        "target_model": "smollm2-135m (embedded)", "scorer": "contains", "settings": RUN,
        "tasks": rows,
        "mean_delta_points": round(100 * statistics.mean(deltas), 1),
        "mean_delta_vs_few_shot_points": round(100 * statistics.mean(versus_free), 1),
        "worst_delta_vs_few_shot_points": round(100 * min(versus_free), 1),
        "worst_delta_points": round(100 * min(deltas), 1),
        "single_judge_mean_delta_points": round(100 * statistics.mean(single_deltas), 1),
        "aim": "mean delta >= +10 points, no task worse than -5 points",
        "aim_met": statistics.mean(deltas) >= 0.10 and min(deltas) >= -0.05,
        "total_calls": sum(r["optimized"]["calls"] + r["single_judge"]["calls"] for r in rows),
    }
