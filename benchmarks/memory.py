"""Long-term memory at 1,000, 10,000 and 100,000 memories: recall latency, insert rate, disk.

Memories are real sentences (GSM8K questions and worked answers, MMLU prompts,
BIG-Bench Hard inputs from ``../shared/data``), split into sentences and de-duplicated
exactly, so near-duplicate merging works on real text as it would in use. Inserts go
through ``remember_many`` in batches of 256, each batch one session as an import or a
long chat would be (embedding, nearest-neighbour merge check, database mirror, Chroma
upsert: the whole real path). Recall latency is one
``recall(query, k=5)`` with the query's embedding included, p50/p99 over 200 queries
that are not in the store.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from neuroforge.knowledge.db import open_database
from neuroforge.memory.embeddings import embed_texts
from neuroforge.memory.long_term import NewMemory, open_long_term

DATA = Path(__file__).resolve().parents[2] / "shared/data"
SIZES = (1_000, 10_000, 100_000)
BATCH = 256
_SPLIT = re.compile(r"(?<=[.?!])\s+|\n+")


def _texts() -> Iterator[str]:
    for line in (DATA / "tasks/gsm8k/train.jsonl").open():
        row = json.loads(line)
        yield row["question"]
        yield re.sub(r"<<[^>]*>>", "", row["answer"].split("####")[0])
    for path in sorted((DATA / "routing/routellm/mmlu/responses").glob("*.csv")):
        with path.open(newline="") as handle:
            yield from (row["prompt"] for row in csv.DictReader(handle))
    for path in sorted((DATA / "tasks/bbh").glob("*.json")):
        yield from (e["input"] for e in json.loads(path.read_text())["examples"])


def sentences(limit: int) -> list[str]:
    """Up to ``limit`` distinct real sentences of 5 to 60 words."""
    seen: set[str] = set()
    out: list[str] = []
    for text in _texts():
        for sentence in _SPLIT.split(text):
            sentence = " ".join(sentence.split())
            if 5 <= len(sentence.split()) <= 60 and sentence not in seen:
                seen.add(sentence)
                out.append(sentence)
                if len(out) >= limit:
                    return out
    return out


def _disk(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run() -> dict[str, Any]:
    pool = sentences(SIZES[-1] + 200)
    queries, corpus = pool[-200:], pool[:-200]
    embed_texts(["warm up"])  # model load is not part of any figure
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        memory = open_long_term(open_database(f"sqlite:///{root / 'nf.db'}"), root / "chroma")
        inserted, merged, insert_seconds = 0, 0, 0.0
        for size in SIZES:
            batch_texts = corpus[inserted:size]
            started = time.perf_counter()
            for i in range(0, len(batch_texts), BATCH):
                session = f"s{(inserted + i) // BATCH}"  # one batch, one session: an import
                stored = memory.remember_many(NewMemory(t, "fact", session)
                                              for t in batch_texts[i:i + BATCH])
                merged += sum(1 for _m, was_merged in stored if was_merged)
            step_seconds = time.perf_counter() - started
            insert_seconds += step_seconds
            inserted = size
            for q in queries[:10]:
                memory.recall(q, 5)  # warm caches after the inserts
            latencies = []
            for q in queries:
                started = time.perf_counter()
                memory.recall(q, 5)
                latencies.append((time.perf_counter() - started) * 1000)
            results.append({
                "memories_offered": size, "memories_stored": memory.count(),
                "merged_as_near_duplicates": merged,
                "recall_ms": {"p50": round(statistics.median(latencies), 2),
                              "p99": round(float(np.percentile(latencies, 99)), 2)},
                "insert_per_s_this_step": round(len(batch_texts) / step_seconds, 1),
                "disk_mb": round(_disk(root) / 1e6, 1)})
            print(json.dumps(results[-1]), flush=True)
    return {"sizes": results,
            "insert_per_s_overall": round(SIZES[-1] / insert_seconds, 1),
            "targets": {"recall_p50_ms_at_100k": 30, "insert_per_s": 200},
            "batch_size": BATCH}
