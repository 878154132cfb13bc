"""Run an experiment from Python: load a file, shrink it, invoke the graph, read the stats.

Run: .venv/bin/python examples/experiment_programmatic.py
"""

from pathlib import Path

from neuroforge.graphs.experiment import create_experiment_graph, experiment_config
from neuroforge.knowledge.experiment_spec import load_spec
from neuroforge.knowledge.schema import new_id
from neuroforge.settings import load_settings
from neuroforge.wiring import experiment_deps, open_store

settings = load_settings(backend="embedded")
spec = load_spec(Path(__file__).parent / "antonyms_experiment.yaml")
spec = spec.model_copy(update={"repeats": 1, "metrics": ["accuracy", "latency"]})
spec.dataset.limit = 4

graph = create_experiment_graph(experiment_deps(settings, open_store(settings))).compile()
run_id = new_id()  # reuse an interrupted run's id (with a checkpointer) to resume it
state = graph.invoke({"spec": spec.model_dump(), "run_id": run_id},
                     experiment_config(spec, run_id))  # sets max_concurrency from the spec
summary = state["summary"]
for label, cell in summary["cells"].items():
    print(f"{label}: accuracy {cell['accuracy']:.2f} {cell['accuracy_ci']}, "
          f"p50 {cell['latency_p50_ms']} ms")
print("best:", summary["best"])
