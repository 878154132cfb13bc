"""OpenAI-compatible servers: llama.cpp's real server on loopback, serving the bundled GGUF."""

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel
from typer.testing import CliRunner

from neuroforge.cli import app
from neuroforge.models.backends import LLMConfig, ModelError, create_chat_model
from neuroforge.models.embedded import default_gguf_path
from neuroforge.models.structured import structured_reply
from tests.conftest import closed_port_url

pytestmark = pytest.mark.server
runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("wb")
    # A file, not a pipe: llama.cpp logs a lot, and a full pipe would stall the server.
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf_path()),
         "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "2048", "--n_threads", "2"],
        stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"llama_cpp.server did not start; see {log.name}")
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()


@pytest.fixture
def use_server(server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("NEUROFORGE_OPENAI_BASE_URL", server)
    monkeypatch.setenv("NEUROFORGE_OPENAI_RESPONSE_FORMAT", "json_object")  # llama.cpp's
    return server


class Colour(BaseModel):
    colour: str
    confidence: float


def test_models_list_shows_the_servers_models(use_server: str) -> None:
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = {m["name"]: m for m in json.loads(result.stdout)["models"]}
    assert listed["openai:smollm2"]["backend"] == "openai"


def test_chat_and_structured_replies_go_through_the_server(use_server: str) -> None:
    chat = runner.invoke(app, ["chat", "--model", "openai:smollm2"],
                         input="Name one colour.\n")
    assert chat.exit_code == 0 and chat.stdout.strip(), chat.output
    config = LLMConfig(openai_base_url=use_server, openai_response_format="json_object")
    model = create_chat_model("openai:smollm2", config, temperature=0.0, max_tokens=64)
    reply = structured_reply(model, [HumanMessage("Name a colour of the sky.")], Colour)
    assert isinstance(reply.value, Colour) and reply.value.colour


def test_optimize_runs_on_the_server(use_server: str, monkeypatch: pytest.MonkeyPatch
                                     ) -> None:
    monkeypatch.setenv("NEUROFORGE_DEFAULT_MODEL", "openai:smollm2")
    result = runner.invoke(app, ["optimize", "Write about dogs.", "--generations", "1",
                                 "--population", "2", "--voters", "1", "--debate-rounds", "0",
                                 "--budget", "40", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["calls_used"] > 5 and summary["stop_reason"] == "generation limit"
    assert summary["judge"] == "openai:smollm2"  # the server's model, not the embedded one


def test_route_execute_runs_the_task_on_the_server(use_server: str) -> None:
    result = runner.invoke(app, ["route", "What is 2 + 2?", "--execute",
                                 "--models", "openai:smollm2", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["decision"]["model"] == "openai:smollm2" and out["answer"].strip()
    assert any(e.startswith("options: openai:smollm2") for e in out["events"])
    unknown = runner.invoke(app, ["route", "What is 2 + 2?", "--models", "openai:nope"])
    assert unknown.exit_code == 2 and "not an available model: openai:nope" in unknown.output


def test_a_server_that_is_down_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROFORGE_OPENAI_BASE_URL", closed_port_url() + "/v1")
    config = LLMConfig(openai_base_url=closed_port_url() + "/v1")
    with pytest.raises(ModelError, match="cannot connect"):
        from neuroforge.models.backends import invoke_model

        invoke_model(create_chat_model("openai:x", config), [HumanMessage("hi")])
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0 and "Traceback" not in listed.output
    assert "note:" in listed.output and "127.0.0.1" in listed.output  # the server is named
    missing = runner.invoke(app, ["chat", "--model", "openai:x"], input="hi\n")
    assert "Traceback" not in missing.output


def test_a_response_format_the_server_refuses_says_what_to_set(use_server: str) -> None:
    """llama.cpp's server answers json_schema with HTTP 500: retrying cannot help, and
    the message names the setting that does."""
    config = LLMConfig(openai_base_url=use_server, openai_response_format="json_schema")
    model = create_chat_model("openai:smollm2", config, temperature=0.0, max_tokens=32)
    with pytest.raises(ModelError, match="NEUROFORGE_OPENAI_RESPONSE_FORMAT=json_object") \
            as refused:
        structured_reply(model, [HumanMessage("Name a colour of the sky.")], Colour)
    assert not refused.value.transient


def test_next_token_logprobs_come_from_the_server(use_server: str) -> None:
    """The server's greedy reply with top_logprobs: the distribution at the reply's first
    token (its own top token among them), and past a prefix the reply starts with."""
    from neuroforge.models.next_token import next_token_logprobs

    config = LLMConfig(openai_base_url=use_server)
    model = create_chat_model("openai:smollm2", config, temperature=0.0, max_tokens=64)
    question = [HumanMessage("Is the sky blue? Answer True or False.")]
    tops = next_token_logprobs(model, question)
    assert 1 < len(tops) <= 20 and all(v <= 0 for v in tops.values())
    first = max(tops, key=tops.__getitem__)
    assert model.invoke(question, stop=["\n"]).text.startswith(first)
    assert next_token_logprobs(model, question, first) != tops
