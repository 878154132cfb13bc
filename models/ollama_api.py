"""The two read-only Ollama endpoints the registry needs: ``/api/version`` and ``/api/tags``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from neuroforge.knowledge.redaction import mask_secrets, mask_url

__all__ = ["OllamaModel", "OllamaUnreachableError", "list_ollama_models", "ollama_version"]


class OllamaUnreachableError(ConnectionError):
    """The Ollama API did not answer as expected; the message names the URL and why."""

    def __init__(self, url: str, reason: str) -> None:
        url, reason = mask_url(url), mask_secrets(reason)
        super().__init__(f"Ollama at {url} is not reachable: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class OllamaModel:
    """One model an Ollama host serves, as ``/api/tags`` lists it."""

    name: str
    size_bytes: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def _get_json(url: str, path: str, timeout_s: float, headers: dict[str, str] | None) -> Any:
    try:
        response = httpx.get(f"{url}{path}", timeout=timeout_s, headers=headers)
    except httpx.TimeoutException:
        raise OllamaUnreachableError(url, f"no answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise OllamaUnreachableError(url, f"{type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise OllamaUnreachableError(url, f"GET {path} answered HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise OllamaUnreachableError(url, f"GET {path} did not return JSON") from None


def ollama_version(url: str, timeout_s: float = 1.0, headers: dict[str, str] | None = None) -> str:
    """The server's version string; raises ``OllamaUnreachableError`` when it does not answer."""
    data = _get_json(url, "/api/version", timeout_s, headers)
    if not isinstance(data, dict) or "version" not in data:
        raise OllamaUnreachableError(url, "GET /api/version lacked a version field")
    return str(data["version"])


def list_ollama_models(
    url: str, timeout_s: float = 5.0, headers: dict[str, str] | None = None
) -> list[OllamaModel]:
    """Models installed on the Ollama host at ``url``."""
    data = _get_json(url, "/api/tags", timeout_s, headers)
    entries = data.get("models") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise OllamaUnreachableError(url, "GET /api/tags lacked a models list")
    models = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            models.append(
                OllamaModel(
                    name=entry["name"],
                    size_bytes=int(entry.get("size") or 0),
                    details=dict(entry.get("details") or {}),
                )
            )
    return models
