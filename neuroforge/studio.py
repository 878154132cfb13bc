"""Compiled graphs for ``langgraph dev`` / LangGraph Studio (see ``langgraph.json``).

The server supplies its own checkpointer, so graphs are compiled without one.
Settings come from the environment and config file, as for the CLI, and every
graph's deps come from ``neuroforge.wiring``, as for the CLI. The store and
long-term memory are opened once and shared by every graph.
"""

from __future__ import annotations

from pydantic import ValidationError

import neuroforge  # noqa: F401  (sets the offline environment defaults)
from neuroforge.graphs.autopilot import create_autopilot_graph
from neuroforge.graphs.chat import create_chat_graph
from neuroforge.graphs.experiment import create_experiment_graph
from neuroforge.graphs.optimize import create_optimize_graph
from neuroforge.graphs.route import create_route_graph
from neuroforge.settings import load_settings, settings_problems
from neuroforge.wiring import (
    autopilot_deps,
    chat_deps,
    experiment_deps,
    long_term_memory,
    open_store,
    optimize_deps,
    route_deps,
)

__all__ = ["autopilot", "chat", "experiment", "optimize", "route"]

try:
    _settings = load_settings()
except ValidationError as exc:  # the server prints this; pydantic's chain would bury it
    raise ValueError(f"invalid NeuroForge configuration ({settings_problems(exc)}); check "
                     "NEUROFORGE_* variables and `neuroforge config show`") from None
_store = open_store(_settings)
_memory = long_term_memory(_settings, _store)

optimize = create_optimize_graph(optimize_deps(_settings, _store, _memory)).compile()
route = create_route_graph(route_deps(_settings, _store, _memory)).compile()
chat = create_chat_graph(chat_deps(_settings, _store, _memory)).compile()
autopilot = create_autopilot_graph(autopilot_deps(_settings, _store)).compile()
# Input: {"spec": {...an experiment file as JSON...}}; set max_concurrency in the run config.
experiment = create_experiment_graph(experiment_deps(_settings, _store)).compile()
