"""Build the route graph, invoke it with a checkpointer, and stream its voters.

Run: .venv/bin/python examples/route_programmatic.py
"""

from langgraph.checkpoint.memory import InMemorySaver

from neuroforge.graphs.route import create_route_graph
from neuroforge.settings import load_settings
from neuroforge.wiring import route_deps

settings = load_settings(backend="embedded")
graph = create_route_graph(route_deps(settings)).compile(checkpointer=InMemorySaver())
config = {"configurable": {"thread_id": "route-example"}}

for update in graph.stream({"task": "What is 17 * 23?"}, config, stream_mode="updates"):
    for node, values in update.items():
        for event in (values or {}).get("events", []):
            print(f"[{node}] {event}")

decision = graph.get_state(config).values["decision"]
print("chosen:", decision["model"], "-", decision["reason"])
