"""``neuroforge chat``: a terminal session over the chat graph.

Tokens are printed as the model produces them; Ctrl-C stops the current answer (what
was said is kept), not the session. Line editing and input history come from
``readline`` when standard input is a terminal; piped input is read line by line, so
scripts can drive a session (answers on stdout, the session id on stderr).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import suppress
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from neuroforge.cli.chat_commands import handle_line
from neuroforge.cli.chat_session import ChatContext
from neuroforge.cli.common import JsonFlag, console, fail, print_json, settings
from neuroforge.cli.model_checks import unknown_models
from neuroforge.settings import Settings

__all__ = ["chat", "chat_loop", "read_lines", "run_chat"]

BLOCK = '"""'
# Session ids name checkpoint threads and show up in listings: short and plain.
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def chat(
    session: Annotated[str | None, typer.Option(help="Resume this session id.")] = None,
    resume_last: Annotated[bool, typer.Option("--continue", help="Resume the most recent "
                                              "session.")] = False,
    list_sessions: Annotated[bool, typer.Option("--list", help="List sessions, newest "
                                                "first, and exit.")] = False,
    model: Annotated[str | None, typer.Option(help="Answer with this model; no routing.")]
    = None,
    system: Annotated[str | None, typer.Option(help="System prompt for this session (kept "
                                               "when it is resumed).")] = None,
    temperature: Annotated[float | None, typer.Option(min=0.0, max=2.0, help="Sampling "
                                                      "temperature of the answers.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """A chat session: recalls memories, routes each turn, streams answers; /help inside."""
    from neuroforge.knowledge.db import DatabaseError
    from neuroforge.memory.long_term import MemoryError_
    from neuroforge.models.backends import ModelError

    current = settings()
    if list_sessions:
        _print_sessions(current, as_json)
        return
    if session and resume_last:
        fail("give --session ID or --continue, not both", 2)
    if session is not None and not SESSION_ID.fullmatch(session):
        fail(f"session id {session[:80]!r} is not usable: use 1-64 letters, digits, '.', '_', "
             "'-' or ':', starting with a letter or digit", 2)
    if model is not None and (problems := unknown_models(current, [model])):
        fail("; ".join(problems), 2)  # before a session starts that could not answer
    if resume_last:
        session = _last_session(current)
    if temperature is not None:
        temperatures = current.temperatures.model_copy(update={"chat": temperature})
        current = current.model_copy(update={"temperatures": temperatures})
    try:
        unanswered = run_chat(current, session, model, system)
    except (DatabaseError, MemoryError_, ModelError) as exc:
        fail(str(exc))
    if unanswered:  # a script learns that some of its lines got no answer
        fail(f"{unanswered} piped line(s) got no answer; each says why above")


def _sessions(current: Settings) -> list[dict[str, Any]]:
    from neuroforge.knowledge.records import chat_sessions
    from neuroforge.wiring import open_store

    with open_store(current).session() as session:
        return chat_sessions(session)


def _last_session(current: Settings) -> str:
    found = _sessions(current)
    if not found:
        fail("no chat session to continue yet; start one with `neuroforge chat`", 2)
    return str(found[0]["session_id"])


def _print_sessions(current: Settings, as_json: bool) -> None:
    found = _sessions(current)
    if as_json:
        print_json({"sessions": found})
        return
    if not found:
        console.print("no chat sessions yet; start one with `neuroforge chat`")
        return
    table = Table("session", "last used (UTC)", "turns")
    for s in found:
        table.add_row(s["session_id"], s["last_used"][:19], str(s["turns"]))
    console.print(table)


def read_lines(interactive: bool, history_file: Any, ask: Any = input) -> Iterator[str]:
    """Messages from the user: a terminal with history and multi-line input, or a pipe.

    In a terminal a line ending in a backslash continues on the next line, and a line
    that is only three double quotes opens or closes a block of several lines.
    """
    if not interactive:
        # Bytes, not text: a line that is not UTF-8 is refused on its own, not fatal.
        for raw in sys.stdin.buffer:
            yield raw.decode("utf-8", errors="surrogateescape")
        return
    import readline

    with suppress(OSError):
        readline.read_history_file(history_file)
    readline.set_history_length(1000)
    while True:
        try:
            message = _one_message(ask)
        except EOFError:
            print()
            return
        except KeyboardInterrupt:  # Ctrl-C at the prompt clears the line, like a shell
            print()
            continue
        with suppress(OSError):
            readline.write_history_file(history_file)
        yield message


def _one_message(ask: Any) -> str:
    line = ask("you> ")
    if line.strip() == BLOCK:
        parts: list[str] = []
        while (line := ask("... ")).strip() != BLOCK:
            parts.append(line)
        return "\n".join(parts)
    parts = [line]
    while parts[-1].endswith("\\"):
        parts[-1] = parts[-1][:-1]
        parts.append(ask("... "))
    return "\n".join(parts)


def _visit(earlier_turns: int | None) -> str:
    if earlier_turns is None:
        return "(new)"
    return f"(resumed after {earlier_turns} turn{'' if earlier_turns == 1 else 's'})"


def chat_loop(ctx: ChatContext, interactive: bool) -> None:
    """Read messages until /exit or end of input."""
    ctx.interactive = interactive
    if interactive:
        ctx.info.print(f"NeuroForge chat, session [bold]{ctx.session_id}[/] "
                       f"{_visit(ctx.earlier_turns)} "
                       f"(resume with --session {ctx.session_id} or --continue); "
                       "/help for commands")
    else:  # scripts read answers on stdout and find the session id on stderr
        ctx.info.print(f"session {ctx.session_id} {_visit(ctx.earlier_turns)}",
                       highlight=False)
    for line in read_lines(interactive, ctx.settings.data_dir / "chat_history"):
        if not handle_line(ctx, line):
            break


def run_chat(settings: Settings, session_id: str | None, model: str | None,
             system: str | None = None) -> int:
    """Open the stores and the checkpointer, then chat until the user leaves; returns
    how many piped lines got no answer (0 in a terminal, where a person saw each)."""
    from neuroforge.graphs.chat import create_chat_graph
    from neuroforge.knowledge import records
    from neuroforge.knowledge.schema import new_id
    from neuroforge.wiring import chat_deps, checkpointer, long_term_memory, open_store

    store = open_store(settings)
    memory = long_term_memory(settings, store)
    # The models first: a backend that is down stops the session before it is recorded.
    deps = chat_deps(settings, store, memory)
    session_id = session_id or new_id()
    with store.session() as session:  # the session shows in `neuroforge runs`
        # Said at the start, so a mistyped id is seen as a new session, not a lost history.
        earlier_turns = records.chat_session_turns(session, session_id)
        run_id = records.start_run(session, "chat", {"session_id": session_id, "model": model})

    def out(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    with checkpointer(settings) as saver:
        graph = create_chat_graph(deps).compile(checkpointer=saver)
        ctx = ChatContext(settings=settings, graph=graph, session_id=session_id,
                          model=model, memory=memory, out=out, system=system,
                          info=Console(stderr=True, soft_wrap=True), stop=deps.stop,
                          earlier_turns=earlier_turns)
        try:
            chat_loop(ctx, interactive=sys.stdin.isatty())
        finally:
            with store.session() as session:
                records.finish_run(session, run_id, status="succeeded", calls_used=ctx.turns,
                                   outputs={"session_id": ctx.session_id, "turns": ctx.turns})
    return 0 if ctx.interactive else ctx.unanswered
