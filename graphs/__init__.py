"""The LangGraph state graphs: one module per graph, each with ``create_*_graph(deps)``.

Public modules: ``optimize``, ``route``, ``chat``, ``autopilot``, ``experiment``,
``state`` (their TypedDict states), ``autopilot_handlers`` (what approved actions
do) and ``paused_time`` (a resumed run's working time, which its time limit counts).
Factories return uncompiled ``StateGraph``s; nodes are module-level functions bound to
a deps dataclass, so each can be called alone. ``neuroforge.wiring`` builds the deps
from settings.
"""

__all__ = [
    "autopilot", "autopilot_handlers", "chat", "experiment", "optimize", "paused_time", "route",
    "state",
]
