import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from neuroforge.models.backends import (
    LLMConfig,
    ModelNotFoundError,
    ModelTimeoutError,
    ModelUnavailableError,
    choose_backend,
    create_chat_model,
    invoke_model,
    resolve_model,
)
from neuroforge.models.embedded import EMBEDDED_MODEL_NAME, EmbeddedChatModel
from neuroforge.models.ollama_api import OllamaUnreachableError, list_ollama_models, ollama_version
from neuroforge.models.structured import invoke_structured
from tests.conftest import closed_port_url
from tests.ollama_replay import OllamaReplay


def test_auto_falls_back_to_embedded_and_says_why() -> None:
    url = closed_port_url()
    choice = choose_backend(LLMConfig(ollama_base_url=url))
    assert choice.backend == "embedded"
    assert url in choice.reason and EMBEDDED_MODEL_NAME in choice.reason
    model = create_chat_model(None, LLMConfig(ollama_base_url=url))
    assert isinstance(model, EmbeddedChatModel)


def test_auto_uses_ollama_when_it_answers(ollama: OllamaReplay) -> None:
    config = LLMConfig(ollama_base_url=ollama.url)
    choice = choose_backend(config)
    assert choice.backend == "ollama" and "0.12.6" in choice.reason
    # No default model set: the first installed one.
    assert resolve_model(None, config).name == "llama3.2:3b"


def test_model_names_resolve_to_backends(ollama: OllamaReplay) -> None:
    config = LLMConfig(ollama_base_url=ollama.url)
    assert resolve_model("embedded", config).backend == "embedded"
    assert resolve_model(EMBEDDED_MODEL_NAME, config).backend == "embedded"
    assert resolve_model("ollama:qwen2.5:0.5b", config).name == "qwen2.5:0.5b"
    with pytest.raises(ValueError, match="needs a model name"):
        resolve_model("ollama:", config)
    with pytest.raises(ModelNotFoundError, match="backend=embedded"):
        resolve_model("llama3.2:3b", LLMConfig(backend="embedded"))


def test_ollama_chat_streams_from_recorded_exchange(ollama: OllamaReplay) -> None:
    model = create_chat_model("llama3.2:3b", LLMConfig(ollama_base_url=ollama.url))
    reply = invoke_model(model, [HumanMessage("Say hello")])
    assert reply.content == "Hello there!"
    assert reply.usage_metadata and reply.usage_metadata["output_tokens"] == 4
    chunks = [c.text for c in model.stream([HumanMessage("Say hello")])]
    assert "".join(chunks) == "Hello there!" and len([c for c in chunks if c]) == 3
    sent = ollama.requests[-1]["body"]
    assert sent["model"] == "llama3.2:3b" and sent["messages"][0]["content"] == "Say hello"


def test_structured_output_sends_the_schema_as_ollama_format(ollama: OllamaReplay) -> None:
    class Sentiment(BaseModel):
        label: str
        confidence: float

    model = create_chat_model("llama3.2:3b", LLMConfig(ollama_base_url=ollama.url))
    value = invoke_structured(model, [HumanMessage("I love it")], Sentiment)
    assert value == Sentiment(label="positive", confidence=0.93)
    sent_format = ollama.requests[-1]["body"]["format"]
    assert sent_format["properties"].keys() == {"label", "confidence"}


def test_missing_ollama_model_names_model_url_and_fix(ollama: OllamaReplay) -> None:
    model = create_chat_model("missing-model", LLMConfig(ollama_base_url=ollama.url))
    with pytest.raises(ModelNotFoundError) as info:
        invoke_model(model, [HumanMessage("hi")])
    message = str(info.value)
    assert "missing-model" in message and ollama.url in message and "ollama pull" in message


def test_slow_ollama_raises_timeout(ollama: OllamaReplay) -> None:
    config = LLMConfig(ollama_base_url=ollama.url, ollama_timeout_s=0.5)
    model = create_chat_model("qwen2.5:0.5b", config)
    with pytest.raises(ModelTimeoutError, match="qwen2.5:0.5b"):
        invoke_model(model, [HumanMessage("hi")])


def test_ollama_down_raises_unavailable_with_url() -> None:
    url = closed_port_url()
    model = create_chat_model("llama3.2:3b", LLMConfig(backend="ollama", ollama_base_url=url))
    with pytest.raises(ModelUnavailableError) as info:
        invoke_model(model, [HumanMessage("hi")])
    assert url in str(info.value) and "llama3.2:3b" in str(info.value)


def test_the_default_model_of_a_configured_ollama_that_is_down_is_a_model_error() -> None:
    """backend=ollama with no model named lists Ollama's models to pick one: a server that
    is down is a ``ModelUnavailableError`` the commands print in one line, not the
    registry's ``OllamaUnreachableError``."""
    url = closed_port_url()
    with pytest.raises(ModelUnavailableError, match="Ollama is not reachable") as info:
        create_chat_model(None, LLMConfig(backend="ollama", ollama_base_url=url))
    assert url in str(info.value) and "NEUROFORGE_BACKEND=auto" in str(info.value)


def test_registry_endpoints_against_recording(ollama: OllamaReplay) -> None:
    assert ollama_version(ollama.url) == "0.12.6"
    models = list_ollama_models(ollama.url)
    assert [m.name for m in models] == ["llama3.2:3b", "qwen2.5:0.5b"]
    assert models[0].details["parameter_size"] == "3.2B"
    with pytest.raises(OllamaUnreachableError, match="Connection refused|ConnectError"):
        ollama_version(closed_port_url())


def test_api_key_is_sent_as_bearer_header(ollama: OllamaReplay) -> None:
    config = LLMConfig(ollama_base_url=ollama.url, ollama_headers={"Authorization": "Bearer k"})
    invoke_model(create_chat_model("llama3.2:3b", config), [HumanMessage("hi")])
    headers = {k.lower(): v for k, v in ollama.requests[-1]["headers"].items()}
    assert headers.get("authorization") == "Bearer k"


def test_ollama_next_token_logprobs_are_read_past_the_labels_prefix(ollama: OllamaReplay
                                                                    ) -> None:
    from neuroforge.models.next_token import next_token_logprobs

    model = create_chat_model("llama3.2:3b", LLMConfig(ollama_base_url=ollama.url),
                              temperature=0.0)
    tops = next_token_logprobs(model, [HumanMessage("Which option? (A) or (B)")], "(")
    assert tops == {"B": -0.4155, "A": -1.3862, "C": -2.9957, "D": -4.1997}
    sent = ollama.requests[-1]["body"]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 20
    assert sent["options"]["temperature"] == 0.0
