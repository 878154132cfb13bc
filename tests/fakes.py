"""Scripted chat models for unit tests: no network, no weights."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, Field


class ScriptedChatModel(GenericFakeChatModel):
    """Replays scripted replies in order and records every call's messages and kwargs."""

    calls: list[dict[str, Any]] = []

    @classmethod
    def from_replies(cls, replies: Sequence[str | AIMessage | Exception]) -> ScriptedChatModel:
        """A model that answers with ``replies`` in order; an Exception reply is raised."""
        return cls(messages=iter(list(replies)), calls=[])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append({"messages": list(messages), "kwargs": dict(kwargs)})
        reply = next(self.messages)  # type: ignore[call-overload]
        if isinstance(reply, Exception):
            raise reply
        message = reply if isinstance(reply, AIMessage) else AIMessage(content=reply)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self

    def with_structured_output(self, schema: type[BaseModel], **kwargs: Any) -> Any:
        from langchain_core.runnables import RunnableLambda

        def parse(message: AIMessage) -> BaseModel:
            return schema.model_validate(message.tool_calls[0]["args"])

        return self | RunnableLambda(parse)


class FunctionChatModel(BaseChatModel):
    """Answers each call with ``respond(messages)``; thread-safe, records calls.

    LangGraph runs ``Send`` branches on threads, so graph tests need a fake whose
    reply depends on what it was asked, not on call order.
    """

    respond: Callable[[list[BaseMessage]], str | Exception]
    name_: str = "fake"
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    call_kwargs: list[dict[str, Any]] = Field(default_factory=list)  # each call's options
    lock: Any = Field(default_factory=threading.Lock)

    model_config = {"arbitrary_types_allowed": True}

    @property
    def _llm_type(self) -> str:
        return "function-fake"

    @property
    def model_name(self) -> str:
        return self.name_

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self.lock:
            self.calls.append(list(messages))
            self.call_kwargs.append(dict(kwargs))
        reply = self.respond(list(messages))
        if isinstance(reply, Exception):
            raise reply
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])


class StreamingChatModel(BaseChatModel):
    """Streams ``reply`` word by word; raises ``fail_with`` after ``fail_after`` words.

    ``on_word(i)`` runs before word ``i`` is streamed; ``streamed`` records, per stream,
    how many words it had yielded when it ended (ran out, or was closed early).
    """

    reply: str = "hello there"
    fail_after: int | None = None
    fail_with: Any = None
    on_word: Any = None
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    streamed: list[int] = Field(default_factory=list)

    model_config = {"arbitrary_types_allowed": True}

    @property
    def _llm_type(self) -> str:
        return "streaming-fake"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        text = "".join(c.text for c in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Any:
        from langchain_core.messages import AIMessageChunk
        from langchain_core.outputs import ChatGenerationChunk

        self.seen.append(list(messages))
        yielded = 0
        try:
            for i, word in enumerate(self.reply.split(" ")):
                if self.fail_after is not None and i >= self.fail_after:
                    raise self.fail_with
                if self.on_word is not None:
                    self.on_word(i)
                chunk = ChatGenerationChunk(
                    message=AIMessageChunk(content=(" " if i else "") + word))
                if run_manager:
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
                yielded += 1
        finally:
            self.streamed.append(yielded)


class LogprobChatModel(FunctionChatModel):
    """A ``FunctionChatModel`` that, when a call asks for ``logprobs``, also returns
    ``tops(messages)`` (token -> log-probability at each reply position) in OpenAI's
    ``response_metadata["logprobs"]`` format."""

    tops: Callable[[list[BaseMessage]], list[dict[str, float]]]

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        result = super()._generate(messages, stop, run_manager, **kwargs)
        if kwargs.get("logprobs"):
            content = [{"token": max(row, key=row.__getitem__), "logprob": max(row.values()),
                        "top_logprobs": [{"token": t, "logprob": v} for t, v in row.items()]}
                       for row in self.tops(list(messages))]
            result.generations[0].message.response_metadata["logprobs"] = {"content": content}
        return result
