"""Saved context states of the embedded model: the store's bounds, and that replies do
not change when a prompt's beginning is restored instead of computed."""

import numpy as np
import pytest
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from neuroforge.models.embedded import EmbeddedChatModel
from neuroforge.models.kv_states import PrefixStates, common_prefix


def _tokens(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.intc)


def test_common_prefix_counts_the_shared_beginning() -> None:
    assert common_prefix(_tokens(1, 2, 3), _tokens(1, 2, 4, 5)) == 2
    assert common_prefix(_tokens(1, 2), _tokens(1, 2, 3)) == 2
    assert common_prefix(_tokens(), _tokens(1)) == 0
    assert common_prefix(_tokens(9), _tokens(1)) == 0


def test_store_finds_the_longest_beginning_and_evicts_the_least_recent() -> None:
    store = PrefixStates(capacity_bytes=30)
    store.put(_tokens(1, 2, 3), b"a" * 10)
    store.put(_tokens(1, 2, 9, 9), b"b" * 10)
    store.put(_tokens(5, 6), b"c" * 10)
    state, shared = store.longest(_tokens(1, 2, 9, 7))
    assert state is not None and state.data == b"b" * 10 and shared == 3
    # (1, 2, 3) is now the least recently used: the next state pushes it out.
    store.put(_tokens(7), b"d" * 10)
    assert len(store) == 3 and store.size_bytes == 30
    # Gone: only (1, 2, 9, 9) shares a beginning with it now.
    state, shared = store.longest(_tokens(1, 2, 3))
    assert state is not None and state.data == b"b" * 10 and shared == 2
    assert store.longest(_tokens(4)) == (None, 0)


def test_store_keeps_nothing_over_its_bound_and_shrinks_on_resize() -> None:
    store = PrefixStates(capacity_bytes=25)
    store.put(_tokens(1), b"x" * 26)
    assert len(store) == 0
    store.put(_tokens(1), b"x" * 12)
    store.put(_tokens(2), b"y" * 12)
    store.resize(12)
    assert len(store) == 1 and store.longest(_tokens(2))[1] == 1
    store.resize(0)
    assert len(store) == 0 and store.size_bytes == 0


_SCHEMA = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}},
           "required": ["answer"]}


def _prompts() -> list[list[BaseMessage]]:
    # Each prompt's system part differs from the start, so only a saved state can spare
    # it when the same prompt comes back after the others.
    rules = "Answer in one short sentence and keep to the facts you are given. " * 12
    return [[SystemMessage(f"Task {k}: {rules}"), HumanMessage(f"Is {k + 2} more than 3?")]
            for k in range(3)]


def _replies(model: EmbeddedChatModel) -> list[str]:
    prompts = _prompts()
    free = [model.invoke(p).text for p in prompts]
    held = [model.invoke(p, response_schema=_SCHEMA).text for p in prompts]
    streamed = ["".join(c.text for c in model.stream(p)) for p in prompts]
    return free + held + streamed


@pytest.mark.embedded
def test_restored_states_give_the_same_replies_and_spare_the_prompt() -> None:
    without = _replies(EmbeddedChatModel(temperature=0.0, max_tokens=24, prefix_cache_mb=0))
    cached = EmbeddedChatModel(temperature=0.0, max_tokens=24, prefix_cache_mb=64)
    store = cached._loaded().prefix_states
    hits, saved = store.hits, store.tokens_saved
    assert _replies(cached) == without
    # The held and the streamed round each restore every prompt but the one in context.
    assert store.hits - hits >= 4
    assert store.tokens_saved - saved >= 4 * 150
    assert 0 < store.size_bytes <= 64 * 1024 * 1024
