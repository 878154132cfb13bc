"""``neuroforge experiment``: run an experiment file with a progress bar, resume, list
runs, write reports. Models are checked before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from graphs.experiment import ExperimentDeps
from knowledge.db import Database
from knowledge.experiment_spec import ExperimentSpec
from neuroforge.settings import Settings

__all__ = ["check_models", "experiment_deps", "load_report", "run_experiment"]


def experiment_deps(settings: Settings, store: Database) -> ExperimentDeps:
    """Models by name (built once per name, temperature and length) and the judge."""
    import threading

    from agents.llm import create_chat_model
    from neuroforge.runtime import chat_model_for_role, llm_config

    config = llm_config(settings)
    built: dict[tuple[str, float, int], BaseChatModel] = {}
    lock = threading.Lock()

    def model_for_name(name: str, temperature: float, max_tokens: int) -> BaseChatModel:
        with lock:  # cells ask concurrently; build each model once
            key = (name, temperature, max_tokens)
            if key not in built:
                built[key] = create_chat_model(name, config, temperature=temperature,
                                               max_tokens=max_tokens)
            return built[key]

    judges: dict[str | None, BaseChatModel] = {}

    def judge_for_name(name: str | None) -> BaseChatModel:
        with lock:
            if name not in judges:
                judges[name] = chat_model_for_role(settings, "validator", name)
            return judges[name]

    return ExperimentDeps(store=store, model_for_name=model_for_name,
                          judge_for_name=judge_for_name,
                          attempts=settings.budgets.structured_attempts)


def check_models(settings: Settings, spec: ExperimentSpec) -> list[str]:
    """Problems with the spec's models (unknown, or their server down); empty when fine."""
    from neuroforge.runtime import discover

    wanted = [*spec.models, *([spec.judge_model] if spec.judge_model else [])]
    discovery = discover(settings)
    known = {m.name for m in discovery.models}
    # Ollama accepts "name" for "name:latest".
    known |= {n.removesuffix(":latest") for n in known}
    problems = []
    for name in wanted:
        if name in known:
            continue
        reason = (f"Ollama at {settings.ollama_base_url} is not reachable"
                  if discovery.ollama_error else "no such model")
        problems.append(f"unknown model {name!r} ({reason}); available: "
                        f"{', '.join(sorted(m.name for m in discovery.models))}")
    return problems


def run_experiment(settings: Settings, spec: ExperimentSpec, *, no_cache: bool = False,
                   resume: str | None = None, show_progress: bool = True,
                   console: Console | None = None) -> dict[str, Any]:
    """Run (or resume) an experiment under the SQLite checkpointer; returns the final state."""
    from graphs.experiment import create_experiment_graph, experiment_config
    from knowledge.schema import new_id
    from neuroforge.runtime import checkpointer, open_store

    store = open_store(settings)
    run_id = resume or new_id()
    config = experiment_config(spec, run_id)
    request: dict[str, Any] | None = {"spec": spec.model_dump(), "run_id": run_id,
                                      "no_cache": no_cache}
    deps = experiment_deps(settings, store)
    with checkpointer(settings) as saver, _progress(show_progress, console) as progress:
        deps.on_cell = progress.cell_done
        app = create_experiment_graph(deps).compile(checkpointer=saver)
        if resume and app.get_state(config).next:
            request = None  # continue the interrupted superstep; finished branches stay done
        for update in app.stream(request, config, stream_mode="updates"):
            if "plan" in update:
                progress.planned(update["plan"] or {})
        return dict(app.get_state(config).values)


class _progress:
    """A rich progress bar: sized by the plan, advanced by each finished cell."""

    def __init__(self, show: bool, console: Console | None) -> None:
        self.show, self.console = show, console
        self.bar: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> _progress:
        if self.show:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                console=self.console, transient=False)
            self.bar.start()
            self.task = self.bar.add_task("cells", total=None)
        return self

    def planned(self, values: dict[str, Any]) -> None:
        """Size the bar once the plan says how many cells are left."""
        if self.bar is None:
            return
        self.bar.update(self.task, total=values.get("planned", 0) - values.get("skipped", 0))
        if values.get("skipped"):
            self.bar.console.print(f"resuming: {values['skipped']} finished cells kept")

    def cell_done(self, key: tuple[str, str, str, int], error: str | None) -> None:
        """One cell finished (called from branch threads; rich's bar is thread-safe)."""
        if self.bar is None:
            return
        self.bar.advance(self.task)
        if error:
            prompt, model, example, repeat = key
            self.bar.console.print(f"[yellow]cell failed:[/] {prompt} @ {model} on {example} "
                                   f"(repeat {repeat}): {error}", highlight=False)

    def __exit__(self, *_: Any) -> None:
        if self.bar is not None:
            self.bar.stop()


def load_report(store: Database, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                       dict[str, Any]]:
    """(analysis, cell rows, meta) of a stored run; ``LookupError`` when it has none."""
    from knowledge.experiments import cell_rows, experiment_of_run

    with store.session() as session:
        run, experiment = experiment_of_run(session, run_id)
        summary = (run.outputs or {}).get("analysis")
        if summary is None:
            raise LookupError(f"run {run_id} has not finished (status {run.status}); "
                              f"resume it with `neuroforge experiment run FILE --resume "
                              f"{run_id}`")
        meta = {"run_id": run.id, "name": experiment.name, "status": run.status,
                "started_at": run.started_at.isoformat(timespec="seconds"),
                "seconds": run.seconds}
        return summary, cell_rows(session, run_id), meta


def report_paths(out: Path) -> Path:
    """Where the HTML goes: ``out`` itself, or ``out/report.html`` for a directory."""
    return out / "report.html" if out.is_dir() else out
