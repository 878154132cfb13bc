"""The chat graph: recall -> route -> condense -> answer -> remember, one turn per run.

Messages live in graph state, so a checkpointer (SQLite in the CLI) keeps a session
across restarts by ``thread_id``. ``condense`` keeps the model's input inside its
context window (recent turns verbatim, older ones folded into a running summary);
``answer`` streams, and a backend that fails mid-answer leaves the partial answer and
the error in state instead of losing the turn. Setting ``ChatDeps.stop`` ends the answer
at its next chunk the same way: the turn finishes as a normal run (checkpointed, the
user's facts remembered), only shorter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any, NotRequired

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from neuroforge.agents.chat import answer_context, summarize_turns
from neuroforge.memory.buffer import split_for_context
from neuroforge.memory.long_term import LongTermMemory, MemoryError_, NewMemory
from neuroforge.memory.salience import salient_facts
from neuroforge.models.backends import ModelError, as_model_error
from neuroforge.models.structured import StructuredOutputError

__all__ = ["MAX_TURN_CHARS", "STOPPED", "ChatDeps", "ChatInput", "ChatState",
           "create_chat_graph", "approx_tokens"]

MAX_TURN_CHARS = 8000
STOPPED = "stopped by the user"  # the turn's ``error`` when ``ChatDeps.stop`` ended it


def approx_tokens(text: str) -> int:
    """A conservative token estimate (3 characters a token) that needs no tokenizer."""
    return len(text) // 3 + 1


class ChatInput(TypedDict):
    """One turn: the new user message, the session and optionally a forced model."""

    messages: Annotated[list[AnyMessage], add_messages]
    session_id: NotRequired[str]
    model: NotRequired[str | None]
    system: NotRequired[str | None]  # the session's system prompt; kept once given


class ChatState(ChatInput):
    """A session's state; per-turn keys are overwritten each turn."""

    summary: NotRequired[str]
    folded: NotRequired[int]
    window_start: NotRequired[int]
    recalled: NotRequired[list[dict[str, Any]]]
    route: NotRequired[dict[str, Any]]
    remembered: NotRequired[list[str]]
    notes: NotRequired[list[str]]
    error: NotRequired[str | None]


@dataclass
class ChatDeps:
    """Models, routing and memory for the chat graph.

    ``chat_model(name)`` builds the answering model (``None``: the chat role's default);
    ``route(task)`` returns a routing decision dict with ``model`` and ``reason``;
    ``options()`` lists available models, so routing is skipped when there is one.
    ``stop``, once set (from any thread), ends the answer in flight at its next chunk
    with the partial text kept; whoever sets it clears it before the next turn.
    """

    chat_model: Callable[[str | None], BaseChatModel]
    memory: LongTermMemory | None = None
    route: Callable[[str], dict[str, Any]] | None = None
    options: Callable[[], list[dict[str, Any]]] | None = None
    summarizer: BaseChatModel | None = None
    context_tokens: int = 1024
    count_tokens: Callable[[str], int] = approx_tokens
    recall_k: int = 3
    min_similarity: float = 0.3
    stop: threading.Event = field(default_factory=threading.Event)


def _last_user_text(state: ChatState) -> str:
    for message in reversed(state.get("messages", [])):
        if isinstance(message, HumanMessage):
            return message.text
    return ""


def recall(state: ChatState, deps: ChatDeps) -> dict[str, Any]:
    text = _last_user_text(state)
    if not text.strip():
        raise ValueError("the message is empty; type something to say")
    if len(text) > MAX_TURN_CHARS:
        raise ValueError(f"the message has {len(text)} characters; the limit is "
                         f"{MAX_TURN_CHARS}")
    reset: dict[str, Any] = {"error": None, "notes": [], "remembered": [], "recalled": []}
    if deps.memory is None:
        return reset
    try:
        found = deps.memory.recall(text, deps.recall_k, kind="fact",
                                   min_similarity=deps.min_similarity)
    except MemoryError_ as exc:
        return {**reset, "notes": [f"recall failed: {exc}"]}
    return {**reset, "recalled": [m.as_dict() | {"provenance": m.provenance()}
                                  for m in found]}


def route(state: ChatState, deps: ChatDeps) -> dict[str, Any]:
    return {"route": _route(deps, state)}


def condense(state: ChatState, deps: ChatDeps) -> dict[str, Any]:
    messages = state["messages"]
    window = split_for_context(messages, state.get("folded", 0), deps.context_tokens,
                               deps.count_tokens)
    start = len(messages) - len(window.recent)
    update: dict[str, Any] = {"window_start": start}
    if window.to_fold:
        summary, method = summarize_turns(deps.summarizer, state.get("summary", ""),
                                          window.to_fold)
        update |= {"summary": summary, "folded": start,
                   "notes": [*state.get("notes", []),
                             f"folded {len(window.to_fold)} older message(s) ({method})"]}
    return update


def answer(state: ChatState, deps: ChatDeps) -> dict[str, Any]:
    return _answer(deps, state)


def remember(state: ChatState, deps: ChatDeps) -> dict[str, Any]:
    facts = salient_facts(_last_user_text(state))
    if deps.memory is None or not facts:
        return {"remembered": []}
    try:
        stored = deps.memory.remember_many(
            [NewMemory(f, "fact", state.get("session_id"), {"source": "chat"})
             for f in facts])
    except MemoryError_ as exc:
        return {"notes": [*state.get("notes", []), f"not remembered: {exc}"]}
    return {"remembered": [m.id for m, _merged in stored]}


def create_chat_graph(deps: ChatDeps) -> StateGraph:
    """The chat graph, uncompiled. Compile with a checkpointer to keep sessions."""
    graph = StateGraph(ChatState, input_schema=ChatInput)
    graph.add_sequence([(node.__name__, partial(node, deps=deps))
                        for node in (recall, route, condense, answer, remember)])
    graph.add_edge(START, "recall")
    graph.add_edge("remember", END)
    return graph


def _route(deps: ChatDeps, state: ChatState) -> dict[str, Any]:
    """The model for this turn: forced, the only one available, or the routing graph's pick."""
    forced = state.get("model")
    if forced:
        return {"model": forced, "reason": "chosen by the user"}
    options = deps.options() if deps.options else []
    if len(options) == 1:
        return {"model": options[0]["name"], "reason": "the only model available"}
    if deps.route is None or not options:
        return {"model": None, "reason": "default chat model (no routing)"}
    try:
        decision = deps.route(_last_user_text(state))
    except (ModelError, StructuredOutputError, ValueError) as exc:
        return {"model": None, "reason": f"default chat model (routing failed: {exc})"}
    return {"model": decision["model"], "reason": decision.get("reason", "routed")}


def _answer(deps: ChatDeps, state: ChatState) -> dict[str, Any]:
    """Stream the reply; on a backend failure keep what was said and report the error."""
    route = state.get("route") or {}
    recent = state["messages"][state.get("window_start", 0):]
    context = answer_context(recent, state.get("summary", ""), state.get("recalled", []),
                             system=state.get("system"))
    model: BaseChatModel | None = None
    parts: list[str] = []
    started = time.perf_counter()
    error: str | None = None
    try:
        model = deps.chat_model(route.get("model"))
        if not _stream_until_stopped(model, context, deps.stop, parts):
            error = STOPPED
    except Exception as exc:
        typed = as_model_error(exc, model) if model is not None else None
        if typed is None and not isinstance(exc, ModelError | ValueError):
            raise
        error = str(typed or exc)
    text = "".join(parts).strip()
    meta = {"model": route.get("model") or "default", "seconds":
            round(time.perf_counter() - started, 3)}
    if error:
        meta["error"] = "stopped" if error == STOPPED else error
        text = text or ("[stopped before answering]" if error == STOPPED
                        else "[no answer: the model failed]")
    return {"messages": [AIMessage(content=text, response_metadata=meta)], "error": error}


def _stream_until_stopped(model: BaseChatModel, context: list[Any], stop: threading.Event,
                          parts: list[str]) -> bool:
    """Append the answer's chunks to ``parts``; False when ``stop`` ended it early."""
    if stop.is_set():
        return False
    # closing(): leaving early ends the model's stream now, so a backend that holds a lock
    # while it streams (the embedded model) lets go of it before the next turn.
    with closing(model.stream(context)) as chunks:  # type: ignore[type-var]
        for chunk in chunks:
            parts.append(chunk.text)  # already streamed to the caller, so it is kept
            if stop.is_set():
                return False
    return True
