"""The public peer for the optimizer benchmark: DSPy's BootstrapFewShotWithRandomSearch.

Same target model (the bundled GGUF, served by ``llama_cpp.server`` on loopback, which
is what DSPy talks to), same splits (train for demonstrations, dev for choosing, the
held-out test only for the report), same scorer as every other row of the task (on the
answer's first line). DSPy is a benchmark-only extra, pinned in ``pyproject.toml``;
``make bench`` installs its requirements on their own (``pip install -e '.[bench]'``
re-resolves the whole project and backtracks for minutes).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from neuroforge.knowledge.datasets import Example
from neuroforge.models.embedded import default_gguf_path
from neuroforge.tools.prompt_eval import extract_answer, is_right

__all__ = ["PEER_CANDIDATES", "run_peer", "serve_embedded"]

# Programs BootstrapFewShotWithRandomSearch tries besides its three fixed ones (zero-shot,
# labelled demos, unshuffled bootstrap); each is scored on all of dev. One keeps its calls
# at the optimizer's budget (about 220 of 240; three took 392 on antonyms).
PEER_CANDIDATES = 1
DEMOS = 3  # the same k as the baselines: at most 3 bootstrapped and 3 labelled


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_embedded(n_ctx: int = 2048) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server for the bundled GGUF; yields its base URL."""
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        # A file, not a pipe: llama.cpp logs a lot, and a full pipe would stall it.
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf_path()),
             "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
             "--n_ctx", str(n_ctx), "--n_threads", "2"], stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(url + "/models", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError("llama_cpp.server did not start") from None
                    time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _right(scorer: str, example: Any, said: Any, gold_answers: Collection[str]) -> bool:
    return is_right(scorer, extract_answer(str(said or "")), example.output, example.input,
                    gold_answers)


def run_peer(url: str, instruction: str, train: Sequence[Example], dev: Sequence[Example],
             test: Sequence[Example], scorer: str = "contains",
             gold_answers: Collection[str] = frozenset()) -> dict[str, Any]:
    """Compile ``instruction`` with DSPy on train/dev and score it on ``test``, by the
    same ``is_right`` as the other rows (``gold_answers``: ``task_answers``)."""
    import dspy
    from dspy.teleprompt import BootstrapFewShotWithRandomSearch

    lm = dspy.LM("openai/smollm2", api_base=url, api_key="local", cache=False,
                 temperature=0.0, max_tokens=64, num_retries=0)
    # One call per example, as for every other row: no second try in JSON mode (which
    # llama.cpp serves through a slow grammar) when the chat format does not parse.
    dspy.configure(lm=lm, adapter=dspy.ChatAdapter(use_json_adapter_fallback=False))
    program = dspy.Predict(dspy.make_signature("input -> output", instructions=instruction))

    def as_dspy(examples: Sequence[Example]) -> list[Any]:
        return [dspy.Example(input=e.input, output=e.output).with_inputs("input")
                for e in examples]

    def metric(example: Any, prediction: Any, trace: Any = None) -> bool:
        return _right(scorer, example, getattr(prediction, "output", ""), gold_answers)

    started = time.perf_counter()
    optimizer = BootstrapFewShotWithRandomSearch(
        metric, max_bootstrapped_demos=DEMOS, max_labeled_demos=DEMOS,
        num_candidate_programs=PEER_CANDIDATES, num_threads=1, max_errors=100_000)
    compiled = optimizer.compile(program, trainset=as_dspy(train), valset=as_dspy(dev))
    search_calls, seconds = len(lm.history), round(time.perf_counter() - started, 1)
    hits = []
    for example in test:
        try:
            said = compiled(input=example.input).output
        except Exception:  # a reply DSPy cannot parse counts as wrong, as in its Evaluate
            said = ""
        hits.append(_right(scorer, example, said, gold_answers))
    demos = [{"input": d.input, "output": d.output} for d in compiled.demos]
    return {"test_accuracy": round(sum(hits) / len(hits), 4), "calls": search_calls,
            "test_calls": len(lm.history) - search_calls, "seconds": seconds,
            "demonstrations": demos, "method": "BootstrapFewShotWithRandomSearch",
            "settings": {"max_bootstrapped_demos": DEMOS, "max_labeled_demos": DEMOS,
                         "num_candidate_programs": PEER_CANDIDATES}}
