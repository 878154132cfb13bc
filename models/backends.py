"""Chat-model factory: a registry name in, a LangChain chat model out.

Backends are pluggable (``BACKENDS``): Ollama through ``ChatOllama`` for
production, the embedded llama.cpp model offline. ``backend="auto"`` uses Ollama
when its API answers within the probe timeout, otherwise the embedded model, and
``choose_backend`` says which and why.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import SecretStr

from neuroforge.knowledge.redaction import mask_secrets, mask_url
from neuroforge.models.embedded import (
    EMBEDDED_MODEL_NAME,
    EmbeddedChatModel,
    EmbeddedModelMissingError,
    default_gguf_path,
)
from neuroforge.models.ollama_api import OllamaUnreachableError, list_ollama_models, ollama_version
from neuroforge.models.quantized_copy import Quantization

__all__ = [
    "BACKENDS",
    "BackendChoice",
    "ChatBackend",
    "LLMConfig",
    "ModelError",
    "ModelNotFoundError",
    "ModelReplyError",
    "ModelRef",
    "ModelTimeoutError",
    "ModelUnavailableError",
    "as_model_error",
    "choose_backend",
    "create_chat_model",
    "invoke_model",
    "model_identity",
    "resolve_model",
]

BackendName = Literal["ollama", "embedded", "openai"]


@dataclass(frozen=True)
class LLMConfig:
    """What the factory needs to know; built from ``neuroforge.settings.Settings``."""

    backend: Literal["auto", "ollama", "embedded"] = "auto"
    ollama_base_url: str = "http://localhost:11434"
    ollama_headers: dict[str, str] = field(default_factory=dict)
    ollama_timeout_s: float = 120.0
    probe_timeout_s: float = 1.0
    default_model: str | None = None
    embedded_model_path: str | None = None
    embedded_n_ctx: int = 2048
    embedded_n_threads: int = 2
    embedded_prefix_cache_mb: int = 1024
    # Applied to the bundled file only: a GGUF the user names runs as it is.
    embedded_quantization: Quantization = "bundled"
    embedded_copy_dir: str | None = None
    max_tokens: int = 512
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    openai_response_format: str = "json_schema"


@dataclass(frozen=True)
class BackendChoice:
    """The backend in force and the reason it was chosen (credentials masked)."""

    backend: BackendName
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", mask_secrets(self.reason))


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: its name, backend and where it lives (URL or file)."""

    name: str
    backend: BackendName
    location: str


class ModelError(RuntimeError):
    """A model call failed in a way the caller can handle; names the model and where it lives."""

    def __init__(self, model: str, location: str, reason: str, *, transient: bool = False
                 ) -> None:
        location, reason = mask_url(location), mask_secrets(reason)
        super().__init__(f"model {model!r} at {location}: {reason}")
        self.model, self.location, self.reason = model, location, reason
        self.transient = transient  # worth one more try: a 5xx or a garbled reply


class ModelUnavailableError(ModelError):
    """The model's backend is down or refused the call; fall back or retry later."""


class ModelReplyError(ModelUnavailableError):
    """The backend answered, but not with a usable reply (garbage, wrong types)."""


class ModelNotFoundError(ModelUnavailableError):
    """The backend answers but does not have this model."""


class ModelTimeoutError(ModelUnavailableError):
    """The backend took longer than the configured timeout."""


_PROBE_CACHE: dict[tuple[str, float], tuple[float, BackendChoice]] = {}
_PROBE_TTL_S = 30.0


def choose_backend(config: LLMConfig) -> BackendChoice:
    """Which backend serves models now. ``auto`` probes Ollama (cached for 30 s)."""
    if config.backend == "embedded":
        return BackendChoice("embedded", "backend=embedded is configured")
    if config.backend == "ollama":
        return BackendChoice("ollama", f"backend=ollama is configured ({config.ollama_base_url})")
    key = (config.ollama_base_url, config.probe_timeout_s)
    cached = _PROBE_CACHE.get(key)
    if cached and time.monotonic() - cached[0] < _PROBE_TTL_S:
        return cached[1]
    try:
        version = ollama_version(
            config.ollama_base_url, config.probe_timeout_s, config.ollama_headers or None
        )
        choice = BackendChoice(
            "ollama", f"Ollama {version} answered at {config.ollama_base_url}"
        )
    except OllamaUnreachableError as exc:
        choice = BackendChoice("embedded", f"{exc}; using the embedded {EMBEDDED_MODEL_NAME}")
    _PROBE_CACHE[key] = (time.monotonic(), choice)
    return choice


def _embedded_ref(config: LLMConfig) -> ModelRef:
    path = config.embedded_model_path or str(default_gguf_path())
    return ModelRef(EMBEDDED_MODEL_NAME, "embedded", path)


def resolve_model(name: str | None, config: LLMConfig) -> ModelRef:
    """Turn a registry name (or ``None`` for the default) into a ``ModelRef``.

    ``embedded`` / ``smollm2-135m`` name the embedded model; ``ollama:NAME`` forces
    Ollama; any other name is an Ollama model.
    """
    wanted = (name or config.default_model or "").strip()
    if wanted in ("embedded", EMBEDDED_MODEL_NAME):
        return _embedded_ref(config)
    if wanted.startswith("openai:"):
        if not config.openai_base_url:
            raise ModelNotFoundError(wanted, "no OpenAI-compatible server",
                                     "set NEUROFORGE_OPENAI_BASE_URL (e.g. http://host:8000/v1)")
        if not wanted.removeprefix("openai:"):
            raise ValueError("'openai:' needs a model name after the colon, e.g. openai:gpt-4o")
        return ModelRef(wanted, "openai", config.openai_base_url)
    if wanted.startswith("ollama:"):
        wanted = wanted.removeprefix("ollama:")
        if not wanted:
            raise ValueError("'ollama:' needs a model name after the colon, e.g. ollama:llama3.2")
        return ModelRef(wanted, "ollama", config.ollama_base_url)
    choice = choose_backend(config)
    if not wanted or wanted == "auto":
        if choice.backend == "embedded":
            return _embedded_ref(config)
        try:
            installed = list_ollama_models(config.ollama_base_url, 5.0,
                                           config.ollama_headers or None)
        except OllamaUnreachableError as exc:
            # A configured Ollama that is down is a model failure the commands report in
            # one line, as they do when a named Ollama model cannot be reached.
            raise ModelUnavailableError(
                "(default)", exc.url, f"Ollama is not reachable ({exc.reason}); start it, or set "
                "NEUROFORGE_BACKEND=auto to use the embedded model when it is down") from None
        if not installed:
            raise ModelNotFoundError(
                "(default)", config.ollama_base_url, "Ollama has no models; run `ollama pull NAME`"
            )
        return ModelRef(installed[0].name, "ollama", config.ollama_base_url)
    if config.backend == "embedded":
        raise ModelNotFoundError(
            wanted,
            "embedded backend",
            "only the embedded model is available with backend=embedded; "
            "set NEUROFORGE_BACKEND=auto or ollama to use Ollama models",
        )
    return ModelRef(wanted, "ollama", config.ollama_base_url)


class ChatBackend(ABC):
    """Builds chat models for one kind of model server."""

    @abstractmethod
    def create(
        self, ref: ModelRef, config: LLMConfig, temperature: float, max_tokens: int
    ) -> BaseChatModel:
        """A chat model for ``ref``."""


class OllamaBackend(ChatBackend):
    """Ollama through ``langchain-ollama``."""

    def create(
        self, ref: ModelRef, config: LLMConfig, temperature: float, max_tokens: int
    ) -> BaseChatModel:
        from langchain_ollama import ChatOllama

        return ChatOllama(
            model=ref.name,
            base_url=ref.location,
            temperature=temperature,
            num_predict=max_tokens,
            client_kwargs={"timeout": config.ollama_timeout_s, "headers": config.ollama_headers},
        )


class EmbeddedBackend(ChatBackend):
    """The in-process llama.cpp model."""

    def create(
        self, ref: ModelRef, config: LLMConfig, temperature: float, max_tokens: int
    ) -> BaseChatModel:
        return EmbeddedChatModel(
            model_path=ref.location,
            n_ctx=config.embedded_n_ctx,
            n_threads=config.embedded_n_threads,
            prefix_cache_mb=config.embedded_prefix_cache_mb,
            temperature=temperature,
            max_tokens=max_tokens,
            quantization=("bundled" if config.embedded_model_path
                          else config.embedded_quantization),
            copy_dir=config.embedded_copy_dir,
        )


class OpenAIBackend(ChatBackend):
    """Any OpenAI-compatible server through ``langchain-openai``'s ``ChatOpenAI``."""

    def create(
        self, ref: ModelRef, config: LLMConfig, temperature: float, max_tokens: int
    ) -> BaseChatModel:
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=ref.name.removeprefix("openai:"), base_url=ref.location,
            api_key=SecretStr(config.openai_api_key or "not-needed"),
            temperature=temperature, max_completion_tokens=max_tokens,
            timeout=config.ollama_timeout_s, max_retries=0,  # invoke_model retries
            metadata={"response_format": config.openai_response_format,
                      "registry_name": ref.name},
        )


BACKENDS: dict[str, ChatBackend] = {"ollama": OllamaBackend(), "embedded": EmbeddedBackend(),
                                    "openai": OpenAIBackend()}


def create_chat_model(
    name: str | None,
    config: LLMConfig,
    *,
    temperature: float = 0.7,
    max_tokens: int | None = None,
) -> BaseChatModel:
    """A chat model for registry name ``name`` (``None``: the default model)."""
    ref = resolve_model(name, config)
    return BACKENDS[ref.backend].create(ref, config, temperature, max_tokens or config.max_tokens)


def model_identity(model: BaseChatModel) -> tuple[str, str]:
    """(name, location) of a chat model, for error messages and records."""
    if isinstance(model, EmbeddedChatModel):
        if model.quantization != "bundled":
            return model.model_name, f"{model.model_path} (run as {model.quantization})"
        return model.model_name, model.model_path
    registry = (getattr(model, "metadata", None) or {}).get("registry_name")
    name = registry or getattr(model, "model", None) or getattr(model, "model_name", None)
    location = (getattr(model, "base_url", None) or getattr(model, "openai_api_base", None)
                or "in-process")
    return str(name or type(model).__name__), str(location)


def as_model_error(exc: BaseException, model: BaseChatModel) -> ModelError | None:
    """The typed ``ModelError`` for a backend failure; ``None`` when ``exc`` is something else."""
    import httpx

    name, location = model_identity(model)
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, httpx.TimeoutException):
        return ModelTimeoutError(name, location, f"no reply in time ({type(exc).__name__})")
    if isinstance(exc, httpx.HTTPError | ConnectionError):
        return ModelUnavailableError(name, location, f"cannot connect ({exc})")
    if isinstance(exc, EmbeddedModelMissingError):
        return ModelUnavailableError(name, location, str(exc))
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError | pydantic.ValidationError):
        # Raised inside the client while reading the reply: the backend sent garbage or
        # fields of the wrong type. Our own structured parsing happens after invoke.
        detail = " ".join(str(exc).split())[:160]
        return ModelReplyError(name, location, f"answered with an unusable reply "
                                               f"({type(exc).__name__}: {detail})",
                               transient=True)
    openai_error = _openai_error(exc, name, location)
    if openai_error is not None:
        return openai_error
    try:
        from ollama import ResponseError
    except ImportError:  # pragma: no cover - langchain-ollama always brings ollama
        return None
    if isinstance(exc, ResponseError):
        if exc.status_code == 404:
            return ModelNotFoundError(
                name, location, f"not installed on this Ollama host ({exc.error}); "
                f"run `ollama pull {name}`"
            )
        return ModelUnavailableError(name, location, f"HTTP {exc.status_code}: {exc.error}",
                                     transient=exc.status_code >= 500)
    return None


RESPONSE_FORMAT_HINT = (
    "; the server refused how structured replies were asked for: set "
    "NEUROFORGE_OPENAI_RESPONSE_FORMAT=json_object (llama.cpp's server) or none")


def _openai_error(exc: BaseException, name: str, location: str) -> ModelError | None:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return ModelTimeoutError(name, location, "no reply in time")
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailableError(name, location, f"cannot connect ({exc})")
    if isinstance(exc, openai.APIStatusError):
        message = " ".join(str(exc.message).split())
        reason = f"HTTP {exc.status_code}: {message[:200]}"
        if exc.status_code == 404:
            return ModelNotFoundError(name, location, reason)
        if "response_format" in message:  # the same request fails again: say what to set
            return ModelUnavailableError(name, location, reason + RESPONSE_FORMAT_HINT)
        return ModelUnavailableError(name, location, reason, transient=exc.status_code >= 500)
    return None


TRANSIENT_ATTEMPTS = 3  # a 5xx or garbled reply is tried at most this often
TRANSIENT_BACKOFF_S = 0.25  # then 0.5 s: a busy server gets a moment, a user no long wait


def invoke_model(model: BaseChatModel, messages: Sequence[BaseMessage], **kwargs: Any) -> AIMessage:
    """``model.invoke`` with backend failures turned into ``ModelError``s.

    Transient failures (HTTP 5xx, a garbled reply) are retried up to
    ``TRANSIENT_ATTEMPTS`` times with backoff; a refused connection, a missing model or
    a timeout is not (retrying a hang would only multiply the wait).
    """
    for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
        try:
            reply = model.invoke(list(messages), **kwargs)
        except Exception as exc:
            typed = as_model_error(exc, model)
            if typed is None:
                raise
            if typed.transient and attempt < TRANSIENT_ATTEMPTS:
                time.sleep(TRANSIENT_BACKOFF_S * 2 ** (attempt - 1))
                continue
            raise typed from exc
        assert isinstance(reply, AIMessage)
        return reply
    raise AssertionError("unreachable: the loop returns or raises")
