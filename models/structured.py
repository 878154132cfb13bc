"""Pydantic objects from any chat model, even a 135M one.

Order of defences: the backend's native JSON-schema constraint (llama.cpp
grammar, Ollama ``format``); then parsing that tolerates fences, chatter,
trailing commas, control characters and truncation; then a bounded retry that
shows the model its error. A reply that still fails raises
``StructuredOutputError``, which graph nodes catch; it never crashes a graph.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError

from neuroforge.models.backends import invoke_model, model_identity
from neuroforge.models.embedded import EmbeddedChatModel, grammar_schema

__all__ = [
    "StructuredOutputError",
    "StructuredReply",
    "extract_json",
    "invoke_structured",
    "native_constraint",
    "schema_instructions",
    "structured_reply",
]

T = TypeVar("T", bound=BaseModel)


class StructuredOutputError(ValueError):
    """The model gave no valid object within the attempt bound."""

    def __init__(self, schema: str, model: str, attempts: int, last_reply: str, error: str):
        super().__init__(
            f"{model} gave no valid {schema} in {attempts} attempt(s): {error}; "
            f"last reply: {last_reply[:200]!r}"
        )
        self.schema, self.model, self.attempts = schema, model, attempts
        self.last_reply, self.error = last_reply, error


@dataclass(frozen=True)
class StructuredReply(Generic[T]):
    """A parsed object plus how hard it was to get."""

    value: T
    attempts: int
    repaired: bool
    raw: str
    seconds: float
    output_tokens: int


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _balanced_object(text: str) -> tuple[str, bool]:
    """The first ``{...}`` in ``text``; closes it when the text was cut short.

    Returns (candidate, was_truncated).
    """
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in the reply")
    stack: list[str] = []
    in_string = escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            stack.append("}" if char == "{" else "]")
        elif char in "}]":
            if not stack or stack.pop() != char:
                raise ValueError(f"mismatched {char!r} at offset {index}")
            if not stack:
                return text[start : index + 1], False
    # Cut short (max_tokens): close the open string, drop a dangling key or comma, close brackets.
    candidate = text[start:]
    if escaped:
        candidate = candidate[:-1]
    if in_string:
        candidate += '"'
    candidate = re.sub(r',\s*"[^"]*"\s*:?\s*$', "", candidate)
    candidate = re.sub(r"[,:]\s*$", "", candidate)
    return candidate + "".join(reversed(stack)), True


def extract_json(text: str) -> tuple[Any, bool]:
    """Parse the JSON object a model meant to write. Returns (object, repaired)."""
    body = text.strip()
    fenced = _FENCE.search(body)
    repaired = False
    if fenced:
        body, repaired = fenced.group(1), True
    candidate, truncated = _balanced_object(body)
    repaired = repaired or truncated or candidate.strip() != body.strip()
    for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            # strict=False accepts raw control characters inside strings.
            return json.loads(attempt, strict=False), repaired or attempt is not candidate
        except json.JSONDecodeError as exc:
            error = exc
    raise ValueError(f"invalid JSON: {error.msg} at offset {error.pos}")


def _describe(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> str:
    if "$ref" in schema:
        schema = defs.get(schema["$ref"].split("/")[-1], {})
    kind = schema.get("type")
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if kind == "array":
        return f"list of {_describe(schema.get('items', {}), defs, depth)}"
    if kind == "object" and depth < 2:
        fields = ", ".join(
            f'"{key}": {_describe(sub, defs, depth + 1)}'
            for key, sub in schema.get("properties", {}).items()
        )
        return "{" + fields + "}"
    if "anyOf" in schema:
        return " or ".join(_describe(s, defs, depth) for s in schema["anyOf"])
    return str(kind or "value")


def schema_instructions(schema: type[BaseModel]) -> str:
    """A compact system instruction naming the fields the reply must have."""
    json_schema = schema.model_json_schema()
    defs = json_schema.get("$defs", {})
    lines = [f"Reply with one JSON object only, no other text: {_describe(json_schema, defs)}"]
    for key, sub in json_schema.get("properties", {}).items():
        if sub.get("description"):
            lines.append(f'- "{key}": {sub["description"]}')
    return "\n".join(lines)


def native_constraint(model: BaseChatModel, json_schema: dict[str, Any]) -> dict[str, Any]:
    """Call arguments that make ``model``'s backend hold its reply to ``json_schema``
    (llama.cpp grammar, Ollama ``format``, an OpenAI-compatible ``response_format``);
    empty where the backend has none."""
    if isinstance(model, EmbeddedChatModel):
        return {"response_schema": json_schema}
    try:
        from langchain_ollama import ChatOllama
    except ImportError:  # pragma: no cover
        return {}
    if isinstance(model, ChatOllama):
        return {"format": json_schema}
    # An OpenAI-compatible server: the standard json_schema format, or llama.cpp's
    # json_object-with-schema; the backend recorded which in the model's metadata.
    wanted = (model.metadata or {}).get("response_format")
    if wanted == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {
            "name": "reply", "schema": json_schema}}}
    if wanted == "json_object":  # llama.cpp's server compiles it as the embedded model does
        return {"response_format": {"type": "json_object", "schema": grammar_schema(json_schema)}}
    return {}


def structured_reply(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema: type[T],
    *,
    max_attempts: int = 3,
) -> StructuredReply[T]:
    """Ask ``model`` for a ``schema`` object; see the module docstring for the defences.

    Raises ``StructuredOutputError`` after ``max_attempts`` invalid replies and
    ``neuroforge.models.backends.ModelError`` when the backend itself fails (not retried here).
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    json_schema = schema.model_json_schema()
    kwargs = native_constraint(model, json_schema)
    conversation: list[BaseMessage] = [SystemMessage(schema_instructions(schema)), *messages]
    started, raw, error, tokens = time.perf_counter(), "", "", 0
    for attempt in range(1, max_attempts + 1):
        reply = invoke_model(model, conversation, **kwargs)
        raw = reply.text
        tokens += reply.usage_metadata["output_tokens"] if reply.usage_metadata else 0
        try:
            data, repaired = extract_json(raw)
            value = schema.model_validate(data)
            return StructuredReply(
                value, attempt, repaired, raw, time.perf_counter() - started, tokens
            )
        except (ValueError, ValidationError) as exc:
            error = _short_error(exc)
        if reply.response_metadata.get("finish_reason") == "length" and "response_schema" in kwargs:
            kwargs["max_tokens"] = min(2 * getattr(model, "max_tokens", 512), 2048)
        conversation = [
            *conversation,
            AIMessage(raw[:1000]),
            HumanMessage(f"That reply was not valid ({error}). Reply again with only the JSON."),
        ]
    raise StructuredOutputError(
        schema.__name__, model_identity(model)[0], max_attempts, raw, error
    )


def _short_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "object"
        return f"{where}: {first['msg']}"
    return str(exc)


def invoke_structured(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema: type[T],
    *,
    max_attempts: int = 3,
) -> T:
    """The ``schema`` object alone; same errors as ``structured_reply``."""
    return structured_reply(model, messages, schema, max_attempts=max_attempts).value
