"""Specialist agents, the model factory and structured output.

Submodules are imported explicitly (``from agents.llm import create_chat_model``)
so that importing the package stays cheap for the CLI.
"""

__all__ = ["embedded", "llm", "probes", "profiler", "structured"]
