"""Routing under load, and chats in parallel on one data directory.

Routes: 2,000 ``route`` graph invocations in one process (the routing graph as the CLI
and the Studio server build it: real store, real Chroma memory voter, rule router),
from 1 thread and from 4; the router agent's model is an instant scripted one so
what is measured is NeuroForge, not a model. Latency p50/p99, and open file handles
and RSS before and after each batch (they must stay flat).
Chats: 6 ``neuroforge chat`` processes at once on one new data directory, each telling
3 facts to the embedded model (16-token replies); facts stored vs told, wall time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.language_models.fake_chat_models import FakeListChatModel

ROUTES = 2000
CHOICE = '{"model": "smollm2-135m", "confidence": 0.8, "rationale": "small task"}'


def _process_figures() -> dict[str, float]:
    status = Path("/proc/self/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines()
                  if line.startswith("VmRSS:"))
    return {"open_files": len(os.listdir("/proc/self/fd")), "rss_mb": round(rss_kb / 1024, 1)}


def _routes(threads: int) -> dict[str, Any]:
    from neuroforge.graphs.route import create_route_graph
    from neuroforge.settings import load_settings
    from neuroforge.wiring import route_deps

    deps = route_deps(load_settings())
    deps.model_for = lambda name, temperature=None: FakeListChatModel(responses=[CHOICE])
    graph = create_route_graph(deps).compile()
    graph.invoke({"task": "warm up: say hello", "execute": False})
    before = _process_figures()

    def one(index: int) -> float:
        started = time.perf_counter()
        graph.invoke({"task": f"Task {index}: summarise note number {index} in one line.",
                      "execute": False})
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        latencies = list(pool.map(one, range(ROUTES)))
    wall = time.perf_counter() - started
    after = _process_figures()
    return {"threads": threads, "routes": ROUTES, "wall_s": round(wall, 1),
            "routes_per_s": round(ROUTES / wall, 1),
            "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(float(np.percentile(latencies, 99)), 1),
            "before": before, "after": after}


def _chats() -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="nf-chats-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEUROFORGE_")}
    env.update({"NEUROFORGE_DATA_DIR": str(data), "NEUROFORGE_BACKEND": "embedded",
                "NEUROFORGE_BUDGETS__MAX_TOKENS": "16", "HF_HUB_OFFLINE": "1"})
    facts = {i: [f"My cousin number {i} lives in the town of Zorvik{i}.",
                 f"I keep a pet iguana named Pablo{i} at home.",
                 f"I work as a lighthouse keeper on island {i}."] for i in range(6)}
    command = [str(Path(sys.executable).parent / "neuroforge"), "chat", "--session"]
    started = time.perf_counter()
    procs = [subprocess.Popen([*command, f"par{i}"], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i in range(6)]
    crashed = sum(p.communicate("\n".join(facts[i]) + "\n", timeout=900)[1].count("Traceback")
                  + (p.returncode != 0) for i, p in enumerate(procs))
    wall = time.perf_counter() - started
    os.environ["NEUROFORGE_DATA_DIR"] = str(data)
    from neuroforge.process_cache import clear
    from neuroforge.settings import load_settings
    from neuroforge.wiring import long_term_memory

    clear()
    memory = long_term_memory(load_settings())
    kept = sum(bool(found) and found[0].text == fact for told in facts.values()
               for fact in told for found in [memory.recall(fact, 1, kind="fact")])
    return {"processes": 6, "facts_told": 18, "facts_recalled": kept, "crashed": crashed,
            "wall_s": round(wall, 1)}


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nf-routes-") as data:
        os.environ["NEUROFORGE_DATA_DIR"] = data
        os.environ["NEUROFORGE_BACKEND"] = "embedded"
        routes = [_routes(1), _routes(4)]
    return {"routes": routes, "concurrent_chats": _chats(),
            "load": "only this benchmark running on the 2 cores"}
