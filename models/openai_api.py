"""The one endpoint an OpenAI-compatible server needs to offer for discovery: ``/models``."""

from __future__ import annotations

import httpx

from neuroforge.knowledge.redaction import mask_secrets, mask_url

__all__ = ["OpenAIUnreachableError", "list_openai_models"]


class OpenAIUnreachableError(ConnectionError):
    """The server did not list its models; the message names the (masked) URL and why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"OpenAI-compatible server at {mask_url(url)} did not list its "
                         f"models: {mask_secrets(reason)}")


def list_openai_models(base_url: str, api_key: str | None = None, timeout_s: float = 5.0
                       ) -> list[str]:
    """Model ids the server at ``base_url`` (ending in ``/v1``) serves."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        reply = httpx.get(base_url.rstrip("/") + "/models", headers=headers, timeout=timeout_s)
        reply.raise_for_status()
        data = reply.json()["data"]
        return [str(entry["id"]) for entry in data]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise OpenAIUnreachableError(base_url, f"{type(exc).__name__}: {exc}") from exc
