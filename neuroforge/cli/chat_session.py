"""One chat session in the shell: what it holds, and one turn streamed to the terminal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from neuroforge.cli.common import stop_on_interrupt
from neuroforge.settings import Settings

__all__ = ["ChatContext", "stream_turn"]


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
    stop: threading.Event  # the graph's ChatDeps.stop: Ctrl-C sets it to end the answer
    interactive: bool = False
    turns: int = 0
    unanswered: int = 0  # lines refused or failed (``no_answer``): a script's exit status
    earlier_turns: int | None = None  # None: a new session; else the turns of its visits
    system: str | None = None  # sent with every turn; the graph keeps it for the session
    commands: dict[str, Callable[[ChatContext, str], None]] = field(default_factory=dict)

    def no_answer(self, why: str) -> None:
        """Say why a line got no answer (refused, or its command or answer failed), and
        count it: a piped session's exit status says whether every line was answered."""
        self.info.print(why, highlight=False)
        self.unanswered += 1

    @property
    def config(self) -> dict[str, Any]:
        """The LangGraph config: one thread per session."""
        return {"configurable": {"thread_id": f"chat-{self.session_id}"}}


def stream_turn(ctx: ChatContext, text: str) -> dict[str, Any]:
    """Send one user message and print the answer as it streams; returns the new state.

    Ctrl-C during the turn sets the graph's stop event: the answer ends at its next
    chunk, the partial answer is kept, and the session goes on. A second Ctrl-C is the
    default one again.
    """
    from langchain_core.messages import HumanMessage

    from neuroforge.graphs.chat import STOPPED

    inputs: dict[str, Any] = {"messages": [HumanMessage(text)], "session_id": ctx.session_id,
                              "model": ctx.model}
    if ctx.system is not None:
        inputs["system"] = ctx.system
    ctx.turns += 1
    ctx.stop.clear()
    # The graph finishes the turn itself rather than being torn down by KeyboardInterrupt:
    # closing a LangGraph stream waits for the answer to run to its end, and an exception
    # landing inside the executor's locks could hang the session for good.
    with stop_on_interrupt(ctx.stop, raise_first=False):
        said = _print_stream(ctx, inputs)
    ctx.out("\n")
    values = dict(ctx.graph.get_state(ctx.config).values)
    if values.get("error") == STOPPED:
        ctx.info.print("[yellow]stopped[/] (the partial answer is kept)" if said else
                       "[yellow]stopped[/] before the answer began")
    elif values.get("error"):
        ctx.no_answer(f"[red]the answer failed:[/] {values['error']} (the session goes on)")
    return values


def _print_stream(ctx: ChatContext, inputs: dict[str, Any]) -> bool:
    """Run the turn, printing the answer's chunks; returns whether any text was printed."""
    from langchain_core.messages import AIMessageChunk

    said = False
    # A person sees that something is happening until the first token arrives. A plain
    # line, erased later: a live spinner's thread got in the way of Ctrl-C mid-turn.
    thinking = _show(ctx) if ctx.interactive else False
    for mode, payload in ctx.graph.stream(inputs, ctx.config,
                                          stream_mode=["messages", "updates"]):
        if mode == "messages":
            chunk, meta = payload
            if meta.get("langgraph_node") == "answer" and isinstance(chunk, AIMessageChunk):
                if not said and ctx.interactive:
                    thinking = _stop(ctx, thinking)
                    ctx.out("ai> ")
                said = True
                ctx.out(chunk.text)
        elif "route" in payload and payload["route"] and ctx.interactive:
            route = payload["route"]["route"]  # for a person; scripts get answers only
            thinking = _stop(ctx, thinking)
            ctx.info.print(f"[dim]-> {route.get('model') or 'default'}: "
                           f"{route.get('reason', '')}[/]", highlight=False)
            thinking = _show(ctx) if not said else False
    _stop(ctx, thinking)
    return said


_THINKING = "thinking ..."


def _show(ctx: ChatContext) -> bool:
    ctx.info.file.write(_THINKING)
    ctx.info.file.flush()
    return True


def _stop(ctx: ChatContext, thinking: bool) -> bool:
    """Erase the thinking line if it is shown; returns that it no longer is."""
    if thinking:
        ctx.info.file.write("\r" + " " * len(_THINKING) + "\r")
        ctx.info.file.flush()
    return False
