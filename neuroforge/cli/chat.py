"""``neuroforge chat``: a terminal session over the chat graph.

Tokens are printed as the model produces them; Ctrl-C stops the current answer (what
was said is kept), not the session. Line editing and input history come from
``readline`` when standard input is a terminal; piped input is read line by line, so
scripts can drive a session.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console

from neuroforge.cli.common import fail, settings, strip_controls, utf8_problem
from neuroforge.settings import Settings

__all__ = ["ChatContext", "HELP", "chat", "chat_loop", "run_chat", "stream_turn"]

HELP = """commands:
  /optimize PROMPT  improve a prompt with the optimize graph (small run)
  /route TASK       which model would answer TASK, and why
  /models           available models
  /memory QUERY     search long-term memory
  /history          this session's messages
  /new              start a new session
  /help             this list
  /exit             leave (Ctrl-D too); Ctrl-C stops an answer, not the session"""


@dataclass
class ChatContext:
    """What one terminal session holds: the compiled graph, the session and the outputs."""

    settings: Settings
    graph: Any
    session_id: str
    model: str | None
    memory: Any
    out: Callable[[str], None]
    info: Console
    interactive: bool = False
    turns: int = 0
    commands: dict[str, Callable[[ChatContext, str], None]] = field(default_factory=dict)

    @property
    def config(self) -> dict[str, Any]:
        """The LangGraph config: one thread per session."""
        return {"configurable": {"thread_id": f"chat-{self.session_id}"}}


def stream_turn(ctx: ChatContext, text: str) -> dict[str, Any]:
    """Send one user message and print the answer as it streams; returns the new state."""
    from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage

    inputs = {"messages": [HumanMessage(text)], "session_id": ctx.session_id,
              "model": ctx.model}
    said: list[str] = []
    ctx.turns += 1
    if ctx.interactive:
        ctx.out("ai> ")
    stream: Iterator[Any] = ctx.graph.stream(inputs, ctx.config,
                                             stream_mode=["messages", "updates"])
    try:
        for mode, payload in stream:
            if mode == "messages":
                chunk, meta = payload
                if meta.get("langgraph_node") == "answer" and isinstance(chunk, AIMessageChunk):
                    said.append(chunk.text)
                    ctx.out(chunk.text)
            elif "route" in payload and payload["route"] and ctx.interactive:
                route = payload["route"]["route"]  # for a person; scripts get answers only
                ctx.info.print(f"[dim]-> {route.get('model') or 'default'}: "
                               f"{route.get('reason', '')}[/]", highlight=False)
    except KeyboardInterrupt:
        with suppress(Exception):
            stream.close()  # type: ignore[attr-defined]
        partial = "".join(said).strip()
        ctx.graph.update_state(
            ctx.config, {"messages": [AIMessage(partial or "[stopped before answering]",
                                                response_metadata={"error": "stopped"})],
                         "error": "stopped by the user"}, as_node="answer")
        ctx.out("\n")
        ctx.info.print("[yellow]stopped[/] (the partial answer is kept)")
        return dict(ctx.graph.get_state(ctx.config).values)
    ctx.out("\n")
    values = dict(ctx.graph.get_state(ctx.config).values)
    if values.get("error"):
        ctx.info.print(f"[red]the answer failed:[/] {values['error']} (the session goes on)",
                       highlight=False)
    return values


def _history(ctx: ChatContext, _arg: str) -> None:
    values = ctx.graph.get_state(ctx.config).values
    messages = values.get("messages", [])
    if values.get("summary"):
        ctx.info.print(f"[dim]summary of older turns:[/]\n{values['summary']}", highlight=False)
    for message in messages:
        who = "you" if message.type == "human" else "ai"
        ctx.out(f"{who}> {message.text}\n")
    if not messages:
        ctx.info.print("no messages in this session yet")


def _new(ctx: ChatContext, _arg: str) -> None:
    from neuroforge.knowledge.schema import new_id

    ctx.session_id = new_id()
    ctx.info.print(f"new session {ctx.session_id}")


def _memory(ctx: ChatContext, arg: str) -> None:
    from neuroforge.memory.long_term import MemoryError_

    try:
        found = ctx.memory.recall(arg, 5)
    except MemoryError_ as exc:
        ctx.info.print(f"[red]error:[/] {exc}", highlight=False)
        return
    for m in found:
        ctx.out(f"{m.similarity:.2f}  {m.text}  [{m.provenance()}, id {m.id}]\n")
    if not found:
        ctx.info.print("nothing remembered yet")


def _models(ctx: ChatContext, _arg: str) -> None:
    from neuroforge.wiring import route_options

    for option in route_options(ctx.settings):
        ctx.out(f"{option['name']}  ({option.get('parameters_label') or '?'} parameters, "
                f"cost {option['cost']})\n")


def _route(ctx: ChatContext, arg: str) -> None:
    from neuroforge.graphs.route import RouteInputError, create_route_graph
    from neuroforge.models.backends import ModelError
    from neuroforge.wiring import route_deps

    try:
        out = create_route_graph(route_deps(ctx.settings)).compile().invoke({"task": arg})
    except (RouteInputError, ModelError) as exc:
        ctx.info.print(f"[red]error:[/] {exc}", highlight=False)
        return
    ctx.out(f"{out['decision']['model']}: {out['decision']['reason']}\n")


def _optimize(ctx: ChatContext, arg: str) -> None:
    from neuroforge.cli.common import RunInterrupted
    from neuroforge.cli.optimize import render_result, run_optimize
    from neuroforge.graphs.optimize import OptimizeInputError
    from neuroforge.models.backends import ModelError

    state = {"prompt": arg, "generations": 1, "population": 3, "voters": 3, "budget": 80}
    try:
        result = run_optimize(ctx.settings, state, resume=None, progress=ctx.info)
    except (OptimizeInputError, ModelError) as exc:
        ctx.info.print(f"[red]error:[/] {exc}", highlight=False)
        return
    except RunInterrupted as stopped:  # the optimization stops; the chat goes on
        ctx.info.print(f"optimization stopped; continue it with `neuroforge optimize "
                       f"--resume {stopped.run_id}`", highlight=False)
        return
    render_result(Console(file=sys.stdout), result)


COMMANDS: dict[str, Callable[[ChatContext, str], None]] = {
    "/history": _history, "/new": _new, "/memory": _memory, "/models": _models,
    "/route": _route, "/optimize": _optimize,
    "/help": lambda ctx, _arg: ctx.info.print(HELP, highlight=False, markup=False),
}
NEEDS_ARGUMENT = {"/memory": "QUERY", "/route": "TASK", "/optimize": "PROMPT"}


def handle_line(ctx: ChatContext, line: str) -> bool:
    """Act on one line of input; ``False`` when the session should end."""
    from neuroforge.graphs.chat import MAX_TURN_CHARS

    problem = utf8_problem(line)
    if problem:
        ctx.info.print(f"[red]error:[/] the message {problem}; nothing was sent.",
                       highlight=False)
        return True
    text = strip_controls(line).strip()
    if not text:
        return True
    if text.startswith("/"):
        name, _, arg = text.partition(" ")
        if name in ("/exit", "/quit"):
            return False
        if name not in COMMANDS:
            ctx.info.print(f"unknown command {name}; /help lists them", highlight=False)
        elif name in NEEDS_ARGUMENT and not arg.strip():
            ctx.info.print(f"usage: {name} {NEEDS_ARGUMENT[name]}")
        else:
            COMMANDS[name](ctx, arg.strip())
        return True
    if len(text) > MAX_TURN_CHARS:
        ctx.info.print(f"[red]error:[/] the message has {len(text)} characters; the limit is "
                       f"{MAX_TURN_CHARS}. Nothing was sent.")
        return True
    stream_turn(ctx, text)
    return True


def _read_lines(interactive: bool, history_file: Any) -> Iterator[str]:
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
            line = input("you> ")
        except EOFError:
            print()
            return
        except KeyboardInterrupt:  # Ctrl-C at the prompt clears the line, like a shell
            print()
            continue
        with suppress(OSError):
            readline.write_history_file(history_file)
        yield line


def chat_loop(ctx: ChatContext, interactive: bool) -> None:
    """Read lines until /exit or end of input."""
    ctx.interactive = interactive
    if interactive:
        ctx.info.print(f"NeuroForge chat, session [bold]{ctx.session_id}[/] "
                       f"(resume with --session {ctx.session_id}); /help for commands")
    else:  # scripts read answers on stdout and find the session id on stderr
        ctx.info.print(f"session {ctx.session_id}", highlight=False)
    for line in _read_lines(interactive, ctx.settings.data_dir / "chat_history"):
        if not handle_line(ctx, line):
            break


def run_chat(settings: Settings, session_id: str | None, model: str | None) -> None:
    """Open the stores and the checkpointer, then chat until the user leaves."""
    from neuroforge.graphs.chat import create_chat_graph
    from neuroforge.knowledge import records
    from neuroforge.knowledge.schema import new_id
    from neuroforge.wiring import chat_deps, checkpointer, long_term_memory, open_store

    store = open_store(settings)
    memory = long_term_memory(settings, store)
    session_id = session_id or new_id()
    with store.session() as session:  # the session shows in `neuroforge runs`
        run_id = records.start_run(session, "chat", {"session_id": session_id, "model": model})

    def out(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    with checkpointer(settings) as saver:
        graph = create_chat_graph(chat_deps(settings, store, memory)).compile(
            checkpointer=saver)
        ctx = ChatContext(settings=settings, graph=graph, session_id=session_id,
                          model=model, memory=memory, out=out,
                          info=Console(stderr=True, soft_wrap=True))
        try:
            chat_loop(ctx, interactive=sys.stdin.isatty())
        finally:
            with store.session() as session:
                records.finish_run(session, run_id, status="succeeded", calls_used=ctx.turns,
                                   outputs={"session_id": ctx.session_id, "turns": ctx.turns})


def chat(
    session: Annotated[str | None, typer.Option(help="Resume this session id.")] = None,
    model: Annotated[str | None, typer.Option(help="Answer with this model; no routing.")]
    = None,
) -> None:
    """A chat session: recalls memories, routes each turn, streams answers; /help inside."""
    from neuroforge.knowledge.db import DatabaseError
    from neuroforge.memory.long_term import MemoryError_

    try:
        run_chat(settings(), session, model)
    except (DatabaseError, MemoryError_) as exc:
        fail(str(exc))
