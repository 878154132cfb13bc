"""Build, invoke and stream the optimize graph from Python, with a checkpointer.

Run: .venv/bin/python examples/optimize_programmatic.py
"""

from langgraph.checkpoint.memory import InMemorySaver

from neuroforge.graphs.optimize import create_optimize_graph
from neuroforge.settings import load_settings
from neuroforge.wiring import optimize_deps

settings = load_settings(backend="embedded")  # or leave out: Ollama when it answers
graph = create_optimize_graph(optimize_deps(settings)).compile(checkpointer=InMemorySaver())
request = {"prompt": "Write about dogs.", "generations": 1, "population": 2, "voters": 2,
           "debate_rounds": 0, "budget": 60}

# Stream node-by-node progress; the final state holds the result.
config = {"configurable": {"thread_id": "example-1"}}
for update in graph.stream(request, config, stream_mode="updates"):
    for node, values in update.items():
        for event in (values or {}).get("events", []):
            print(f"[{node}] {event}")

result = graph.get_state(config).values["result"]
print("optimized:", result["optimized"])
print("score:", result["original_score"], "->", result["optimized_score"],
      f"({result['score_kind']}); calls {result['calls_used']}")
