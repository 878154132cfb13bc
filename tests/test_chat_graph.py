"""The chat graph on scripted models: memory in context, routing, folding, failures."""

import sqlite3
from pathlib import Path

import httpx
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from neuroforge.graphs.chat import STOPPED, ChatDeps, create_chat_graph
from neuroforge.knowledge.db import open_database
from neuroforge.memory.long_term import LongTermMemory, open_long_term
from tests.fakes import StreamingChatModel


@pytest.fixture
def memory(tmp_path: Path, store_url: str, chroma_url: str | None) -> LongTermMemory:
    return open_long_term(open_database(store_url), tmp_path / "chroma", chroma_url)


def turn(graph, text: str, session: str = "s1", **extra):
    config = {"configurable": {"thread_id": session}}
    return graph.invoke({"messages": [HumanMessage(text)], "session_id": session, **extra},
                        config)


def test_a_fact_is_remembered_then_recalled_into_a_new_sessions_context(
        memory: LongTermMemory, tmp_path: Path) -> None:
    model = StreamingChatModel(reply="Nice colour!")
    graph = create_chat_graph(ChatDeps(chat_model=lambda name: model, memory=memory)).compile(
        checkpointer=SqliteSaver(sqlite3.connect(tmp_path / "ck.sqlite",
                                                 check_same_thread=False)))
    first = turn(graph, "My favourite colour is teal.", "s1")
    assert first["remembered"] and first["messages"][-1].text == "Nice colour!"
    second = turn(graph, "What is my favourite colour?", "s2")
    assert second["recalled"][0]["text"] == "My favourite colour is teal."
    system = model.seen[-1][0]
    assert isinstance(system, SystemMessage) and "teal" in system.text
    assert "Your favourite colour is teal" in system.text
    assert "from session s1" in system.text  # provenance travels with the memory
    assert len(second["messages"]) == 2  # sessions do not share short-term history


def test_a_session_resumes_from_the_checkpointer_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ck.sqlite"
    model = StreamingChatModel(reply="ok")

    def build():
        saver = SqliteSaver(sqlite3.connect(path, check_same_thread=False))
        return create_chat_graph(ChatDeps(chat_model=lambda name: model)).compile(
            checkpointer=saver)

    turn(build(), "I am planning a trip to Kyoto.")
    after = turn(build(), "Where am I going?")  # a new graph, as after a restart
    assert [m.text for m in after["messages"]][:2] == ["I am planning a trip to Kyoto.", "ok"]
    assert "Kyoto" in " ".join(m.text for m in model.seen[-1])


def test_routing_picks_the_model_and_forcing_skips_it() -> None:
    used: list[str | None] = []

    def chat_model(name):
        used.append(name)
        return StreamingChatModel(reply=f"from {name}")

    deps = ChatDeps(chat_model=chat_model,
                    options=lambda: [{"name": "tiny"}, {"name": "big"}],
                    route=lambda task: {"model": "big", "reason": "maths"})
    graph = create_chat_graph(deps).compile()
    out = graph.invoke({"messages": [HumanMessage("What is 17*23?")]})
    assert out["route"] == {"model": "big", "reason": "maths"} and used == ["big"]
    out = graph.invoke({"messages": [HumanMessage("hi there")], "model": "tiny"})
    assert out["route"]["reason"] == "chosen by the user" and used[-1] == "tiny"


def test_routing_failure_falls_back_to_the_default_model() -> None:
    def broken(task):
        raise ValueError("router exploded")

    deps = ChatDeps(chat_model=lambda name: StreamingChatModel(reply="fine"),
                    options=lambda: [{"name": "a"}, {"name": "b"}], route=broken)
    out = create_chat_graph(deps).compile().invoke({"messages": [HumanMessage("hello you")]})
    assert out["route"]["model"] is None and "router exploded" in out["route"]["reason"]
    assert out["messages"][-1].text == "fine"


def test_backend_down_mid_answer_keeps_what_was_said_and_goes_on(tmp_path: Path) -> None:
    model = StreamingChatModel(reply="one two three four", fail_after=2,
                               fail_with=httpx.ConnectError("connection refused"))
    graph = create_chat_graph(ChatDeps(chat_model=lambda name: model)).compile(
        checkpointer=SqliteSaver(sqlite3.connect(tmp_path / "ck.sqlite",
                                                 check_same_thread=False)))
    config = {"configurable": {"thread_id": "s"}}
    streamed = [chunk.text for chunk, meta in graph.stream(
        {"messages": [HumanMessage("Count to four please")]}, config, stream_mode="messages")
        if isinstance(chunk, AIMessageChunk) and meta["langgraph_node"] == "answer"]
    assert streamed == ["one", " two"]  # tokens arrive one by one
    state = graph.get_state(config).values
    assert state["messages"][-1].text == "one two"
    assert "cannot connect" in state["error"]
    model.fail_after = None
    after = turn(graph, "Try again", "s")
    assert after["error"] is None and after["messages"][-1].text == "one two three four"
    assert len(after["messages"]) == 4  # nothing lost


def test_stop_ends_the_answer_at_the_next_chunk_and_the_turn_completes(
        tmp_path: Path) -> None:
    deps = ChatDeps(chat_model=lambda name: model)
    model = StreamingChatModel(reply="one two three four five six",
                               on_word=lambda i: i == 2 and deps.stop.set())
    graph = create_chat_graph(deps).compile(
        checkpointer=SqliteSaver(sqlite3.connect(tmp_path / "ck.sqlite",
                                                 check_same_thread=False)))
    config = {"configurable": {"thread_id": "s"}}
    modes = [mode for mode, _ in graph.stream({"messages": [HumanMessage("Count please")]},
                                              config, stream_mode=["messages", "updates"])]
    state = graph.get_state(config)
    assert state.next == ()  # the run ended normally: remember ran, nothing pending
    assert "updates" in modes
    assert state.values["error"] == STOPPED
    last = state.values["messages"][-1]
    assert last.text == "one two three" and last.response_metadata["error"] == "stopped"
    assert model.streamed == [2]  # closed as it handed over its third word, not its sixth
    deps.stop.clear()
    model.on_word = None
    after = turn(graph, "Again please", "s")
    assert after["error"] is None and after["messages"][-1].text.endswith("six")
    assert len(after["messages"]) == 4


def test_stop_before_the_first_chunk_says_so() -> None:
    deps = ChatDeps(chat_model=lambda name: StreamingChatModel(reply="never said"))
    deps.stop.set()
    out = create_chat_graph(deps).compile().invoke({"messages": [HumanMessage("hi there")]})
    assert out["error"] == STOPPED
    assert out["messages"][-1].text == "[stopped before answering]"


def test_long_sessions_fold_old_turns_into_a_summary() -> None:
    model = StreamingChatModel(reply="a fairly long answer " * 5)
    deps = ChatDeps(chat_model=lambda name: model, context_tokens=80)
    graph = create_chat_graph(deps).compile(checkpointer=__import__(
        "langgraph.checkpoint.memory", fromlist=["InMemorySaver"]).InMemorySaver())
    for i in range(6):
        out = turn(graph, f"I have pet number {i} called Rex{i}.", "s")
    assert out["folded"] > 0 and "Rex0" in out["summary"]
    sent = model.seen[-1]
    assert "Rex0" not in " ".join(m.text for m in sent[1:])  # not verbatim any more
    assert "Rex0" in sent[0].text  # but in the summary of the system message
    assert sum(len(m.text) // 3 + 5 for m in sent[1:]) <= 80


@pytest.mark.parametrize("text", ["", "x" * 9000])
def test_empty_and_huge_messages_are_refused(text: str) -> None:
    graph = create_chat_graph(ChatDeps(chat_model=lambda name: StreamingChatModel())).compile()
    with pytest.raises(ValueError, match="empty|limit"):
        graph.invoke({"messages": [HumanMessage(text)]})
