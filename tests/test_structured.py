from typing import Literal

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, Field

from neuroforge.models.backends import ModelUnavailableError
from neuroforge.models.structured import (
    StructuredOutputError,
    extract_json,
    invoke_structured,
    schema_instructions,
    structured_reply,
)
from tests.fakes import ScriptedChatModel


class Verdict(BaseModel):
    decision: Literal["accept", "reject"]
    score: float = Field(ge=0, le=10, description="quality from 0 to 10")
    reasons: list[str] = Field(default_factory=list)


ASK = [HumanMessage("Judge this prompt.")]


@pytest.mark.parametrize(
    "reply",
    [
        '{"decision": "accept", "score": 7}',
        'Sure! Here it is:\n```json\n{"decision": "accept", "score": 7}\n```',
        'The answer is {"decision": "accept", "score": 7,} as requested.',
        '{"decision": "accept", "score": 7, "reasons": ["line one\nline two"]}',
        '{"decision": "accept", "score": 7, "reasons": ["clear", "spec',  # cut by max_tokens
    ],
)
def test_replies_that_small_models_give_are_repaired(reply: str) -> None:
    model = ScriptedChatModel.from_replies([reply])
    result = structured_reply(model, ASK, Verdict)
    assert result.value.decision == "accept" and result.value.score == 7
    assert result.attempts == 1


def test_invalid_reply_is_retried_with_the_error_shown() -> None:
    model = ScriptedChatModel.from_replies(
        ['{"decision": "maybe", "score": 5}', '{"decision": "reject", "score": 2}']
    )
    result = structured_reply(model, ASK, Verdict)
    assert result.value.decision == "reject" and result.attempts == 2
    feedback = model.calls[1]["messages"][-1].content
    assert "decision" in feedback and "not valid" in feedback


def test_garbage_every_time_raises_a_typed_error_after_the_bound() -> None:
    model = ScriptedChatModel.from_replies(["I think it's good!"] * 5)
    with pytest.raises(StructuredOutputError) as info:
        invoke_structured(model, ASK, Verdict, max_attempts=3)
    assert info.value.attempts == 3 and len(model.calls) == 3
    assert "no JSON object" in info.value.error


def test_backend_failure_is_not_retried() -> None:
    down = ModelUnavailableError("llama3.2", "http://x:11434", "cannot connect")
    model = ScriptedChatModel.from_replies([down])
    with pytest.raises(ModelUnavailableError):
        invoke_structured(model, ASK, Verdict)
    assert len(model.calls) == 1


def test_instructions_name_fields_enums_and_descriptions() -> None:
    text = schema_instructions(Verdict)
    assert '"accept" | "reject"' in text and "quality from 0 to 10" in text


@pytest.mark.parametrize("text", ["", "no braces here", "{]", '{"a": }'])
def test_extract_json_rejects_non_json(text: str) -> None:
    with pytest.raises(ValueError):
        extract_json(text)


def test_llama_cpps_server_gets_the_schema_its_grammar_compiler_accepts() -> None:
    """json_object (llama.cpp's server) compiles the schema into a grammar as the embedded
    model does, and a long string bound there failed the compile and took the server down;
    json_schema servers (vLLM, OpenAI) get the schema as it is."""
    from neuroforge.agents.schemas import RewriteReply
    from neuroforge.models.structured import native_constraint

    schema = RewriteReply.model_json_schema()
    assert schema["properties"]["prompt"]["maxLength"] == 1500
    llama = ScriptedChatModel.from_replies([])
    llama.metadata = {"response_format": "json_object"}
    held = native_constraint(llama, schema)["response_format"]["schema"]
    assert held["properties"]["prompt"]["maxLength"] == 500
    llama.metadata = {"response_format": "json_schema"}
    assert native_constraint(llama, schema)["response_format"]["json_schema"]["schema"] == schema
