"""Checking model names before a run starts: unknown names, servers that are down."""

from __future__ import annotations

from neuroforge.settings import Settings

__all__ = ["unknown_models"]


def unknown_models(settings: Settings, names: list[str]) -> list[str]:
    """Problems with these model names (unknown, or their server down); empty when fine."""
    from neuroforge.knowledge.redaction import mask_secrets, mask_url
    from neuroforge.wiring import discover

    discovery = discover(settings)
    known = {m.name for m in discovery.models}
    known |= {n.removesuffix(":latest") for n in known}  # Ollama accepts "name" for it
    available = ", ".join(sorted(m.name for m in discovery.models))

    def reason(name: str) -> str:
        if name.startswith("openai:") and discovery.openai_error:
            return mask_secrets(discovery.openai_error)
        if discovery.ollama_error and not name.startswith("openai:"):
            return f"Ollama at {mask_url(settings.ollama_base_url)} is not reachable"
        return "no such model"

    return [f"unknown model {name!r} ({reason(name)}); available: {available}"
            for name in names if _registry_name(name) not in known]


def _registry_name(name: str) -> str:
    """The name discovery lists ``name`` under: the spellings ``resolve_model`` takes too
    (``embedded`` for the embedded model, ``ollama:NAME`` forcing Ollama)."""
    from neuroforge.models.embedded import EMBEDDED_MODEL_NAME

    return EMBEDDED_MODEL_NAME if name == "embedded" else name.removeprefix("ollama:")
