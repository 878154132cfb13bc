"""The experiment graph: plan -> cells (``Send`` branches over the prompt x model x
example x repeat matrix) -> analyse.

``plan`` validates the spec, loads the dataset, records the run and sends every cell
not already finished (so a resumed run redoes nothing); cells run in parallel up to
the ``max_concurrency`` of the run config (``experiment_config`` sets it from the
spec) and each stores its result as soon as it finishes, so a crash or a failing
model loses no finished cell. ``analyse`` computes the statistics, compares with
earlier runs of the same experiment and feeds the router's training records.
"""

from __future__ import annotations

import operator
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any, NotRequired

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send
from typing_extensions import TypedDict

from neuroforge.agents.router_agent import judge_answer
from neuroforge.analysis.experiments import summarize, trend_point
from neuroforge.knowledge import experiments as store_ops
from neuroforge.knowledge import records
from neuroforge.knowledge.datasets import Example, TaskFileError, load_task
from neuroforge.knowledge.db import Database
from neuroforge.knowledge.experiment_spec import ExperimentSpec
from neuroforge.knowledge.schema import Run, new_id
from neuroforge.models.backends import invoke_model
from neuroforge.models.structured import StructuredOutputError
from neuroforge.tools.prompt_eval import SCORERS, TARGET_TEMPLATE, extract_answer, render_prompt

__all__ = ["CallCache", "ExperimentDeps", "ExperimentError", "ExperimentInput",
           "ExperimentStopped",
           "create_experiment_graph", "experiment_config", "select_examples"]


class ExperimentError(ValueError):
    """The experiment cannot run as specified (empty matrix, unknown prompt version...)."""


class CallCache:
    """Identical model calls made once per process, even when requested concurrently."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[tuple[Any, ...], tuple[str, int | None]] = {}
        self._pending: dict[tuple[Any, ...], threading.Lock] = {}

    def get_or_call(self, key: tuple[Any, ...], call: Callable[[], tuple[str, int | None]]
                    ) -> tuple[str, int | None, bool]:
        """(output, tokens, cached): ``call`` runs only when no result is stored yet."""
        with self._lock:
            if key in self._done:
                return (*self._done[key], True)
            gate = self._pending.setdefault(key, threading.Lock())
        with gate:  # a concurrent twin waits here for the first call's result
            with self._lock:
                if key in self._done:
                    return (*self._done[key], True)
            output, tokens = call()  # an exception leaves the key uncached
            with self._lock:
                self._done[key] = (output, tokens)
                self._pending.pop(key, None)
            return output, tokens, False


class ExperimentStopped(RuntimeError):
    """A branch stopped early because the caller asked (``ExperimentDeps.stop``)."""


@dataclass
class ExperimentDeps:
    """The store and a factory of chat models by name (and the judge for quality)."""

    store: Database
    model_for_name: Callable[[str, float, int], BaseChatModel]
    judge_for_name: Callable[[str | None], BaseChatModel] | None = None
    attempts: int = 3
    cache: CallCache = field(default_factory=CallCache)
    # Called from the branch threads after each cell: ((prompt, model, example, repeat),
    # error or None). A plain callback, not LangGraph's custom stream: a stream writer
    # inside a branch deadlocks the executor when max_concurrency is 1 (langgraph 1.2).
    on_cell: Callable[[tuple[str, str, str, int], str | None], None] | None = None
    # Set by the caller (Ctrl-C): branches stop at the next cell boundary instead of
    # working through their whole batch first.
    stop: threading.Event = field(default_factory=threading.Event)


class ExperimentInput(TypedDict):
    """A run: the spec (an ``ExperimentSpec`` as a dict), optionally the run to resume."""

    spec: dict[str, Any]
    run_id: NotRequired[str]
    no_cache: NotRequired[bool]


class ExperimentState(ExperimentInput):
    """One run's state; cells live in the store, not here."""

    experiment_id: NotRequired[str]
    planned: NotRequired[int]
    skipped: NotRequired[int]
    done: Annotated[int, operator.add]
    errors: Annotated[list[str], operator.add]
    summary: NotRequired[dict[str, Any]]


class Cell(TypedDict):
    """One cell of the matrix: a prompt on a model on an example, one repeat."""

    prompt_key: str
    prompt: str
    model: str
    example_key: str
    input: str
    target: str
    repeat: int


class BatchTask(TypedDict):
    """Payload of one branch: cells it runs in order, and how to run them.

    Cells travel in batches (a few per allowed concurrent branch) rather than one
    ``Send`` each: the executor's bookkeeping grows with the number of pending
    branches, and per-cell branches cost about 8 ms each at 2,000 cells.
    """

    run_id: str
    experiment_id: str
    scorer: str
    temperature: float
    max_tokens: int
    judge: str | None
    quality: bool
    cache: bool
    cells: list[Cell]


BATCHES_PER_BRANCH = 4  # batches per allowed branch: keeps all branches busy to the end


def experiment_config(spec: ExperimentSpec | dict[str, Any], run_id: str) -> RunnableConfig:
    """The run config: thread = run id (for resuming), concurrency from the spec."""
    concurrency = spec.concurrency if isinstance(spec, ExperimentSpec) else spec["concurrency"]
    return {"configurable": {"thread_id": run_id}, "max_concurrency": concurrency,
            "recursion_limit": 50}


def select_examples(spec: ExperimentSpec) -> list[Example]:
    """The dataset examples the matrix runs on (``TaskFileError`` when unreadable)."""
    data = spec.dataset
    limit = data.limit
    task = load_task(data.path, seed=data.seed, dev_size=limit, test_size=limit,
                     train_size=limit)
    chosen = {"train": task.train, "dev": task.dev, "test": task.test,
              "all": task.train + task.dev + task.test}[data.split]
    return chosen[:limit]


def _prompts(deps: ExperimentDeps, spec: ExperimentSpec) -> dict[str, str]:
    wanted = [p.version for p in spec.prompts if p.version]
    with deps.store.session() as session:
        texts = store_ops.prompt_version_texts(session, wanted)
    missing = [v for v in wanted if v not in texts]
    if missing:
        raise ExperimentError(f"unknown prompt version(s): {', '.join(missing)}; "
                              "see `neuroforge lineage RUN_ID` for version ids")
    return {str(p.key): p.text if p.text is not None else texts[str(p.version)]
            for p in spec.prompts}


def _start(deps: ExperimentDeps, spec: ExperimentSpec, run_id: str, planned: int
           ) -> tuple[str, set[store_ops.CellKey]]:
    with deps.store.session() as session:
        run = session.get(Run, run_id)
        if run is not None:  # resuming: the run keeps its experiment and finished cells
            if run.graph != "experiment":
                raise ExperimentError(f"run {run_id} is a {run.graph} run, not an experiment")
            if run.inputs.get("fingerprint") != spec.fingerprint():
                raise ExperimentError(f"run {run_id} was started from a different experiment "
                                      "file; resume it with the file it started from")
            run.status = "running"
            stored = store_ops.stored_cells(session, run_id)
            return run.inputs["experiment_id"], {k for k, failed in stored.items()
                                                 if not failed}
        experiment_id = store_ops.register_experiment(session, spec.name, spec.model_dump())
        records.start_run(session, "experiment", {
            "experiment_id": experiment_id, "name": spec.name, "spec": spec.model_dump(),
            "fingerprint": spec.fingerprint(), "planned_cells": planned,
            "dataset_name": _dataset_name(spec)}, run_id)
        return experiment_id, set()


def _dataset_name(spec: ExperimentSpec) -> str:
    return spec.dataset.path.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]


def plan(state: ExperimentState, deps: ExperimentDeps) -> Command[Any]:
    spec = ExperimentSpec.model_validate(state["spec"])
    prompts = _prompts(deps, spec)
    try:
        examples = select_examples(spec)
    except TaskFileError as exc:
        raise ExperimentError(str(exc)) from exc
    if not examples:
        raise ExperimentError(f"the {spec.dataset.split} split of {spec.dataset.path} "
                              "has no examples: the matrix is empty")
    planned = len(prompts) * len(spec.models) * len(examples) * spec.repeats
    run_id = state.get("run_id") or new_id()
    experiment_id, finished = _start(deps, spec, run_id, planned)
    pending = [Cell(prompt_key=key, prompt=text, model=model, example_key=f"e{i}",
                    input=ex.input, target=ex.output, repeat=r)
               for key, text in prompts.items() for model in spec.models
               for i, ex in enumerate(examples) for r in range(spec.repeats)
               if (key, model, f"e{i}", r) not in finished]
    common = {"run_id": run_id, "experiment_id": experiment_id,
              "scorer": spec.dataset.scorer, "temperature": spec.temperature,
              "max_tokens": spec.max_tokens, "judge": spec.judge_model,
              "quality": "quality" in spec.metrics,
              "cache": spec.cache and not state.get("no_cache")}
    sends = [Send("cells", BatchTask(**common, cells=chunk))  # type: ignore[typeddict-item]
             for chunk in _chunks(pending, spec.concurrency * BATCHES_PER_BRANCH)]
    update = {"run_id": run_id, "experiment_id": experiment_id, "planned": planned,
              "skipped": planned - len(pending)}
    return Command(update=update, goto=sends or "analyse")


def cells(batch: BatchTask, deps: ExperimentDeps) -> dict[str, Any]:
    report = deps.on_cell or (lambda _key, _error: None)
    with deps.store.session() as session:
        # Resuming from a checkpoint that lost this branch's writes: the store has them.
        stored = store_ops.stored_cells(session, batch["run_id"])
    done, errors = 0, []
    for cell in batch["cells"]:
        if deps.stop.is_set():
            # Fail the branch, so a resume runs it again; its finished cells are stored.
            raise ExperimentStopped(f"stopped after {done} of {len(batch['cells'])} cells")
        key = (cell["prompt_key"], cell["model"], cell["example_key"], cell["repeat"])
        if stored.get(key) is False:  # stored without an error
            done += 1
            report(key, None)
            continue
        result = _run_cell(deps, batch, cell)
        with deps.store.session() as session:
            store_ops.save_cell(session, batch["experiment_id"], batch["run_id"], result,
                                replace=key in stored)
        done += 1
        report(key, result.get("error"))
        if result.get("error"):
            errors.append(f"{cell['model']} on {cell['prompt_key']}/"
                          f"{cell['example_key']}: {result['error']}")
    return {"done": done, "errors": errors}


def analyse(state: ExperimentState, deps: ExperimentDeps) -> dict[str, Any]:
    return {"summary": _analyse(deps, state)}


def create_experiment_graph(deps: ExperimentDeps) -> StateGraph:
    """The experiment graph, uncompiled."""
    graph = StateGraph(ExperimentState, input_schema=ExperimentInput)
    graph.add_node("plan", partial(plan, deps=deps), destinations=("cells", "analyse"))
    graph.add_node("cells", partial(cells, deps=deps), input_schema=BatchTask)  # type: ignore[arg-type]
    graph.add_node("analyse", partial(analyse, deps=deps))
    graph.add_edge(START, "plan")
    graph.add_edge("cells", "analyse")
    graph.add_edge("analyse", END)
    return graph


def _chunks(cells: list[Cell], count: int) -> list[list[Cell]]:
    """``cells`` in at most ``count`` contiguous, nearly equal chunks (order kept, so a
    cell's repeats share a branch and its cache)."""
    if not cells:
        return []
    size, extra = divmod(len(cells), min(count, len(cells)))
    out, start = [], 0
    for i in range(min(count, len(cells))):
        end = start + size + (1 if i < extra else 0)
        out.append(cells[start:end])
        start = end
    return out


def _task_text(prompt: str, input_text: str) -> str:
    """The task as one text: what the judge reads and the router learns from."""
    return TARGET_TEMPLATE.format(prompt=prompt, input=input_text)


def _run_cell(deps: ExperimentDeps, batch: BatchTask, cell: Cell) -> dict[str, Any]:
    base: dict[str, Any] = {"prompt_key": cell["prompt_key"], "model": cell["model"],
                            "example_key": cell["example_key"], "repeat": cell["repeat"]}
    messages = render_prompt(cell["prompt"], cell["input"])
    started = time.perf_counter()

    def call() -> tuple[str, int | None]:
        model = deps.model_for_name(cell["model"], batch["temperature"], batch["max_tokens"])
        reply = invoke_model(model, messages)
        usage = reply.usage_metadata
        return reply.text, usage["output_tokens"] if usage else None

    try:
        if batch["cache"]:
            key = (cell["model"], cell["prompt"], cell["input"], batch["temperature"],
                   batch["max_tokens"])
            output, tokens, cached = deps.cache.get_or_call(key, call)
        else:
            (output, tokens), cached = call(), False
    except Exception as exc:  # one failing cell (model down, bad reply) must not stop the rest
        return {**base, "error": f"{type(exc).__name__}: {exc}"[:500]}
    latency = None if cached else round((time.perf_counter() - started) * 1000, 2)
    correct = SCORERS[batch["scorer"]](extract_answer(output), cell["target"])
    score = None
    if batch["quality"] and deps.judge_for_name is not None:
        try:
            score = judge_answer(deps.judge_for_name(batch["judge"]),
                                 _task_text(cell["prompt"], cell["input"]), output,
                                 attempts=deps.attempts)
        except StructuredOutputError:
            score = None  # an unjudgeable answer has no quality, but keeps its accuracy
        except Exception as exc:  # judge backend down: keep the cell, say why
            return {**base, "output": output, "correct": correct, "latency_ms": latency,
                    "tokens": tokens, "error": f"judge failed: {type(exc).__name__}: {exc}"}
    return {**base, "output": output, "correct": correct, "score": score,
            "latency_ms": latency, "tokens": tokens}


def _analyse(deps: ExperimentDeps, state: ExperimentState) -> dict[str, Any]:
    spec = ExperimentSpec.model_validate(state["spec"])
    run_id = state["run_id"]
    prompts = _prompts(deps, spec)
    examples = select_examples(spec)
    with deps.store.session() as session:
        rows = store_ops.cell_rows(session, run_id)
        run = session.get(Run, run_id)
        assert run is not None
        history = [trend_point(r.id, r.started_at.isoformat(timespec="seconds"),
                               r.outputs.get("analysis", {}).get("cells", {}),
                               r.outputs.get("analysis", {}).get("primary_metric", "accuracy"))
                   for r in store_ops.previous_runs(session, state["experiment_id"],
                                                    before=run.started_at)]
        summary = summarize(rows, spec.model_dump(), history)
        tasks = {(key, f"e{i}"): _task_text(text, ex.input)
                 for key, text in prompts.items() for i, ex in enumerate(examples)}
        # A resumed run feeds only what an earlier analysis of it did not.
        fed = set(run.outputs.get("fed", [])) if run.outputs else set()
        added, fed = store_ops.feed_routing_outcomes(session, rows, tasks, fed)
        summary["routing_outcomes"] = added
        summary["planned"], summary["stored"] = state.get("planned", 0), len(rows)
        status = "partial" if summary["errors"] else "succeeded"
        records.finish_run(session, run_id, status=status,
                           outputs={"analysis": summary, "best": summary["best"],
                                    "fed": sorted(fed)},
                           calls_used=sum(1 for r in rows if r.get("latency_ms") is not None))
    return summary
