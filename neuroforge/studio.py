"""Compiled graphs for ``langgraph dev`` / LangGraph Studio (see ``langgraph.json``).

The server supplies its own checkpointer, so graphs are compiled without one.
Settings come from the environment and config file, as for the CLI. The store and
long-term memory are opened once and shared by every graph.
"""

from __future__ import annotations

import neuroforge  # noqa: F401  (sets the offline environment defaults)
from graphs.autopilot import create_autopilot_graph
from graphs.chat import create_chat_graph
from graphs.experiment import create_experiment_graph
from graphs.optimize import create_optimize_graph
from graphs.route import create_route_graph
from neuroforge.autopilot_cli import autopilot_deps
from neuroforge.experiment_cli import experiment_deps
from neuroforge.runtime import (
    chat_deps,
    long_term_memory,
    open_store,
    optimize_deps,
    route_deps,
)
from neuroforge.settings import load_settings

__all__ = ["autopilot", "chat", "experiment", "optimize", "route"]

_settings = load_settings()
_store = open_store(_settings)
_memory = long_term_memory(_settings, _store)

optimize = create_optimize_graph(optimize_deps(_settings, _store, _memory)).compile()
route = create_route_graph(route_deps(_settings, _store, _memory)).compile()
chat = create_chat_graph(chat_deps(_settings, _store, _memory)).compile()
autopilot = create_autopilot_graph(autopilot_deps(_settings)).compile()
# Input: {"spec": {...an experiment file as JSON...}}; set max_concurrency in the run config.
experiment = create_experiment_graph(experiment_deps(_settings, _store)).compile()
