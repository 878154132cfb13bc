"""Builds every graph's dependencies from ``Settings``, for the CLI and Studio alike.

Lower layers never import the shell; this module is where settings meet them.
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

    from neuroforge.graphs.autopilot import ActionHandler, AutopilotDeps
    from neuroforge.graphs.chat import ChatDeps
    from neuroforge.graphs.experiment import ExperimentDeps
    from neuroforge.graphs.optimize import OptimizeDeps
    from neuroforge.graphs.route import RouteDeps
    from neuroforge.knowledge.db import Database
    from neuroforge.knowledge.registry import Discovery
    from neuroforge.memory.long_term import LongTermMemory
    from neuroforge.models.backends import LLMConfig
    from neuroforge.tools.router.router import Router

__all__ = [
    "autopilot_deps", "autopilot_handlers", "chat_deps", "chat_model_for_role", "checkpointer",
    "discover", "embedded_identity", "experiment_deps", "llm_config", "load_router",
    "long_term_memory", "model_factory", "open_store", "optimize_deps", "overrides_path",
    "route_deps", "route_options", "router_path",
]


def llm_config(settings: Settings) -> LLMConfig:
    """The model factory's configuration."""
    from neuroforge.models.backends import LLMConfig

    headers, gguf, key = {}, settings.embedded_model_path, settings.openai_api_key
    if settings.ollama_api_key is not None:
        headers["Authorization"] = f"Bearer {settings.ollama_api_key.get_secret_value()}"
    return LLMConfig(
        backend=settings.backend, ollama_base_url=settings.ollama_base_url,
        ollama_headers=headers, ollama_timeout_s=settings.ollama_timeout_s,
        probe_timeout_s=settings.ollama_probe_timeout_s, default_model=settings.default_model,
        embedded_model_path=str(gguf) if gguf else None, embedded_n_ctx=settings.embedded_n_ctx,
        embedded_n_threads=settings.embedded_n_threads,
        embedded_prefix_cache_mb=settings.embedded_prefix_cache_mb,
        embedded_quantization=settings.embedded_quantization,
        embedded_copy_dir=str(settings.data_dir / "models"),
        max_tokens=settings.budgets.max_tokens,
        openai_base_url=settings.openai_base_url,
        openai_api_key=key.get_secret_value() if key else None,
        openai_response_format=settings.openai_response_format,
    )


def open_store(settings: Settings) -> Database:
    """The knowledge store at the configured URL, upgraded to the current schema; one
    engine per URL and process (``process_cache``)."""
    from neuroforge.knowledge.db import open_database, private_dir
    from neuroforge.process_cache import shared_store

    url = settings.effective_database_url

    def open_new() -> Database:
        private_dir(settings.data_dir)
        return open_database(url)

    return shared_store(url, open_new)


def embedded_identity(settings: Settings) -> tuple[str, str]:
    """(name, GGUF path) of the embedded model."""
    from neuroforge.models.embedded import EMBEDDED_MODEL_NAME, default_gguf_path

    path = settings.embedded_model_path or default_gguf_path()
    return EMBEDDED_MODEL_NAME, str(path)


def chat_model_for_role(settings: Settings, role: str, name: str | None = None) -> BaseChatModel:
    """The chat model configured for ``role`` (or ``name``), at the role's temperature."""
    from neuroforge.models.backends import create_chat_model

    return create_chat_model(
        name or settings.model_for(role),
        llm_config(settings),
        temperature=settings.temperature_for(role),
    )


def model_factory(settings: Settings) -> Callable[[str, float | None], BaseChatModel]:
    """``(role, temperature) -> chat model`` for graph nodes; models are built once per pair."""
    from neuroforge.models.backends import create_chat_model

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
    from neuroforge.graphs.optimize import OptimizeDeps

    store = store or open_store(settings)
    return OptimizeDeps(model_for=model_factory(settings), store=store,
                        memory=memory or long_term_memory(settings, store),
                        attempts=settings.budgets.structured_attempts)


@contextmanager
def checkpointer(settings: Settings) -> Iterator[BaseCheckpointSaver[Any]]:
    """The LangGraph checkpointer (resumable runs and chat sessions): PostgreSQL when the
    store is (or ``checkpoint_url`` names) a PostgreSQL database, so a run started on one
    host resumes on another; else a SQLite file under the data directory."""
    from neuroforge.knowledge.checkpoints import postgres_checkpointer, sqlite_checkpointer

    url = settings.effective_checkpoint_url
    saver = (postgres_checkpointer(url) if url is not None
             else sqlite_checkpointer(Path(settings.checkpoint_path)))
    with saver as ready:
        yield ready


def router_path(settings: Settings) -> Path:
    """Where the adopted router's weights live."""
    return settings.router_dir / "router.pt"


def overrides_path(settings: Settings) -> Path:
    """Settings the autopilot changed (versioned by its actions), as JSON."""
    return settings.data_dir / "autopilot.json"


def discover(settings: Settings) -> Discovery:
    """Models available now: the embedded one and, unless backend=embedded, Ollama's."""
    return _discover(settings)[0]


def _discover(settings: Settings, ttl_s: float = 0.0) -> tuple[Discovery, bool]:
    """(discovery, fresh): reused for ``ttl_s`` seconds within this process."""
    from neuroforge.models.discovery import discover_models
    from neuroforge.process_cache import recent_discovery

    config, embedded = llm_config(settings), embedded_identity(settings)
    headers, openai = config.ollama_headers or None, (config.openai_base_url,
                                                      config.openai_api_key)
    url, wait = (None if settings.backend == "embedded" else settings.ollama_base_url,
                 max(settings.ollama_probe_timeout_s, 1.0))
    return recent_discovery((url, embedded, tuple(sorted((headers or {}).items())), openai),
                            ttl_s, lambda: discover_models(url, embedded, headers=headers,
                                                           timeout_s=wait, openai=openai))


def route_options(settings: Settings) -> list[dict[str, Any]]:
    """Available registry models as routing options (size, cost 0-1, profile figures).
    Discovery is reused for ``DISCOVERY_TTL_S``; the models table is written only when
    it was refreshed, so routing many tasks in one process costs one probe a window."""
    from neuroforge.knowledge.registry import list_models, sync_models
    from neuroforge.process_cache import DISCOVERY_TTL_S
    from neuroforge.tools.router.router import route_options as options_from_models

    discovery, fresh = _discover(settings, DISCOVERY_TTL_S)
    with open_store(settings).session() as session:
        if fresh:
            sync_models(session, discovery)
        return options_from_models(list_models(session))


def load_router(settings: Settings) -> tuple[Router, str | None]:
    """The adopted neural router, or the rule-based one with the reason it is used."""
    from neuroforge.knowledge.overrides import router_threshold
    from neuroforge.tools.router.net import RouterFileError
    from neuroforge.tools.router.router import NeuralRouter, RuleRouter

    try:
        return NeuralRouter.from_file(router_path(settings),
                                      threshold=router_threshold(overrides_path(settings))), None
    except RouterFileError as exc:
        return RuleRouter(), str(exc)


def route_deps(settings: Settings, store: Database | None = None,
               memory: LongTermMemory | None = None) -> RouteDeps:
    """Everything the route graph needs, from settings."""
    from neuroforge.graphs.route import RouteDeps
    from neuroforge.models.backends import create_chat_model

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
    from neuroforge.memory.long_term import open_long_term

    return open_long_term(store or open_store(settings), settings.chroma_dir,
                          settings.chroma_url)


def chat_deps(settings: Settings, store: Database | None = None,
              memory: LongTermMemory | None = None) -> ChatDeps:
    """Everything the chat graph needs: answering model, routing graph, memory."""
    from neuroforge.graphs.chat import ChatDeps
    from neuroforge.graphs.route import create_route_graph
    from neuroforge.models.backends import create_chat_model

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


def experiment_deps(settings: Settings, store: Database) -> ExperimentDeps:
    """Models by name (built once per name, temperature and length) and the judge."""
    import threading

    from neuroforge.graphs.experiment import ExperimentDeps
    from neuroforge.models.backends import create_chat_model

    config = llm_config(settings)
    built: dict[tuple[str | None, float, int], BaseChatModel] = {}
    lock = threading.Lock()  # cells ask concurrently; build each model once

    def model_for_name(name: str, temperature: float, max_tokens: int) -> BaseChatModel:
        with lock:
            key = (name, temperature, max_tokens)
            if key not in built:
                built[key] = create_chat_model(name, config, temperature=temperature,
                                               max_tokens=max_tokens)
            return built[key]

    def judge_for_name(name: str | None) -> BaseChatModel:
        with lock:
            key = (name, -1.0, -1)  # judges share the cache under a key no cell can have
            if key not in built:
                built[key] = chat_model_for_role(settings, "validator", name)
            return built[key]

    return ExperimentDeps(store=store, model_for_name=model_for_name,
                          judge_for_name=judge_for_name,
                          attempts=settings.budgets.structured_attempts)


def autopilot_handlers(settings: Settings, store: Database) -> dict[str, ActionHandler]:
    """The autopilot's action handlers, on this installation's files and store."""
    from neuroforge.graphs.autopilot_handlers import default_handlers

    return default_handlers(store, router_path(settings), overrides_path(settings),
                            lambda: optimize_deps(settings, store),
                            settings.budgets.max_model_calls)


def autopilot_deps(settings: Settings, store: Database | None = None) -> AutopilotDeps:
    """Everything the autopilot graph needs, from settings."""
    from neuroforge.graphs.autopilot import AutopilotDeps
    from neuroforge.knowledge.overrides import router_threshold

    store = store or open_store(settings)
    return AutopilotDeps(
        store=store, model_for=model_factory(settings),
        handlers=autopilot_handlers(settings, store),
        threshold=lambda: router_threshold(overrides_path(settings)),
        attempts=settings.budgets.structured_attempts)
