"""Turns ``Settings`` into the plain values the lower layers take.

Lower layers never import ``neuroforge``; this module is where settings meet them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuroforge.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from agents.llm import LLMConfig
    from graphs.chat import ChatDeps
    from graphs.optimize import OptimizeDeps
    from graphs.route import RouteDeps
    from knowledge.db import Database
    from knowledge.registry import Discovery
    from memory.long_term import LongTermMemory
    from tools.router.router import Router

__all__ = [
    "chat_deps",
    "chat_model_for_role",
    "checkpointer",
    "discover",
    "embedded_identity",
    "llm_config",
    "load_router",
    "long_term_memory",
    "model_factory",
    "open_store",
    "optimize_deps",
    "route_deps",
    "route_options",
    "router_path",
]


def llm_config(settings: Settings) -> LLMConfig:
    """The model factory's configuration."""
    from agents.llm import LLMConfig

    headers = {}
    if settings.ollama_api_key is not None:
        headers["Authorization"] = f"Bearer {settings.ollama_api_key.get_secret_value()}"
    return LLMConfig(
        backend=settings.backend,
        ollama_base_url=settings.ollama_base_url,
        ollama_headers=headers,
        ollama_timeout_s=settings.ollama_timeout_s,
        probe_timeout_s=settings.ollama_probe_timeout_s,
        default_model=settings.default_model,
        embedded_model_path=str(settings.embedded_model_path)
        if settings.embedded_model_path
        else None,
        embedded_n_ctx=settings.embedded_n_ctx,
        embedded_n_threads=settings.embedded_n_threads,
        max_tokens=settings.budgets.max_tokens,
    )


def open_store(settings: Settings) -> Database:
    """The knowledge store at the configured URL, upgraded to the current schema."""
    from knowledge.db import open_database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return open_database(settings.effective_database_url)


def embedded_identity(settings: Settings) -> tuple[str, str]:
    """(name, GGUF path) of the embedded model."""
    from agents.embedded import EMBEDDED_MODEL_NAME, default_gguf_path

    path = settings.embedded_model_path or default_gguf_path()
    return EMBEDDED_MODEL_NAME, str(path)


def chat_model_for_role(settings: Settings, role: str, name: str | None = None) -> BaseChatModel:
    """The chat model configured for ``role`` (or ``name``), at the role's temperature."""
    from agents.llm import create_chat_model

    return create_chat_model(
        name or settings.model_for(role),
        llm_config(settings),
        temperature=settings.temperature_for(role),
    )


def model_factory(settings: Settings) -> Callable[[str, float | None], BaseChatModel]:
    """``(role, temperature) -> chat model`` for graph nodes; models are built once per pair."""
    from agents.llm import create_chat_model

    config = llm_config(settings)
    built: dict[tuple[str, float], BaseChatModel] = {}

    def model_for(role: str, temperature: float | None = None) -> BaseChatModel:
        key = (role, settings.temperature_for(role) if temperature is None else temperature)
        if key not in built:
            built[key] = create_chat_model(settings.model_for(role), config, temperature=key[1])
        return built[key]

    return model_for


def optimize_deps(settings: Settings, store: Database | None = None,
                  memory: LongTermMemory | None = None) -> OptimizeDeps:
    """Everything the optimize graph needs, from settings."""
    from graphs.optimize import OptimizeDeps

    store = store or open_store(settings)
    return OptimizeDeps(model_for=model_factory(settings), store=store,
                        memory=memory or long_term_memory(settings, store),
                        attempts=settings.budgets.structured_attempts)


@contextmanager
def checkpointer(settings: Settings) -> Iterator[BaseCheckpointSaver[Any]]:
    """The SQLite checkpointer under the data directory (resumable runs and sessions)."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(settings.checkpoint_path, check_same_thread=False)
    try:
        saver = SqliteSaver(connection)
        saver.setup()
        yield saver
    finally:
        connection.close()


def router_path(settings: Settings) -> Path:
    """Where the adopted router's weights live."""
    return settings.router_dir / "router.pt"


def discover(settings: Settings) -> Discovery:
    """Models available now: the embedded one and, unless backend=embedded, Ollama's."""
    from knowledge.registry import discover_models

    headers = llm_config(settings).ollama_headers or None
    ollama_url = None if settings.backend == "embedded" else settings.ollama_base_url
    return discover_models(ollama_url, embedded_identity(settings),
                           timeout_s=max(settings.ollama_probe_timeout_s, 1.0), headers=headers)


def route_options(settings: Settings) -> list[dict[str, Any]]:
    """Available registry models with size, cost (log size scaled to 0-1) and profile figures."""
    import math

    from knowledge.registry import list_models, sync_models
    from tools.router.router import parameter_count

    with open_store(settings).session() as session:
        sync_models(session, discover(settings))
        models = [m for m in list_models(session) if m.available]
    options: list[dict[str, Any]] = []
    for m in models:
        label = m.details.get("parameter_size") or m.name
        params = parameter_count(label)
        profile = m.profile or {}
        options.append({"name": m.name, "parameters": params,
                        "parameters_label": m.details.get("parameter_size") or (
                            f"{params / 1e6:.0f}M" if params else None),
                        "latency_p50_ms": profile.get("latency_p50_ms"),
                        "structured_valid_rate": profile.get("structured_valid_rate")})
    sizes = [math.log10(float(o["parameters"])) for o in options if o["parameters"]]
    low, high = (min(sizes), max(sizes)) if sizes else (0.0, 0.0)
    for o in options:
        size = math.log10(float(o["parameters"])) if o["parameters"] else None
        o["cost"] = 0.5 if size is None or high == low else round((size - low) / (high - low), 4)
    return options


def load_router(settings: Settings) -> tuple[Router, str | None]:
    """The adopted neural router, or the rule-based one with the reason it is used."""
    from neuroforge.autopilot_cli import router_threshold
    from tools.router.net import RouterFileError
    from tools.router.router import NeuralRouter, RuleRouter

    try:
        return NeuralRouter.from_file(router_path(settings),
                                      threshold=router_threshold(settings)), None
    except RouterFileError as exc:
        return RuleRouter(), str(exc)


def route_deps(settings: Settings, store: Database | None = None,
               memory: LongTermMemory | None = None) -> RouteDeps:
    """Everything the route graph needs, from settings."""
    from agents.llm import create_chat_model
    from graphs.route import RouteDeps

    config = llm_config(settings)
    router, _why = load_router(settings)
    store = store or open_store(settings)
    return RouteDeps(memory=memory or long_term_memory(settings, store),
        model_for=model_factory(settings),
        run_model=lambda name: create_chat_model(name, config,
                                                 temperature=settings.temperature_for("chat")),
        options=lambda: route_options(settings), router=router,
        store=store, attempts=settings.budgets.structured_attempts)


def long_term_memory(settings: Settings, store: Database | None = None) -> LongTermMemory:
    """Chroma long-term memory (local directory or server) mirrored in the knowledge store."""
    from memory.long_term import open_long_term

    return open_long_term(store or open_store(settings), settings.chroma_dir,
                          settings.chroma_url)


def chat_deps(settings: Settings, store: Database | None = None,
              memory: LongTermMemory | None = None) -> ChatDeps:
    """Everything the chat graph needs: answering model, routing graph, memory."""
    from agents.llm import create_chat_model
    from graphs.chat import ChatDeps
    from graphs.route import create_route_graph

    config = llm_config(settings)
    store = store or open_store(settings)
    memory = memory or long_term_memory(settings, store)
    route_graph = create_route_graph(route_deps(settings, store, memory)).compile()
    temperature = settings.temperature_for("chat")

    def chat_model(name: str | None) -> BaseChatModel:
        return create_chat_model(name or settings.model_for("chat"), config,
                                 temperature=temperature)

    # The answer's history budget: the context less the reply and the system prompt.
    context = max(256, settings.embedded_n_ctx - settings.budgets.max_tokens - 384)
    return ChatDeps(
        chat_model=chat_model, memory=memory,
        route=lambda task: dict(route_graph.invoke({"task": task})["decision"]),
        options=lambda: route_options(settings),
        summarizer=create_chat_model(settings.model_for("chat"), config, temperature=0.0),
        context_tokens=context)
