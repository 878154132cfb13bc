"""Compiled graphs for ``langgraph dev`` / LangGraph Studio (see ``langgraph.json``).

The server supplies its own checkpointer, so graphs are compiled without one.
Settings come from the environment and config file, as for the CLI.
"""

from __future__ import annotations

import neuroforge  # noqa: F401  (sets the offline environment defaults)
from graphs.optimize import create_optimize_graph
from neuroforge.runtime import optimize_deps
from neuroforge.settings import load_settings

__all__ = ["optimize"]

_settings = load_settings()

optimize = create_optimize_graph(optimize_deps(_settings)).compile()
