"""Integration tests on the real embedded SmolLM2-135M model (llama.cpp, in-process)."""

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from langchain_core.messages import HumanMessage
from typer.testing import CliRunner

from neuroforge.cli import app
from neuroforge.models.backends import LLMConfig, create_chat_model
from neuroforge.models.embedded import EmbeddedChatModel
from neuroforge.models.probes import PROBES
from neuroforge.models.structured import structured_reply
from tests.conftest import closed_port_url

pytestmark = pytest.mark.embedded


@pytest.fixture
def model() -> EmbeddedChatModel:
    made = create_chat_model(
        None, LLMConfig(ollama_base_url=closed_port_url()), temperature=0.2, max_tokens=64
    )
    assert isinstance(made, EmbeddedChatModel)
    return made


def test_generates_and_streams_text(model: EmbeddedChatModel) -> None:
    reply = model.invoke([HumanMessage("What is the capital of France?")])
    assert reply.text.strip()
    assert reply.usage_metadata and reply.usage_metadata["output_tokens"] > 0
    chunks = [c.text for c in model.stream([HumanMessage("Name a colour.")])]
    assert len([c for c in chunks if c]) > 1


def test_grammar_makes_every_probe_valid(model: EmbeddedChatModel) -> None:
    # One probe of each of the ten kinds: the llama.cpp grammar must keep all of them valid.
    probes = [PROBES[kind * 5] for kind in range(10)]
    for probe in probes:
        reply = structured_reply(model, [HumanMessage(probe.prompt)], probe.schema)
        assert isinstance(reply.value, probe.schema)


def test_parallel_calls_share_one_model_safely(model: EmbeddedChatModel) -> None:
    # LangGraph runs Send branches on threads; the shared llama.cpp context must not be raced.
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda q: model.invoke(q).text, ["Hi", "Hello", "Hey", "Yo"]))
    assert all(isinstance(r, str) for r in replies)


# A fresh process, so the first load really happens on four threads at once.
_PARALLEL_FIRST_LOAD = textwrap.dedent("""
    import sys, threading
    from langchain_core.messages import HumanMessage
    from neuroforge.models.backends import LLMConfig, create_chat_model
    model = create_chat_model(None, LLMConfig(ollama_base_url=sys.argv[1]),
                              temperature=0.2, max_tokens=8)
    print("before")
    start = threading.Barrier(4)
    def call():
        start.wait()
        model.invoke([HumanMessage("Hi")])
        print("thread done")
    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("after", sys.stdout is sys.__stdout__)
""")


def test_parallel_first_load_keeps_the_programs_stdout() -> None:
    # llama-cpp-python's own silencer dup2()s fd 1 onto /dev/null, racily across threads;
    # an example once lost all its output that way.
    done = subprocess.run([sys.executable, "-c", _PARALLEL_FIRST_LOAD, closed_port_url()],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["before"] + ["thread", "done"] * 4 + ["after", "True"]


def test_overlong_prompt_gets_a_clear_error(model: EmbeddedChatModel) -> None:
    with pytest.raises(ValueError, match="exceeds the embedded model's context"):
        model.invoke("word " * 5000)


def test_token_count_uses_the_model_tokenizer(model: EmbeddedChatModel) -> None:
    assert 1 <= model.get_num_tokens("hello world") <= 4


def test_cli_profile_and_doctor_on_the_embedded_model() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["models", "profile", "embedded", "--probes", "5", "--json"])
    assert result.exit_code == 0, result.output
    [profile] = json.loads(result.output)["profiles"]
    assert profile["model"] == "smollm2-135m" and profile["probes"] == 5
    assert profile["structured_valid_rate"] == 1.0 and profile["tokens_per_s"] > 0
    doctor = runner.invoke(app, ["doctor", "--json"])
    checks = {c["name"]: c["status"] for c in json.loads(doctor.output)["checks"]}
    assert checks["embedded model"] == "ok" and checks["embedding model"] == "ok"
    assert checks["database"] == "ok" and checks["chroma"] == "ok"
    assert checks["ollama"] == "warn"  # down here, and the embedded model covers for it
    assert doctor.exit_code == 0


def test_next_token_logprobs_reads_the_answers_first_token_past_a_prefix(
        model: EmbeddedChatModel) -> None:
    """One forward pass: the top 20 tokens with their log-probabilities, the greedy reply's
    first token among the likeliest, and a given prefix moving the distribution on."""
    import math

    from neuroforge.models.next_token import next_token_logprobs

    question = [HumanMessage("Is the sky blue? Answer True or False.")]
    tops = next_token_logprobs(model, question)
    assert len(tops) <= 20 and all(v <= 0 for v in tops.values())
    assert 0.2 < sum(math.exp(v) for v in tops.values()) <= 1.0 + 1e-6
    greedy = model.invoke(question, temperature=0.0, max_tokens=1).text
    assert greedy and max(tops, key=tops.__getitem__).strip() == greedy.strip()
    after = next_token_logprobs(model, question, "The answer is")
    assert after != tops
    # The model's own reply path still works after the raw forward passes.
    assert model.invoke(question, max_tokens=8).text.strip()
