"""Model discovery: what the embedded runtime and the Ollama host offer right now."""

from __future__ import annotations

from neuroforge.knowledge.registry import DiscoveredModel, Discovery
from neuroforge.models.ollama_api import OllamaUnreachableError, list_ollama_models
from neuroforge.models.openai_api import OpenAIUnreachableError, list_openai_models

__all__ = ["discover_models"]


def discover_models(
    ollama_url: str | None,
    embedded: tuple[str, str] | None,
    *,
    timeout_s: float = 5.0,
    headers: dict[str, str] | None = None,
    openai: tuple[str | None, str | None] = (None, None),
) -> Discovery:
    """Models available now: the embedded one (name, path), what Ollama lists, and what
    an OpenAI-compatible server (base URL, key) lists, named ``openai:ID``."""
    found = []
    if embedded is not None:
        name, path = embedded
        found.append(DiscoveredModel(name, "embedded", path, {"format": "gguf"}))
    error = None
    if ollama_url:
        try:
            for model in list_ollama_models(ollama_url, timeout_s, headers):
                details = {"size_bytes": model.size_bytes, **model.details}
                found.append(DiscoveredModel(model.name, "ollama", ollama_url, details))
        except OllamaUnreachableError as exc:
            error = str(exc)
    openai_error = None
    if openai[0]:
        try:
            for model_id in list_openai_models(openai[0], openai[1], timeout_s):
                found.append(DiscoveredModel(f"openai:{model_id}", "openai", openai[0], {}))
        except OpenAIUnreachableError as exc:
            openai_error = str(exc)
    return Discovery(found, error, openai_error)
