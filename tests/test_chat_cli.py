"""The chat shell on scripted models: system prompt, /clear, /save, multi-line input,
session listing and --continue."""

import io
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import SystemMessage
from langgraph.checkpoint.memory import InMemorySaver
from rich.console import Console
from typer.testing import CliRunner

from neuroforge.cli import app
from neuroforge.cli import chat as chat_cli
from neuroforge.cli.chat import read_lines
from neuroforge.cli.chat_commands import handle_line
from neuroforge.cli.chat_session import ChatContext, stream_turn
from neuroforge.graphs.chat import STOPPED, ChatDeps, create_chat_graph
from neuroforge.knowledge import records
from neuroforge.settings import load_settings
from neuroforge.wiring import open_store
from tests.fakes import StreamingChatModel

runner = CliRunner()

# Sessions and resumable runs live in the LangGraph checkpointer, which follows the store:
# a SQLite file, then PostgreSQL (PostgresSaver in the same database).
pytestmark = pytest.mark.usefixtures("store_url")


def session(system: str | None = None) -> tuple[ChatContext, StreamingChatModel, io.StringIO]:
    model = StreamingChatModel(reply="Hello!")
    deps = ChatDeps(chat_model=lambda name: model)
    graph = create_chat_graph(deps).compile(checkpointer=InMemorySaver())
    said = io.StringIO()
    ctx = ChatContext(settings=load_settings(), graph=graph, session_id="s1", model=None,
                      memory=None, out=said.write, info=Console(file=io.StringIO()),
                      system=system, stop=deps.stop)
    return ctx, model, said


def test_ctrl_c_mid_answer_stops_it_keeps_the_part_and_the_session_goes_on() -> None:
    ctx, model, said = session()
    model.reply = " ".join(f"w{i}" for i in range(200))

    def interrupt_at_word_3(i: int) -> None:
        if i == 3:  # the answer runs in LangGraph's worker thread; SIGINT reaches main
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.005)

    model.on_word = interrupt_at_word_3
    before = signal.getsignal(signal.SIGINT)
    values = stream_turn(ctx, "Tell me a long story.")
    assert signal.getsignal(signal.SIGINT) == before  # the default Ctrl-C is back
    assert values["error"] == STOPPED and "w3" in said.getvalue()
    assert "w199" not in said.getvalue() and len(model.streamed) == 1
    assert model.streamed[0] < 200
    assert values["messages"][-1].text == said.getvalue().strip()  # what was shown is kept
    assert "stopped" in ctx.info.file.getvalue()  # type: ignore[attr-defined]
    model.on_word, model.reply = None, "Hello!"
    again = stream_turn(ctx, "Say hello.")  # the next turn starts unstopped
    assert again["error"] is None and again["messages"][-1].text == "Hello!"


def test_a_system_prompt_replaces_the_default_and_stays_with_the_session() -> None:
    ctx, model, _ = session(system="You answer like a pirate.")
    handle_line(ctx, "Hi there, how are you today?")
    ctx.system = None  # a resumed session without --system keeps the one it had
    handle_line(ctx, "And tomorrow?")
    for seen in model.seen:
        assert isinstance(seen[0], SystemMessage)
        assert seen[0].text.startswith("You answer like a pirate.")


def test_clear_forgets_the_conversation_and_save_writes_it(tmp_path: Path) -> None:
    ctx, _, said = session()
    handle_line(ctx, "My plan is a trip to Kyoto in May.")
    target = tmp_path / "chat.md"
    handle_line(ctx, f"/save {target}")
    saved = target.read_text()
    assert "**you:** My plan is a trip to Kyoto in May." in saved and "**ai:** Hello!" in saved
    handle_line(ctx, "/clear")
    assert ctx.graph.get_state(ctx.config).values["messages"] == []
    assert ctx.unanswered == 0
    handle_line(ctx, f"/save {tmp_path / 'no' / 'such' / 'f.md'}")  # one line, no crash
    assert "cannot write" in ctx.info.file.getvalue()
    assert ctx.unanswered == 1  # a failed command counts as a line without an answer


def test_lines_that_get_no_answer_are_counted_and_the_rest_still_answered() -> None:
    """What a piped session's exit status is made of: refused lines and failed answers,
    never a stopped answer or a line that was acted on."""
    import httpx

    ctx, model, said = session()
    for line in ("/nope", "/route", "x" * 100_000, "Say hello.", "/help", ""):
        assert handle_line(ctx, line) is True
    assert ctx.unanswered == 3 and said.getvalue().strip() == "Hello!"
    model.reply, model.fail_after = "one two three", 1
    model.fail_with = httpx.ConnectError("connection refused")
    handle_line(ctx, "And again?")
    assert ctx.unanswered == 4 and "the answer failed" in ctx.info.file.getvalue()  # type: ignore[attr-defined]


def test_multi_line_input_by_backslash_and_by_block(tmp_path: Path) -> None:
    typed = iter(["first line \\", "second line", '"""', "a", "b", '"""', "/exit"])

    def ask(_prompt: str) -> str:
        line = next(typed, None)
        if line is None:
            raise EOFError  # Ctrl-D
        return line

    got = list(read_lines(True, tmp_path / "history", ask=ask))
    assert got == ["first line \nsecond line", "a\nb", "/exit"]


def test_list_and_continue_find_the_latest_session(monkeypatch: pytest.MonkeyPatch) -> None:
    nothing = runner.invoke(app, ["chat", "--continue"])
    assert nothing.exit_code == 2 and "no chat session to continue" in nothing.output
    store = open_store(load_settings())
    for sid, turns in (("older", 2), ("newer", 3)):
        with store.session() as s:
            run_id = records.start_run(s, "chat", {"session_id": sid})
        with store.session() as s:
            records.finish_run(s, run_id, status="succeeded", calls_used=turns,
                               outputs={"session_id": sid, "turns": turns})
    listed = json.loads(runner.invoke(app, ["chat", "--list", "--json"]).stdout)["sessions"]
    assert [(s["session_id"], s["turns"]) for s in listed] == [("newer", 3), ("older", 2)]
    seen: dict[str, Any] = {}

    def fake_run_chat(settings: Any, session_id: str | None, model: str | None,
                      system: str | None = None) -> int:
        seen.update(session=session_id, temperature=settings.temperature_for("chat"),
                    system=system)
        return 0

    monkeypatch.setattr(chat_cli, "run_chat", fake_run_chat)
    result = runner.invoke(app, ["chat", "--continue", "--temperature", "0.2",
                                 "--system", "Be terse."])
    assert result.exit_code == 0, result.output
    assert seen == {"session": "newer", "temperature": 0.2, "system": "Be terse."}


def test_an_unknown_model_is_refused_before_a_session_starts() -> None:
    result = runner.invoke(app, ["chat", "--model", "nope"], input="hi\n")
    assert result.exit_code == 2, result.output
    assert "unknown model 'nope'" in result.output and "smollm2-135m" in result.output
    assert "Traceback" not in result.output
    listed = runner.invoke(app, ["chat", "--list", "--json"])
    assert json.loads(listed.stdout)["sessions"] == []
