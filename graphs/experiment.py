"""The experiment graph: plan -> cells (``Send`` branches over the prompt x model x
example x repeat matrix) -> analyse.

``plan`` validates the spec, loads the dataset, records the run and queues its cells
in the store (``knowledge.cell_queue``); a resumed run queues nothing it has finished.
The ``cells`` branches are workers, as many as the spec's concurrency: each claims a
few cells at a time, runs them and stores each result as it finishes, so a crash or a
failing model loses no finished cell. Other processes, on this host or another, can
work the same queue (``work_queue``, ``neuroforge experiment work RUN_ID``); the
branches wait for their claims before the analysis. ``analyse`` computes the
statistics, compares with earlier runs of the same experiment and feeds the router's
training records.
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
from neuroforge.knowledge.cell_queue import (
    DEFAULT_LEASE_S,
    QueueCounts,
    QueuedCell,
    claim_cells,
    enqueue_cells,
    finish_cell,
    free_dead_local_claims,
    new_claim,
    queue_counts,
    queued_targets,
    release_claim,
    reopen_failed,
)
from neuroforge.knowledge.datasets import Example, TaskFileError, load_task
from neuroforge.knowledge.db import Database
from neuroforge.knowledge.experiment_spec import ExperimentSpec, ExperimentSpecError, validate_spec
from neuroforge.knowledge.schema import Run, new_id
from neuroforge.models.backends import invoke_model
from neuroforge.models.structured import StructuredOutputError
from neuroforge.tools.prompt_eval import (
    TARGET_TEMPLATE,
    answer_set,
    is_right,
    read_reply,
    render_prompt,
    reply_kwargs,
)

__all__ = ["CallCache", "ExperimentDeps", "ExperimentError", "ExperimentInput",
           "ExperimentStopped", "WorkerTask",
           "create_experiment_graph", "experiment_config", "select_examples", "work_queue",
           "worker_task"]


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
    # Called while a worker waits for cells other workers hold: the run's queue counts.
    on_counts: Callable[[QueueCounts], None] | None = None
    # Set by the caller (Ctrl-C): branches stop at the next cell boundary instead of
    # working through their whole batch first.
    stop: threading.Event = field(default_factory=threading.Event)
    lease_s: float = DEFAULT_LEASE_S


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


class WorkerTask(TypedDict):
    """Payload of one worker branch: which run's queue to work, and how to run a cell."""

    run_id: str
    experiment_id: str
    scorer: str
    temperature: float
    max_tokens: int
    judge: str | None
    quality: bool
    cache: bool


CLAIM_SIZE = 8  # cells per claim: small, so several workers share the tail of a run
POLL_S = 0.5  # how often a worker with nothing to claim looks again while others work


def experiment_config(spec: ExperimentSpec | dict[str, Any], run_id: str) -> RunnableConfig:
    """The run config: thread = run id (for resuming), concurrency from the spec."""
    if isinstance(spec, ExperimentSpec):
        concurrency = spec.concurrency
    else:  # a spec not yet checked: the graph's first node says what is wrong with it
        given = spec.get("concurrency") if isinstance(spec, dict) else None
        concurrency = given if isinstance(given, int) and given >= 1 else \
            ExperimentSpec.model_fields["concurrency"].default
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
           ) -> tuple[str, bool]:
    """(experiment id, resuming): record a new run, or check the one being resumed."""
    with deps.store.session() as session:
        run = session.get(Run, run_id)
        if run is not None:  # resuming: the run keeps its experiment and finished cells
            if run.graph != "experiment":
                raise ExperimentError(f"run {run_id} is a {run.graph} run, not an experiment")
            if run.inputs.get("fingerprint") != spec.fingerprint():
                raise ExperimentError(f"run {run_id} was started from a different experiment "
                                      "file; resume it with the file it started from")
            run.status = "running"
            return run.inputs["experiment_id"], True
        experiment_id = store_ops.register_experiment(session, spec.name, spec.model_dump())
        records.start_run(session, "experiment", {
            "experiment_id": experiment_id, "name": spec.name, "spec": spec.model_dump(),
            "fingerprint": spec.fingerprint(), "planned_cells": planned,
            "dataset_name": _dataset_name(spec)}, run_id)
        return experiment_id, False


def _dataset_name(spec: ExperimentSpec) -> str:
    return spec.dataset.path.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]


def plan(state: ExperimentState, deps: ExperimentDeps) -> Command[Any]:
    if "spec" not in state:
        raise ExperimentError("the input has no spec: give {'spec': an experiment spec as "
                              "a dict} (load_spec(path).model_dump() reads one from a file)")
    try:
        spec = validate_spec(state["spec"])
    except ExperimentSpecError as exc:
        raise ExperimentError(str(exc)) from exc
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
    experiment_id, resuming = _start(deps, spec, run_id, planned)
    matrix = [Cell(prompt_key=key, prompt=text, model=model, example_key=f"e{i}",
                   input=ex.input, target=ex.output, repeat=r)
              for key, text in prompts.items() for model in spec.models
              for i, ex in enumerate(examples) for r in range(spec.repeats)]
    with deps.store.session() as session:
        enqueue_cells(session, run_id, matrix)
        if resuming:
            reopen_failed(session, run_id)  # a resume retries cells that failed
        counts = queue_counts(session, run_id)
    task = worker_task(spec, run_id, experiment_id, no_cache=bool(state.get("no_cache")))
    workers = min(spec.concurrency, counts.todo + counts.claimed)
    sends = [Send("cells", task) for _ in range(workers)]
    update = {"run_id": run_id, "experiment_id": experiment_id, "planned": planned,
              "skipped": counts.done}
    return Command(update=update, goto=sends or "analyse")


def worker_task(spec: ExperimentSpec, run_id: str, experiment_id: str,
                no_cache: bool = False) -> WorkerTask:
    """How a worker runs this run's cells, from its spec."""
    return WorkerTask(run_id=run_id, experiment_id=experiment_id, scorer=spec.dataset.scorer,
                      temperature=spec.temperature, max_tokens=spec.max_tokens,
                      judge=spec.judge_model, quality="quality" in spec.metrics,
                      cache=spec.cache and not no_cache)


def cells(task: WorkerTask, deps: ExperimentDeps) -> dict[str, Any]:
    return work_queue(deps, task)


def work_queue(deps: ExperimentDeps, task: WorkerTask) -> dict[str, Any]:
    """Work the run's queue until every cell is done: claim a few, run, store, repeat.

    With nothing left to claim, waits while other workers hold claims (a dead worker's
    claims come free when its lease ends). Raises ``ExperimentStopped`` when
    ``deps.stop`` is set, after handing back the cells it claimed but did not run.
    Returns ``{"done": cells this worker stored, "errors": their error lines}``.
    """
    claim = new_claim()
    try:
        return _work(deps, task, claim)
    except BaseException:
        # A crash inside this process (or a stop): the claims of a live process would
        # otherwise wait out their lease before a resume could take them.
        release_claim(deps.store, claim)
        raise


def _work(deps: ExperimentDeps, task: WorkerTask, claim: str) -> dict[str, Any]:
    report = deps.on_cell or (lambda _key, _error: None)
    done, errors = 0, list[str]()
    with deps.store.session() as session:
        gold_answers = answer_set(queued_targets(session, task["run_id"]))
    while True:
        if deps.stop.is_set():
            raise ExperimentStopped(f"stopped after {done} cells")
        claimed = claim_cells(deps.store, task["run_id"], claim, CLAIM_SIZE, deps.lease_s)
        lease_from = time.monotonic()
        if not claimed:
            with deps.store.session() as session:
                counts = queue_counts(session, task["run_id"])
            if counts.todo == 0 and counts.claimed == 0:
                return {"done": done, "errors": errors}
            if deps.on_counts is not None:
                deps.on_counts(counts)
            free_dead_local_claims(deps.store, task["run_id"])
            deps.stop.wait(POLL_S)
            continue
        for cell in claimed:
            if deps.stop.is_set():  # the caller releases what was not run
                raise ExperimentStopped(f"stopped after {done} cells")
            result = _run_cell(deps, task, cell, gold_answers)
            # Renew the claim's lease once half of it is spent (slow models), not per cell.
            renew = time.monotonic() - lease_from > deps.lease_s / 2
            stored = finish_cell(deps.store, cell, claim, task["experiment_id"],
                                 task["run_id"], result, deps.lease_s if renew else None)
            if renew:
                lease_from = time.monotonic()
            if not stored:  # our lease ran out and another worker took the cell
                continue
            done += 1
            key = (cell.prompt_key, cell.model, cell.example_key, cell.repeat)
            report(key, result.get("error"))
            if result.get("error"):
                errors.append(f"{cell.model} on {cell.prompt_key}/"
                              f"{cell.example_key}: {result['error']}")


def analyse(state: ExperimentState, deps: ExperimentDeps) -> dict[str, Any]:
    return {"summary": _analyse(deps, state)}


def create_experiment_graph(deps: ExperimentDeps) -> StateGraph:
    """The experiment graph, uncompiled."""
    graph = StateGraph(ExperimentState, input_schema=ExperimentInput)
    graph.add_node("plan", partial(plan, deps=deps), destinations=("cells", "analyse"))
    graph.add_node("cells", partial(cells, deps=deps), input_schema=WorkerTask)  # type: ignore[arg-type]
    graph.add_node("analyse", partial(analyse, deps=deps))
    graph.add_edge(START, "plan")
    graph.add_edge("cells", "analyse")
    graph.add_edge("analyse", END)
    return graph


def _task_text(prompt: str, input_text: str) -> str:
    """The task as one text: what the judge reads and the router learns from."""
    return TARGET_TEMPLATE.format(prompt=prompt, input=input_text)


def _run_cell(deps: ExperimentDeps, task: WorkerTask, cell: QueuedCell,
              gold_answers: frozenset[str]) -> dict[str, Any]:
    base: dict[str, Any] = {"prompt_key": cell.prompt_key, "model": cell.model,
                            "example_key": cell.example_key, "repeat": cell.repeat}
    messages = render_prompt(cell.prompt, cell.input)
    started = time.perf_counter()

    def call() -> tuple[str, int | None]:
        model = deps.model_for_name(cell.model, task["temperature"], task["max_tokens"])
        reply = invoke_model(model, messages, **reply_kwargs(model, cell.prompt))
        usage = reply.usage_metadata
        return reply.text, usage["output_tokens"] if usage else None

    try:
        if task["cache"]:
            key = (cell.model, cell.prompt, cell.input, task["temperature"], task["max_tokens"])
            output, tokens, cached = deps.cache.get_or_call(key, call)
        else:
            (output, tokens), cached = call(), False
    except Exception as exc:  # one failing cell (model down, bad reply) must not stop the rest
        return {**base, "error": f"{type(exc).__name__}: {exc}"[:500]}
    latency = None if cached else round((time.perf_counter() - started) * 1000, 2)
    correct = is_right(task["scorer"], read_reply(cell.prompt, output), cell.target, cell.input,
                       gold_answers)
    score = None
    if task["quality"] and deps.judge_for_name is not None:
        try:
            score = judge_answer(deps.judge_for_name(task["judge"]),
                                 _task_text(cell.prompt, cell.input), output,
                                 attempts=deps.attempts)
        except StructuredOutputError:
            score = None  # an unjudgeable answer has no quality, but keeps its accuracy
        except Exception as exc:  # judge backend down: keep the cell, say why
            return {**base, "output": output, "correct": correct, "latency_ms": latency,
                    "tokens": tokens, "error": f"judge failed: {type(exc).__name__}: {exc}"}
    return {**base, "output": output, "correct": correct, "score": score,
            "latency_ms": latency, "tokens": tokens}


def _analyse(deps: ExperimentDeps, state: ExperimentState) -> dict[str, Any]:
    spec = ExperimentSpec.model_validate(state["spec"])  # checked by plan
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
