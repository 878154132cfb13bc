"""Serve recorded Ollama API exchanges over real HTTP on a free loopback port."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CASSETTES = Path(__file__).parent / "cassettes"


class OllamaReplay:
    """A replaying Ollama server; ``requests`` records what clients sent."""

    def __init__(self, cassette: str = "ollama.json") -> None:
        self.interactions: list[dict[str, Any]] = json.loads(
            (CASSETTES / cassette).read_text()
        )["interactions"]
        self.requests: list[dict[str, Any]] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:  # keep test output quiet
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                replay.requests.append({"method": method, "path": self.path, "body": body,
                                        "headers": dict(self.headers)})
                response = replay.match(method, self.path, body)
                if response is None:
                    self.send_response(500)
                    self.end_headers()
                    return
                time.sleep(response.get("delay_s", 0))
                if "ndjson" in response:
                    payload = "".join(json.dumps(line) + "\n" for line in response["ndjson"])
                    content_type = "application/x-ndjson"
                else:
                    payload, content_type = json.dumps(response["json"]), "application/json"
                data = payload.encode()
                self.send_response(response["status"])
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:  # the client timed out first, as a test intends
                    pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def match(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The first recorded response whose request matches."""
        for interaction in self.interactions:
            wanted = interaction["request"]
            if wanted["method"] != method or wanted["path"] != path:
                continue
            if "model" in wanted and body.get("model") != wanted["model"]:
                continue
            if wanted.get("has_format") and not body.get("format"):
                continue
            if wanted.get("has_logprobs") and not body.get("logprobs"):
                continue
            return interaction["response"]
        return None

    def __enter__(self) -> OllamaReplay:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
