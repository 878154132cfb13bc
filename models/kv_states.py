"""Saved llama.cpp context states, so a prompt whose beginning was computed before is
not computed again.

llama-cpp-python already reuses the part of a prompt that the context holds from the
previous call. It cannot reuse what an earlier call computed once a different prompt
came in between: scoring a candidate on dev example 1..n, then its twin held to the
answer set (the same messages under a grammar) on 1..n, paid every prompt twice, about
a fifth of a BBH search on 2 cores (prompt processing runs at ~230 tokens/s there).

Before each generation this module keeps the context's state (its KV cells for the
tokens it holds) when the last call computed enough of it, then restores the saved
state sharing the longest beginning with the new prompt when that beats what the
context holds. llama-cpp-python's own ``LlamaRAMCache`` is not used: its ``save_state``
also copies the logits of every position (~100 MB at 2,048 tokens), 0.37 s a call.

Only the KV cells of positions before the prompt's last token are reused: llama-cpp-
python always evaluates at least that token, so the logits that choose the reply are
computed fresh, and KV cells depend only on the tokens at and before their position.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MIN_FRESH_TOKENS", "MIN_GAIN_TOKENS", "PrefixStates", "SavedState", "attach_prefix_states",
    "before_generation", "common_prefix",
]

# A state is kept only when the call before computed at least this many of its tokens,
# and at least half of them: a context that is mostly a restored or reused beginning
# (a static prompt's instruction and examples, then one input) would store that
# beginning again per input, while the state that holds it once serves them all.
MIN_FRESH_TOKENS = 32
# A restore must win at least this many tokens over what the context holds: under that
# the copy costs about what it saves.
MIN_GAIN_TOKENS = 16


@dataclass(frozen=True)
class SavedState:
    """The context's tokens and its state data, as ``llama_state_get_data`` wrote it."""

    tokens: np.ndarray
    data: bytes


def common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common beginning of two token arrays."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if len(differ) else n


class PrefixStates:
    """A least-recently-used store of context states, bounded in bytes.

    ``capacity_bytes`` of 0 turns it off. ``hits`` and ``tokens_saved`` count restores
    and the prompt tokens they spared (for the speed benchmark).
    """

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self._states: OrderedDict[int, SavedState] = OrderedDict()
        self._next_key = 0
        self.size_bytes = 0
        self.hits = 0
        self.tokens_saved = 0

    def __len__(self) -> int:
        return len(self._states)

    def resize(self, capacity_bytes: int) -> None:
        """Change the bound, dropping the least recently used states past it."""
        self.capacity_bytes = capacity_bytes
        self._evict()

    def put(self, tokens: np.ndarray, data: bytes) -> None:
        """Keep a state, unless it alone is over the bound."""
        if len(data) > self.capacity_bytes:
            return
        self._states[self._next_key] = SavedState(tokens, data)
        self._next_key += 1
        self.size_bytes += len(data)
        self._evict()

    def longest(self, tokens: np.ndarray) -> tuple[SavedState | None, int]:
        """The state sharing the longest beginning with ``tokens``, and that length;
        it becomes the most recently used."""
        best_key, best_len = None, 0
        for key, state in self._states.items():
            shared = common_prefix(state.tokens, tokens)
            if shared > best_len:
                best_key, best_len = key, shared
        if best_key is None:
            return None, 0
        self._states.move_to_end(best_key)
        return self._states[best_key], best_len

    def _evict(self) -> None:
        while self._states and self.size_bytes > self.capacity_bytes:
            _, dropped = self._states.popitem(last=False)
            self.size_bytes -= len(dropped.data)


def _save(llama: Any) -> bytes:
    import llama_cpp

    ctx = llama._ctx.ctx
    size = llama_cpp.llama_state_get_size(ctx)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_get_data(ctx, buffer, size)
    return bytes(buffer)[:written]


def _restore(llama: Any, state: SavedState) -> None:
    import llama_cpp

    buffer = (ctypes.c_uint8 * len(state.data)).from_buffer_copy(state.data)
    if llama_cpp.llama_state_set_data(llama._ctx.ctx, buffer, len(state.data)) != len(state.data):
        raise RuntimeError("llama.cpp refused a saved context state")
    n = len(state.tokens)
    llama.input_ids[:n] = state.tokens
    llama.n_tokens = n
    # The logits in the context are not the live decode of these tokens: evaluate again.
    llama._requires_eval = True


class _Tracker:
    """What the context holds that the last call computed itself."""

    def __init__(self) -> None:
        self.reused = 0


def before_generation(llama: Any, store: PrefixStates, tracker: _Tracker,
                      prompt: Sequence[int]) -> None:
    """Keep the context's state if worth it, then restore the best saved beginning of
    ``prompt`` when it beats the context's own."""
    if store.capacity_bytes <= 0:
        return
    held = np.array(llama.input_ids[:llama.n_tokens], dtype=np.intc)
    fresh = len(held) - tracker.reused
    if fresh >= MIN_FRESH_TOKENS and 2 * fresh >= len(held):
        store.put(held, _save(llama))
    # The prompt's last token is evaluated whatever is reused (see the module doc).
    wanted = np.asarray(prompt[:-1], dtype=np.intc)
    own = common_prefix(held, wanted)
    state, shared = store.longest(wanted)
    if state is not None and shared >= own + MIN_GAIN_TOKENS:
        _restore(llama, state)
        store.hits += 1
        store.tokens_saved += shared - own
        own = shared
    tracker.reused = own


def attach_prefix_states(llama: Any, capacity_bytes: int) -> PrefixStates:
    """Make ``llama`` (a ``llama_cpp.Llama``) consult a new store before each generation.

    The hook sits on ``generate``, which every completion goes through with the prompt's
    exact tokens. Callers serialize use of ``llama`` (it is not thread-safe anyway).
    """
    store, tracker = PrefixStates(capacity_bytes), _Tracker()
    generate: Callable[..., Any] = llama.generate

    def generate_with_states(tokens: Sequence[int], *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("reset", True):
            before_generation(llama, store, tracker, list(tokens))
        return generate(tokens, *args, **kwargs)

    llama.generate = generate_with_states
    return store
