"""Router features: MiniLM embeddings of a prompt's head and tail, plus cheap text features.

MiniLM reads 256 tokens. Prompts that open with a long shared preamble or a
few-shot block would all embed alike from their head alone, so a prompt longer
than the window is embedded twice: its first window and its last 64 tokens
(where the actual question usually sits). Short prompts have head == tail.
Feature layout (version 1): ``[head 384 | tail 384 | text features 8]``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from neuroforge.memory.embeddings import EMBEDDING_DIMENSIONS, embedding_model

__all__ = [
    "FEATURE_DIM",
    "FEATURE_VERSION",
    "TEXT_FEATURES",
    "embed_prompts",
    "featurize",
    "text_features",
]

FEATURE_VERSION = 1
# The tail is short on purpose: a long tail window of a long shared preamble is still
# mostly preamble (measured: 0.95 cosine between two different questions at 254 tokens).
TAIL_TOKENS = 64
WINDOW_TOKENS = 254  # 256 minus the [CLS] and [SEP] the tokenizer adds
TEXT_FEATURES = ("log_chars", "log_words", "code", "math", "non_ascii", "questions", "lines",
                 "options")
FEATURE_DIM = 2 * EMBEDDING_DIMENSIONS + len(TEXT_FEATURES)

_CODE = re.compile(r"```|\bdef |\bclass |\breturn\b|[{};]\s*$|#include|=>|\bfunction\b", re.M)
_MATH = re.compile(r"\d+\s*[-+*/^=]\s*\d+|\\frac|\\sqrt|\bsolve\b|\bequation\b|\$\d", re.I)
_OPTION = re.compile(r"^\s*[A-D][.)]\s", re.M)


def text_features(prompt: str) -> list[float]:
    """Eight cheap numbers: size, code, math, non-ASCII share, questions, lines, options."""
    chars = max(len(prompt), 1)
    return [
        math.log1p(len(prompt)) / 10,
        math.log1p(len(prompt.split())) / 8,
        min(len(_CODE.findall(prompt)), 10) / 10,
        min(len(_MATH.findall(prompt)), 10) / 10,
        sum(ord(c) > 127 for c in prompt) / chars,
        min(prompt.count("?"), 5) / 5,
        min(prompt.count("\n"), 50) / 50,
        min(len(_OPTION.findall(prompt)), 6) / 6,
    ]


def _windows(prompts: Sequence[str]) -> tuple[list[str], list[str]]:
    tokenizer = embedding_model().tokenizer
    heads, tails = [], []
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        heads.append(prompt)  # the model truncates to the first window itself
        tails.append(prompt if len(ids) <= WINDOW_TOKENS
                     else tokenizer.decode(ids[-TAIL_TOKENS:]))
    return heads, tails


def embed_prompts(prompts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Head and tail embeddings side by side: shape (n, 768), float32, L2-normalized halves."""
    if not prompts:
        return np.zeros((0, 2 * EMBEDDING_DIMENSIONS), dtype=np.float32)
    heads, tails = _windows(prompts)
    model = embedding_model()
    kwargs = {"batch_size": batch_size, "normalize_embeddings": True, "show_progress_bar": False}
    head = model.encode(heads, **kwargs)
    # Encode only the tails that differ from their heads; reuse the rest.
    differ = [i for i, (h, t) in enumerate(zip(heads, tails, strict=True)) if h != t]
    tail = head.copy()
    if differ:
        tail[differ] = model.encode([tails[i] for i in differ], **kwargs)
    return np.concatenate([head, tail], axis=1).astype(np.float32)


Progress = Callable[[int, int], None]
CHUNK = 512  # prompts embedded between two progress reports


def featurize(prompts: Sequence[str], cache_dir: Path | None = None,
              progress: Progress | None = None) -> np.ndarray:
    """Full router features, shape (n, FEATURE_DIM). Cached on disk by content hash.

    ``progress(done, total)`` is called after each chunk of prompts is embedded (not at
    all on a cache hit): big tables take minutes on a CPU.
    """
    path = None
    if cache_dir is not None:
        recipe = f"tail={TAIL_TOKENS};window={WINDOW_TOKENS}\x1e"  # a recipe change misses
        digest = hashlib.sha256((recipe + "\x1e".join(prompts)).encode("utf-8")).hexdigest()[:24]
        path = cache_dir / f"features-v{FEATURE_VERSION}-{digest}.npy"
        if path.is_file():
            return np.load(path)
    chunks = []
    for start in range(0, len(prompts), CHUNK):
        chunks.append(embed_prompts(prompts[start:start + CHUNK]))
        if progress is not None:
            progress(min(start + CHUNK, len(prompts)), len(prompts))
    embeddings = (np.concatenate(chunks) if chunks
                  else np.zeros((0, 2 * EMBEDDING_DIMENSIONS), dtype=np.float32))
    extra = np.array([text_features(p) for p in prompts], dtype=np.float32).reshape(
        len(prompts), len(TEXT_FEATURES))
    features = np.concatenate([embeddings, extra], axis=1)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npy")  # a killed run leaves no half file
        np.save(partial, features)
        partial.replace(path)
    return features
