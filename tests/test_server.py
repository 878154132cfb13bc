"""`langgraph dev` serves every graph offline: threads, runs, streaming, crons (LangGraph SDK)."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client
from sqlalchemy import func, select

from neuroforge.knowledge.db import open_database
from neuroforge.knowledge.schema import Run
from tests.data_paths import EXAMPLE_TASKS

pytestmark = [pytest.mark.server, pytest.mark.embedded]
ROOT = Path(__file__).resolve().parents[1]
LANGGRAPH = str(Path(sys.executable).parent / "langgraph")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "NEUROFORGE_BACKEND": "embedded", "LANGGRAPH_CLI_NO_ANALYTICS": "1",
           "LANGGRAPH_NO_VERSION_CHECK": "1", "LANGSMITH_TRACING": "false"}
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([LANGGRAPH, "dev", "--no-browser", "--no-reload", "--port",
                                str(port)], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise AssertionError("server did not start: "
                                 + (tmp_path / "server.log").read_text()[-3000:])
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


ANTONYMS = EXAMPLE_TASKS / "instruction_induction/raw/induce/antonyms.json"


def autopilot_runs(data_dir: Path) -> int:
    db = open_database(f"sqlite:///{data_dir / 'neuroforge.db'}")
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Run)
                                  .where(Run.graph == "autopilot")) or 0)


def test_every_graph_runs_streams_and_a_cron_fires(server: str, isolated_env: Path) -> None:
    client = get_sync_client(url=server)
    graphs = {a["graph_id"] for a in client.assistants.search()}
    assert graphs == {"optimize", "route", "chat", "autopilot", "experiment"}

    thread = client.threads.create()
    routed = client.runs.wait(thread["thread_id"], "route", input={"task": "What is 2 + 2?"})
    assert routed["decision"]["model"] == "smollm2-135m"
    # Input of the wrong type ends the run with the graph's own message, not a KeyError.
    for graph_id, bad, message in [
            ("route", {"task": "Hi", "models": "smollm2-135m"}, "models must be a list"),
            ("experiment", {"spec": "antonyms.yaml"}, "an experiment spec is a mapping"),
            ("autopilot", {"dry_run": "false"}, "dry_run must be true or false")]:
        refused = client.runs.wait(client.threads.create()["thread_id"], graph_id,
                                   input=bad, raise_error=False)
        assert message in refused["__error__"]["message"], refused

    thread = client.threads.create()
    parts = list(client.runs.stream(
        thread["thread_id"], "chat", stream_mode=["updates", "messages-tuple"],
        input={"messages": [{"role": "user", "content": "My name is Ada."}],
               "session_id": "server-test"}))
    updated = {node for p in parts if p.event == "updates" for node in (p.data or {})}
    assert {"recall", "route", "condense", "answer", "remember"} <= updated
    assert any(p.event == "messages" for p in parts)  # tokens streamed
    state = client.threads.get_state(thread["thread_id"])
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai"]

    thread = client.threads.create()
    optimized = client.runs.wait(thread["thread_id"], "optimize", input={
        "prompt": "Write about cats.", "generations": 1, "population": 2, "voters": 1,
        "debate_rounds": 0, "budget": 40})
    assert optimized["result"]["original"] == "Write about cats."

    thread = client.threads.create()
    spec = {"name": "server", "models": ["smollm2-135m"], "max_tokens": 8,
            "prompts": [{"text": "Write the opposite of the input word."}],
            "dataset": {"path": str(ANTONYMS), "limit": 3}}
    done = client.runs.wait(thread["thread_id"], "experiment", input={"spec": spec},
                            config={"max_concurrency": 1})
    assert done["summary"]["stored"] == 3 and done["summary"]["errors"] == 0

    thread = client.threads.create()
    report = client.runs.wait(thread["thread_id"], "autopilot", input={"dry_run": True})
    assert report["report"]["dry_run"] is True
    before = autopilot_runs(isolated_env)

    cron = client.crons.create("autopilot", schedule="* * * * *", input={"dry_run": True})
    assert any(c["cron_id"] == cron["cron_id"] for c in client.crons.search())
    deadline = time.monotonic() + 150
    while autopilot_runs(isolated_env) == before and time.monotonic() < deadline:
        time.sleep(2)
    assert autopilot_runs(isolated_env) > before, "the cron did not run the autopilot"
    client.crons.delete(cron["cron_id"])
    assert not any(c["cron_id"] == cron["cron_id"] for c in client.crons.search())
