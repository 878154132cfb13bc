"""PostgreSQL as the shared store: checkpoints that follow a run across hosts, and
servers that are down, wrong passwords and missing databases as one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from neuroforge.settings import load_settings
from neuroforge.wiring import checkpointer
from tests.conftest import closed_port_url
from tests.servers import PG_PASSWORD

pytestmark = pytest.mark.server


def _echo_graph() -> StateGraph:
    def answer(state: MessagesState) -> dict[str, list[AIMessage]]:
        return {"messages": [AIMessage(f"heard {len(state['messages'])} messages")]}

    graph = StateGraph(MessagesState)
    graph.add_node("answer", answer)
    graph.add_edge(START, "answer")
    return graph


def test_checkpoints_follow_the_store_to_another_host(tmp_path: Path, postgres_server,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    url = postgres_server.new_database()
    monkeypatch.setenv("NEUROFORGE_DATABASE_URL", url)
    config = {"configurable": {"thread_id": "session-1"}}
    with checkpointer(load_settings()) as saver:
        assert type(saver).__name__ == "PostgresSaver"
        _echo_graph().compile(checkpointer=saver).invoke(
            {"messages": [HumanMessage("hello")]}, config)
    # "Another host": a different data directory, the same PostgreSQL database.
    monkeypatch.setenv("NEUROFORGE_DATA_DIR", str(tmp_path / "host-b"))
    with checkpointer(load_settings()) as saver:
        out = _echo_graph().compile(checkpointer=saver).invoke(
            {"messages": [HumanMessage("again")]}, config)
    assert out["messages"][-1].content == "heard 3 messages"
    assert not (tmp_path / "host-b" / "checkpoints.sqlite").exists()


def test_a_separate_checkpoint_url_is_used_with_a_sqlite_store(
        tmp_path: Path, postgres_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROFORGE_CHECKPOINT_URL", postgres_server.new_database())
    settings = load_settings()
    assert settings.effective_database_url.startswith("sqlite:")
    with checkpointer(settings) as saver:
        assert type(saver).__name__ == "PostgresSaver"


def _bad_urls(server) -> dict[str, str]:
    port = closed_port_url().rsplit(":", 1)[1]
    return {
        "down": f"postgresql+psycopg://neuroforge:{PG_PASSWORD}@127.0.0.1:{port}/x",
        "wrong password": server.url("postgres", password="not-the-password"),
        "missing database": server.url("no_such_database"),
    }


@pytest.mark.parametrize("case", ["down", "wrong password", "missing database"])
def test_bad_postgresql_stores_are_one_line_and_hide_the_password(
        postgres_server, case: str, tmp_path: Path) -> None:
    url = _bad_urls(postgres_server)[case]
    env = {**os.environ, "NEUROFORGE_DATABASE_URL": url}
    for command in (["experiment", "list"], ["runs"], ["memory", "search", "oslo"]):
        done = subprocess.run([sys.executable, "-m", "neuroforge", *command], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode != 0, (command, done.stdout)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, (command, done.stderr)
        assert "not-the-password" not in done.stderr and PG_PASSWORD not in done.stderr
    checkpoint_env = {**os.environ, "NEUROFORGE_CHECKPOINT_URL": url}
    done = subprocess.run([sys.executable, "-m", "neuroforge", "chat", "--session", "s1"],
                          env=checkpoint_env, input="hello\n", capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "cannot open checkpoints at" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "not-the-password" not in done.stderr
