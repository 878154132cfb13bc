"""Long-term memory on real Chroma with the bundled MiniLM; the buffer; salience."""

import json
import time
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from sqlalchemy import select

from neuroforge.knowledge.db import open_database
from neuroforge.knowledge.schema import MemoryRecord
from neuroforge.memory.buffer import extractive_summary, split_for_context
from neuroforge.memory.long_term import LongTermMemory, MemoryError_, NewMemory, open_long_term
from neuroforge.memory.salience import salient_facts


@pytest.fixture
def memory(tmp_path: Path, store_url: str, chroma_url: str | None) -> LongTermMemory:
    return open_long_term(open_database(store_url), tmp_path / "chroma", chroma_url)


def test_recall_ranks_by_meaning_and_filters(memory: LongTermMemory) -> None:
    memory.remember("My favourite colour is teal.", "fact", "s1")
    memory.remember("I work at a bakery in Lyon.", "fact", "s1")
    memory.remember("Adding a role improved the summary prompt by 12 points.", "optimization")
    found = memory.recall("what colour do I like", 3)
    assert found[0].text == "My favourite colour is teal."
    assert found[0].similarity is not None and found[0].similarity > found[1].similarity
    assert [m.kind for m in memory.recall("prompt", 5, kind="optimization")] == ["optimization"]
    assert {m.session_id for m in memory.recall("anything", 5, session_id="s1")} == {"s1"}
    assert memory.recall("colour", 5, since=time.time() + 60) == []
    assert "session s1" in found[0].provenance()


def test_near_duplicates_merge_within_a_session(memory: LongTermMemory) -> None:
    first, merged_first = memory.remember("My favourite colour is teal.", "fact", "s1")
    again, merged_again = memory.remember("my favorite colour is teal", "fact", "s1")
    other, merged_other = memory.remember("My favourite colour is teal.", "fact", "s2")
    assert (merged_first, merged_again, merged_other) == (False, True, False)
    assert again.id == first.id and again.count == 2 and other.id != first.id
    assert memory.count() == 2
    # In one batch too: the second copy merges into the first.
    stored = memory.remember_many([NewMemory("I live in Oslo.", "fact", "s3"),
                                   NewMemory("I live in Oslo", "fact", "s3")])
    assert stored[0][0].id == stored[1][0].id and stored[1][1] is True
    assert memory.count() == 3


def test_forget_deletes_from_chroma_and_database(memory: LongTermMemory) -> None:
    memory.remember("My favourite colour is teal.", "fact", "s1")
    memory.remember("I work at a bakery in Lyon.", "fact", "s1")
    kept, _ = memory.remember("I live in Oslo.", "fact", "s2")
    assert memory.forget(session_id="s1") == 2
    assert [m.text for m in memory.recall("colour", 5)] == ["I live in Oslo."]
    with memory.db.session() as session:
        assert list(session.scalars(select(MemoryRecord.id))) == [kept.id]
    assert memory.forget(memory_id=kept.id) == 1
    assert memory.count() == 0 and memory.forget(memory_id="nope") == 0
    with pytest.raises(MemoryError_, match="a session id, a memory id or a pattern"):
        memory.forget()


def test_export_writes_every_memory(memory: LongTermMemory, tmp_path: Path) -> None:
    memory.remember("I live in Oslo.", "fact", "s2", {"source": "chat"})
    memory.remember("route maths to the big model", "routing", None, {"model": "big"})
    out = tmp_path / "memories.jsonl"
    assert memory.export(out) == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["kind"] for r in rows} == {"fact", "routing"}
    assert rows[0]["details"] == {"source": "chat"} and rows[0]["session_id"] == "s2"


def test_memories_survive_reopening(tmp_path: Path, store_url: str,
                                    chroma_url: str | None) -> None:
    db = open_database(store_url)
    open_long_term(db, tmp_path / "chroma", chroma_url).remember("I live in Oslo.", "fact", "s1")
    again = open_long_term(db, tmp_path / "chroma", chroma_url)
    assert [m.text for m in again.recall("where do I live", 1)] == ["I live in Oslo."]


@pytest.mark.parametrize(("text", "kind", "message"), [
    ("   ", "fact", "empty"), ("x" * 5000, "fact", "limit"), ("ok text", "gossip", "kind"),
])
def test_bad_memories_are_refused(memory: LongTermMemory, text: str, kind: str,
                                  message: str) -> None:
    with pytest.raises(MemoryError_, match=message):
        memory.remember(text, kind)
    assert memory.count() == 0


def test_empty_query_is_refused(memory: LongTermMemory) -> None:
    with pytest.raises(MemoryError_, match="empty"):
        memory.recall("  ")


def test_buffer_keeps_recent_turns_and_folds_the_rest() -> None:
    history = []
    for i in range(10):
        history += [HumanMessage(f"question {i} " + "word " * 20), AIMessage(f"answer {i}")]
    window = split_for_context(history, folded=0, max_tokens=60, count_tokens=lambda t:
                               len(t.split()))
    assert window.recent[0].type == "human" and window.recent[-1].text == "answer 9"
    assert sum(len(m.text.split()) + 4 for m in window.recent) <= 60
    assert window.to_fold == history[: len(history) - len(window.recent)]
    # What the summary already covers is not folded twice.
    again = split_for_context(history, folded=len(window.to_fold), max_tokens=60,
                              count_tokens=lambda t: len(t.split()))
    assert again.to_fold == []


def test_extractive_summary_keeps_first_sentences_within_bound() -> None:
    summary = extractive_summary("", [HumanMessage("I live in Oslo. I like rain."),
                                      AIMessage("Noted! Oslo is rainy.")])
    assert summary == "User: I live in Oslo.\nAssistant: Noted!"
    long = extractive_summary(summary, [HumanMessage("x" * 400)] * 10, max_chars=500)
    assert len(long) <= 500 and "Oslo" not in long  # the oldest detail went first


def test_salience_keeps_facts_about_the_user_not_questions() -> None:
    assert salient_facts("Hi! My favourite colour is teal. What is 2+2?") == [
        "My favourite colour is teal."]
    assert salient_facts("Remember that the deploy window is Friday.") == [
        "The deploy window is Friday."]
    assert salient_facts("/memory colour") == []
    assert salient_facts("The sky is blue.") == []


@pytest.mark.parametrize("text", [
    "Tell me a long story about a dragon.",
    "Please write me a poem about my cat.",
    "Can you summarize my notes for the meeting.",
    "I want you to act as my travel agent.",
    "My password is hunter2.",
    "Our API key is sk-live-abcdef123456.",
    "My card number is 4111 1111 1111 1111.",
])
def test_requests_and_secrets_are_not_facts(text: str) -> None:
    assert salient_facts(text) == []


def test_facts_still_count_beside_a_request() -> None:
    assert salient_facts("I live in Oslo. Tell me about its museums.") == ["I live in Oslo."]
    assert salient_facts("My sister lives in Toronto.") == ["My sister lives in Toronto."]


class _Broken:
    """A Chroma collection whose every call fails the way a stale local index does."""

    def __getattr__(self, name: str):
        def fail(*args, **kwargs):
            raise RuntimeError("Error executing plan: Internal error: Error finding id")
        return fail


def test_a_failing_chroma_call_is_retried_on_a_fresh_client_then_named(
        tmp_path: Path, store_url: str) -> None:
    from neuroforge.knowledge.db import open_database
    from neuroforge.memory.long_term import LongTermMemory, MemoryError_, open_long_term

    db = open_database(store_url)
    good = open_long_term(db, tmp_path / "chroma")
    good.remember("My bicycle is painted bright orange.", session_id="s")
    healed = LongTermMemory(collection=_Broken(), db=db, reopen=lambda: good.collection)
    assert healed.recall("what colour is my bicycle", 1)[0].text.startswith("My bicycle")
    broken = LongTermMemory(collection=_Broken(), db=db, reopen=lambda: _Broken())
    with pytest.raises(MemoryError_, match="could not count memories: Error executing plan"):
        broken.recall("bicycle", 1)
    with pytest.raises(MemoryError_, match="could not count memories"):
        LongTermMemory(collection=_Broken(), db=db).count()


def test_a_chroma_server_that_is_down_is_one_clear_error(tmp_path: Path, store_url: str) -> None:
    from tests.conftest import closed_port_url

    url = closed_port_url() + "/nf"
    with pytest.raises(MemoryError_, match=f"cannot open long-term memory at {url}"):
        open_long_term(open_database(store_url), tmp_path / "chroma", url)


@pytest.mark.server
def test_chroma_databases_on_one_server_are_separate(tmp_path: Path, store_url: str,
                                                      chroma_server) -> None:
    db = open_database(store_url)
    first = open_long_term(db, None, f"{chroma_server.url}/team_a")
    second = open_long_term(db, None, f"{chroma_server.url}/team_b")
    first.remember("I live in Oslo.", "fact", "s1")
    assert first.collection.count() == 1 and second.collection.count() == 0
