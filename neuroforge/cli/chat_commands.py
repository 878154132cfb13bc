"""The slash commands of a chat session, and what one line of input does."""

from __future__ import annotations

import sys
from collections.abc import Callable

from rich.console import Console

from neuroforge.cli.chat_session import ChatContext, stream_turn
from neuroforge.cli.common import strip_controls, utf8_problem

__all__ = ["COMMANDS", "HELP", "handle_line"]

HELP = """commands:
  /optimize PROMPT  improve a prompt with the optimize graph (small run)
  /route TASK       which model would answer TASK, and why
  /models           available models
  /memory QUERY     search long-term memory
  /history          this session's messages
  /clear            forget this session's conversation (long-term memories stay)
  /save FILE        write this session's transcript to FILE (Markdown)
  /new              start a new session
  /help             this list
  /exit             leave (Ctrl-D too); Ctrl-C stops an answer, not the session
a line ending in \\ continues on the next line; \"\"\" starts and ends a block"""


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
        ctx.no_answer(f"[red]error:[/] {exc}")
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
        ctx.no_answer(f"[red]error:[/] {exc}")
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
        ctx.no_answer(f"[red]error:[/] {exc}")
        return
    except RunInterrupted as stopped:  # the optimization stops; the chat goes on
        ctx.info.print(f"optimization stopped; continue it with `neuroforge optimize "
                       f"--resume {stopped.run_id}`", highlight=False)
        return
    render_result(Console(file=sys.stdout), result)


def _clear(ctx: ChatContext, _arg: str) -> None:
    from langchain_core.messages import RemoveMessage
    from langgraph.graph.message import REMOVE_ALL_MESSAGES

    ctx.graph.update_state(ctx.config, {"messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES)],
                                        "summary": "", "folded": 0, "window_start": 0},
                           as_node="remember")
    ctx.info.print("cleared this session's conversation (long-term memories stay; "
                   "`/memory` finds them)")


def _save(ctx: ChatContext, arg: str) -> None:
    from pathlib import Path

    values = ctx.graph.get_state(ctx.config).values
    lines = [f"# NeuroForge chat, session {ctx.session_id}", ""]
    if values.get("summary"):
        lines += ["Summary of older turns:", values["summary"], ""]
    for message in values.get("messages", []):
        lines += [f"**{'you' if message.type == 'human' else 'ai'}:** {message.text}", ""]
    target = Path(arg).expanduser()
    try:
        target.write_text("\n".join(lines), encoding="utf-8")
    except OSError as exc:
        ctx.no_answer(f"[red]error:[/] cannot write {target}: {exc.strerror or exc}")
        return
    ctx.info.print(f"saved {len(values.get('messages', []))} messages to {target}",
                   highlight=False)


COMMANDS: dict[str, Callable[[ChatContext, str], None]] = {
    "/history": _history, "/new": _new, "/memory": _memory, "/models": _models,
    "/route": _route, "/optimize": _optimize, "/clear": _clear, "/save": _save,
    "/help": lambda ctx, _arg: ctx.info.print(HELP, highlight=False, markup=False),
}
NEEDS_ARGUMENT = {"/memory": "QUERY", "/route": "TASK", "/optimize": "PROMPT",
                  "/save": "FILE"}


def handle_line(ctx: ChatContext, line: str) -> bool:
    """Act on one line of input; ``False`` when the session should end."""
    from neuroforge.graphs.chat import MAX_TURN_CHARS

    problem = utf8_problem(line)
    if problem:
        ctx.no_answer(f"[red]error:[/] the message {problem}; nothing was sent.")
        return True
    text = strip_controls(line).strip()
    if not text:
        return True
    if text.startswith("/"):
        name, _, arg = text.partition(" ")
        if name in ("/exit", "/quit"):
            return False
        if name not in COMMANDS:
            ctx.no_answer(f"unknown command {name}; /help lists them")
        elif name in NEEDS_ARGUMENT and not arg.strip():
            ctx.no_answer(f"usage: {name} {NEEDS_ARGUMENT[name]}")
        else:
            COMMANDS[name](ctx, arg.strip())
        return True
    if len(text) > MAX_TURN_CHARS:
        ctx.no_answer(f"[red]error:[/] the message has {len(text)} characters; the limit is "
                      f"{MAX_TURN_CHARS}. Nothing was sent.")
        return True
    stream_turn(ctx, text)
    return True
