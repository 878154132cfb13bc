"""Build the autopilot graph, stream a dry run with a checkpointer, print its report.

Run: .venv/bin/python examples/autopilot_programmatic.py
"""

from langgraph.checkpoint.memory import InMemorySaver

from neuroforge.graphs.autopilot import create_autopilot_graph
from neuroforge.settings import load_settings
from neuroforge.wiring import autopilot_deps

settings = load_settings(backend="embedded")
graph = create_autopilot_graph(autopilot_deps(settings)).compile(checkpointer=InMemorySaver())
config = {"configurable": {"thread_id": "autopilot-example"}}

for update in graph.stream({"dry_run": True}, config, stream_mode="updates"):
    print("finished:", ", ".join(update))

report = graph.get_state(config).values["report"]
print("proposed:", [a["kind"] for a in report["proposed"]], "applied:", report["applied"])
