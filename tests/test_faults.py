"""A backend that answers garbage or wrong types: one line, a failed run, a non-zero exit."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from neuroforge.cli import app
from neuroforge.knowledge import records
from neuroforge.settings import load_settings
from neuroforge.wiring import open_store

runner = CliRunner()
TAGS = {"models": [{"name": "junk:1b", "model": "junk:1b", "size": 1, "digest": "x",
                    "modified_at": "2024-01-01T00:00:00Z",
                    "details": {"parameter_size": "1B", "family": "x", "format": "gguf",
                                "quantization_level": "Q4"}}]}
REPLIES = {"garbage": "this is not json {{{",
           "wrong types": json.dumps({"model": "junk:1b", "message": 5, "done": "maybe"})}


def _server(reply: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def _send(self, body: str) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self._send(json.dumps({"version": "0.5.0"} if "version" in self.path else TAGS))

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._send(reply + "\n")

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture(params=sorted(REPLIES))
def broken_ollama(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
                  ) -> Iterator[str]:
    server = _server(REPLIES[request.param])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://admin:hunter2@127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("NEUROFORGE_OLLAMA_BASE_URL", url)
    monkeypatch.setenv("NEUROFORGE_BACKEND", "ollama")
    monkeypatch.setenv("NEUROFORGE_DEFAULT_MODEL", "junk:1b")
    yield request.param
    server.shutdown()


def test_garbage_from_the_backend_fails_the_run_with_one_line(broken_ollama: str) -> None:
    result = runner.invoke(app, ["optimize", "Say hi to the user.", "--generations", "1",
                                 "--budget", "40"])
    said = " ".join(result.output.split())  # the console wraps long lines
    assert result.exit_code == 1, said
    assert "Traceback" not in said and "hunter2" not in said
    assert "answered with an unusable reply" in said
    assert "model 'junk:1b' at http://admin:***@127.0.0.1" in said
    assert "error: the run failed" in said
    with open_store(load_settings()).session() as session:
        runs = records.recent_runs(session, 5)
    assert [r["status"] if isinstance(r, dict) else r.status for r in runs] == ["failed"]


@pytest.mark.parametrize("args", [["runs"], ["lineage", "abc"], ["models", "list"],
                                  ["experiment", "list"], ["memory", "search", "x"],
                                  ["router", "train", "--from-records"]])
@pytest.mark.parametrize("url", ["postgresql+psycopg://nf:hunter2@127.0.0.1:1/nf",
                                 "sqlite:////proc/no-such-dir/store.db"])
def test_a_store_that_cannot_be_opened_is_one_line(args: list[str], url: str,
                                                   isolated_env) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "NEUROFORGE_DATABASE_URL": url, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-m", "neuroforge", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (1, 2), done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr + done.stdout
    assert "cannot" in done.stderr and len(done.stderr.strip().splitlines()) <= 3


class _Flaky:
    """An Ollama chat endpoint that answers 500 ``failures`` times, then properly."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                flaky.calls += 1
                ok = flaky.calls > flaky.failures
                body = (json.dumps({"model": "junk:1b", "created_at": "2026-01-01T00:00:00Z",
                                    "message": {"role": "assistant", "content": "fine"},
                                    "done": True, "done_reason": "stop"}) if ok
                        else json.dumps({"error": "overloaded"}))
                data = (body + "\n").encode()
                self.send_response(200 if ok else 500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.mark.parametrize(("failures", "answers"), [(2, True), (3, False)])
def test_transient_failures_are_retried_within_a_bound(failures: int, answers: bool) -> None:
    from langchain_core.messages import HumanMessage

    from neuroforge.models.backends import LLMConfig, ModelError, create_chat_model, invoke_model

    flaky = _Flaky(failures)
    model = create_chat_model("junk:1b", LLMConfig(backend="ollama", ollama_base_url=flaky.url))
    try:
        if answers:
            assert invoke_model(model, [HumanMessage("hi")]).text == "fine"
        else:
            with pytest.raises(ModelError, match="HTTP 500: overloaded"):
                invoke_model(model, [HumanMessage("hi")])
        assert flaky.calls == 3  # never more than three tries
    finally:
        flaky.server.shutdown()
