"""Embedded model decode speed (tokens/s) and time to first token, streamed."""

from __future__ import annotations

import statistics
import time
from typing import Any

from langchain_core.messages import HumanMessage

from neuroforge.models.embedded import EmbeddedChatModel

PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how photosynthesis works to a child.",
    "List ten ideas for a weekend trip.",
    "Describe the water cycle in detail.",
    "Write a letter thanking a teacher.",
]


def run() -> dict[str, Any]:
    started = time.perf_counter()
    model = EmbeddedChatModel(temperature=0.7, max_tokens=128, seed=7)
    model.get_num_tokens("warm up")  # load once, outside the timings
    load_s = time.perf_counter() - started
    first_token_ms, decode_rates = [], []
    for prompt in PROMPTS:
        begin = time.perf_counter()
        first, chunks = None, 0
        for chunk in model.stream([HumanMessage(prompt)]):
            if chunk.text:
                chunks += 1
                if first is None:
                    first = time.perf_counter()
        end = time.perf_counter()
        assert first is not None, "the model streamed nothing"
        first_token_ms.append((first - begin) * 1000)
        # llama.cpp streams one token per chunk: chunks after the first over decode time.
        if chunks > 1:
            decode_rates.append((chunks - 1) / (end - first))
    return {
        "model": model.model_name,
        "runs": len(PROMPTS),
        "max_tokens": 128,
        "load_seconds": round(load_s, 3),
        "tokens_per_s_mean": round(statistics.mean(decode_rates), 1),
        "tokens_per_s_min": round(min(decode_rates), 1),
        "first_token_ms_p50": round(statistics.median(first_token_ms), 1),
        "first_token_ms_max": round(max(first_token_ms), 1),
    }
