"""Embedded model decode speed (tokens/s) and time to first token, streamed; what
saved prompt beginnings (``models.kv_states``) spare when prompts come back after
others, as a prompt search does when it scores a candidate, then its twin held to the
answer set, on the same inputs; and the bundled Q4_1 file against its Q8_0 copy
(``models.quantized_copy``): prompt reading and decoding speed, and whether their
greedy replies agree."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from neuroforge.models.embedded import EmbeddedChatModel, default_gguf_path
from neuroforge.models.quantized_copy import ensure_copy

PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how photosynthesis works to a child.",
    "List ten ideas for a weekend trip.",
    "Describe the water cycle in detail.",
    "Write a letter thanking a teacher.",
]


REVISITED_PROMPTS = 6
_WORDS = ("river", "stone", "lamp", "orchard", "signal", "harbour", "ledger", "meadow")


def _few_shot_prompt(index: int) -> list[BaseMessage]:
    """A ~500-token prompt whose examples differ from the first token on (as per-input
    nearest examples do)."""
    messages: list[BaseMessage] = []
    for shot in range(3):
        words = " ".join(_WORDS[(index + shot + k) % len(_WORDS)] for k in range(120))
        messages += [HumanMessage(f"Case {index}.{shot}: is the first word a place? {words}"),
                     AIMessage("yes" if (index + shot) % 2 else "no")]
    messages.append(HumanMessage(f"Case {index}: is the first word a place? "
                                 + " ".join(_WORDS[index % len(_WORDS)] for _ in range(40))))
    return messages


def _revisit_seconds(prefix_cache_mb: int) -> tuple[float, float, list[str]]:
    """(first round s, second round s, replies): every prompt answered, then every prompt
    answered again in the same order, greedy."""
    model = EmbeddedChatModel(temperature=0.0, max_tokens=4, prefix_cache_mb=prefix_cache_mb)
    model.get_num_tokens("warm up")  # load once, outside the timings
    prompts = [_few_shot_prompt(i) for i in range(REVISITED_PROMPTS)]
    rounds, replies = [], []
    for _ in range(2):
        begin = time.perf_counter()
        replies += [model.invoke(p).text for p in prompts]
        rounds.append(time.perf_counter() - begin)
    return rounds[0], rounds[1], replies


def _revisits() -> dict[str, Any]:
    # The first rounds are alike (no prompt repeats there) and not reported: whichever
    # run comes first is slower by a warm-up, which would read as an effect.
    _, off_again, off_replies = _revisit_seconds(0)
    _, on_again, on_replies = _revisit_seconds(1024)
    return {
        "revisited_prompts": REVISITED_PROMPTS,
        "revisit_prompt_tokens_about": EmbeddedChatModel().get_num_tokens(
            " ".join(m.text for m in _few_shot_prompt(0))),
        "revisit_seconds_without_saved_states": round(off_again, 2),
        "revisit_seconds_with_saved_states": round(on_again, 2),
        "revisit_speedup": round(off_again / on_again, 2),
        "revisit_replies_identical": off_replies == on_replies,
    }


LONG_PROMPT_REPEATS = 3  # ~1,350 tokens: as long as a BBH input with its nearest examples
READ_RUNS = 4


def _read_rate(model: EmbeddedChatModel) -> float:
    """Prompt tokens read per second: long prompts, one reply token, none saved."""
    tokens, seconds = 0, 0.0
    for index in range(READ_RUNS):
        prompt = _few_shot_prompt(index) * LONG_PROMPT_REPEATS
        begin = time.perf_counter()
        reply = model.invoke(prompt, max_tokens=1)
        seconds += time.perf_counter() - begin
        tokens += (reply.usage_metadata or {}).get("input_tokens", 0)
    return tokens / seconds


def _quantizations() -> dict[str, Any]:
    """The bundled file against its Q8_0 copy: read and decode speed, greedy replies."""
    figures: dict[str, Any] = {}
    replies: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as copies:
        begin = time.perf_counter()
        ensure_copy(default_gguf_path(), Path(copies), "q8_0")
        copy_seconds = time.perf_counter() - begin
        for quantization in ("bundled", "q8_0"):
            model = EmbeddedChatModel(temperature=0.0, max_tokens=64, prefix_cache_mb=0,
                                      quantization=quantization, copy_dir=copies)
            model.get_num_tokens("warm up")  # load, outside the rates
            _, decode_rates = _stream_timings(model)
            replies[quantization] = [model.invoke(p).text for p in PROMPTS] + [
                model.invoke(_few_shot_prompt(i), max_tokens=4).text
                for i in range(REVISITED_PROMPTS)]
            figures[quantization] = {
                "prompt_tokens_per_s": round(_read_rate(model), 1),
                "decode_tokens_per_s": round(statistics.mean(decode_rates), 1)}
    pairs = list(zip(replies["bundled"], replies["q8_0"], strict=True))
    texts, answers = pairs[:len(PROMPTS)], pairs[len(PROMPTS):]
    return {"quantizations": figures, "q8_0_copy_seconds": round(copy_seconds, 2),
            "q8_0_read_speedup": round(figures["q8_0"]["prompt_tokens_per_s"]
                                       / figures["bundled"]["prompt_tokens_per_s"], 2),
            # Greedy texts part ways at the first token the two round differently;
            # short answers (what a prompt search scores) are what must agree.
            "q8_0_short_answers_identical": f"{sum(a == b for a, b in answers)} of "
                                            f"{len(answers)}",
            "q8_0_64_token_texts_identical": f"{sum(a == b for a, b in texts)} of "
                                             f"{len(texts)}"}


def _stream_timings(model: EmbeddedChatModel) -> tuple[list[float], list[float]]:
    """(first-token ms, decode tokens/s) of each of ``PROMPTS``, streamed."""
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
    return first_token_ms, decode_rates


def run() -> dict[str, Any]:
    started = time.perf_counter()
    model = EmbeddedChatModel(temperature=0.7, max_tokens=128, seed=7)
    model.get_num_tokens("warm up")  # load once, outside the timings
    load_s = time.perf_counter() - started
    first_token_ms, decode_rates = _stream_timings(model)
    return {
        "model": model.model_name,
        "runs": len(PROMPTS),
        "max_tokens": 128,
        "load_seconds": round(load_s, 3),
        "tokens_per_s_mean": round(statistics.mean(decode_rates), 1),
        "tokens_per_s_min": round(min(decode_rates), 1),
        "first_token_ms_p50": round(statistics.median(first_token_ms), 1),
        "first_token_ms_max": round(max(first_token_ms), 1),
        **_revisits(),
        **_quantizations(),
    }
