"""``neuroforge optimize | lineage | demo``: improve a prompt, resumable by run id."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from neuroforge.agents.consensus import RULES
from neuroforge.cli.common import (
    JsonFlag,
    RunInterrupted,
    RunStopped,
    console,
    errors,
    fail,
    print_json,
    read_text_arg,
    settings,
    stop_on_interrupt,
)
from neuroforge.cli.optimize_export import check_export_path, export_result
from neuroforge.cli.optimize_output import render_result
from neuroforge.settings import Settings

__all__ = ["demo", "free_baseline", "lineage", "optimize", "render_result", "run_optimize"]

SCORER_HELP = ("How a task's answers are judged: contains (default; the target as whole "
               "words), exact (closed answer sets such as True/False), numeric.")
TIME_LIMIT_HELP = ("Most seconds the search may take (the final test run is not counted): "
                   "it starts no work the time left cannot pay for at the rate so far.")
# The demo's task ships in the repository (MIT, see examples/data/.../README.md).
DEMO_TASK = (Path(__file__).resolve().parents[2] / "examples" / "data" /
             "instruction_induction" / "raw" / "induce" / "first_word_letter.json")


PROMPT_HELP = "The prompt to improve, or - to read stdin."
TRAIN_EVIDENCE_HELP = ("With --task: also run the free prompts with nearest examples on the "
                       "training examples (each leaving itself out) and choose among them on "
                       "train and dev; searched prompts must beat that choice.")

KNN_SEED_HELP = ("With --task on a closed answer set: also seed a prompt whose answers are "
                 "read from the target's next-token distribution by its nearest training "
                 "examples (kNN prompting; one call per training example).")

EXPORT_HELP = ("Also write the optimized prompt as JSON a program can run elsewhere "
               "(instruction, demonstrations or the pool they are picked from).")


def optimize(
    prompt: Annotated[str, typer.Argument(help=PROMPT_HELP)] = "",
    task: Annotated[str | None, typer.Option(help="Labelled task file (JSONL {input, output}, "
                                             "BIG-Bench Hard or instruction-induction JSON).")]
    = None,
    generations: Annotated[int, typer.Option(help="Evolution generations.")] = 3,
    population: Annotated[int, typer.Option(help="Candidates per generation.")] = 4,
    voters: Annotated[int, typer.Option(help="Validators voting on each candidate.")] = 3,
    min_agreement: Annotated[float, typer.Option(help="Share of votes needed (0-1].")] = 0.5,
    vote_rule: Annotated[str, typer.Option(help=f"How ballots are tallied: {', '.join(RULES)}.")]
    = "majority",
    debate_rounds: Annotated[int, typer.Option(help="Re-votes when no consensus.")] = 1,
    budget: Annotated[int | None, typer.Option(help="Most model calls to spend.")] = None,
    time_limit: Annotated[float | None, typer.Option(help=TIME_LIMIT_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Seed for splits and operators.")] = 0,
    agents: Annotated[bool, typer.Option(
        help="--no-agents: search only (seeds, racing, operators), no analyst, creative or "
             "validator calls; needs --task.")] = True,
    scorer: Annotated[str | None, typer.Option(help=SCORER_HELP)] = None,
    train_evidence: Annotated[bool, typer.Option(help=TRAIN_EVIDENCE_HELP)] = False,
    knn_seed: Annotated[bool, typer.Option(help=KNN_SEED_HELP)] = False,
    resume: Annotated[str | None, typer.Option(help="Resume an interrupted run by id.")] = None,
    export: Annotated[Path | None, typer.Option(help=EXPORT_HELP)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Improve a prompt: analysts, rewrites, validator votes and evolution; prints the result."""
    current = settings()
    state: dict[str, Any] | None = None
    if not resume:
        state = {"prompt": read_text_arg(prompt), "task": task, "generations": generations,
                 "population": population, "voters": voters, "min_agreement": min_agreement,
                 "vote_rule": vote_rule, "debate_rounds": debate_rounds, "seed": seed,
                 "agents": agents, "scorer": scorer, "time_limit": time_limit,
                 "train_evidence": train_evidence, "knn_seed": knn_seed,
                 "budget": current.budgets.max_model_calls if budget is None else budget}
        _check_request(state, current.budgets.structured_attempts)
    if export is not None:
        check_export_path(export)
    result = _run_or_fail(current, state, resume)
    if export is not None:
        export_result(result, export)
    if as_json:
        print_json(result)
    else:
        render_result(console, result)
    if result.get("stop_reason") == "model failure":
        # The result above is what was kept; the job itself failed.
        fail(f"the run failed: see the notes above (run {result.get('run_id')} is marked "
             "failed)")


def _run_or_fail(current: Settings, state: dict[str, Any] | None, resume: str | None
                 ) -> dict[str, Any]:
    """``run_optimize``'s result, or one line and the exit code for why there is none."""
    from neuroforge.knowledge.db import DatabaseError
    from neuroforge.models.backends import ModelError

    try:
        # Progress goes to stderr in --json mode too: stdout stays one JSON object.
        return run_optimize(current, state, resume=resume, progress=errors)
    except RunInterrupted as stopped:
        fail("interrupted; progress is saved. Continue with "
             f"`neuroforge optimize --resume {stopped.run_id}`", 130)
    except RunStopped as stopped:
        fail(f"{stopped.reason}. Progress is saved; once the backend answers, continue with "
             f"`neuroforge optimize --resume {stopped.run_id}`")
    except LookupError as exc:
        fail(str(exc), 2)
    except (DatabaseError, ModelError) as exc:
        fail(str(exc))


def _check_request(state: dict[str, Any], attempts: int) -> None:
    """Refuse bad options, an unreadable task or a budget below one generation (exit 2)."""
    from neuroforge.graphs.optimize import (
        DEV_SIZE,
        OptimizeInputError,
        check_budget,
        check_task_size,
        resolve_options,
    )
    from neuroforge.knowledge.datasets import TaskFileError, load_task

    task = state.get("task")
    try:
        opts = resolve_options(state)  # type: ignore[arg-type]
        loaded = load_task(task, dev_size=DEV_SIZE) if task else None
        if loaded is not None:
            check_task_size(loaded)
        check_budget(opts, len(loaded.dev) if loaded else 0, attempts)
    except (OptimizeInputError, TaskFileError) as exc:
        fail(str(exc), 2)


def lineage(
    run_id: Annotated[str, typer.Argument(help="Run id printed by `neuroforge optimize`.")],
    mermaid: Annotated[bool, typer.Option("--mermaid", help="Print a mermaid flowchart.")]
    = False,
    as_json: JsonFlag = False,
) -> None:
    """Print the prompt lineage of an optimization run as a tree (or mermaid, or JSON)."""
    from neuroforge.knowledge.lineage import (
        LineageError,
        lineage_graph,
        lineage_mermaid,
        lineage_text,
    )
    from neuroforge.wiring import open_store

    with open_store(settings()).session() as session:
        try:
            graph = lineage_graph(session, run_id)
        except LineageError as exc:
            fail(str(exc), 2)
    if as_json:
        print_json({"run_id": run_id,
                    "versions": [{"id": n, **data} for n, data in graph.nodes(data=True)],
                    "edges": [{"parent": a, "child": b} for a, b in graph.edges()]})
        return
    sys.stdout.write((lineage_mermaid(graph) if mermaid else lineage_text(graph)) + "\n")


def demo() -> None:
    """The main job offline: optimize an instruction on a small labelled task with the
    embedded model, and compare it on held-out examples with what you get for free."""
    from neuroforge.doctor import run_checks
    from neuroforge.knowledge.datasets import human_instructions

    current = settings().model_copy(update={"backend": "embedded"})
    if not DEMO_TASK.is_file():
        fail(f"the demo's data ships with the repository ({DEMO_TASK}); run `make demo` "
             "from a clone", 2)
    console.rule("NeuroForge demo: prompt optimization on the embedded model (offline)")
    checks = run_checks(current)
    for check in checks:
        console.print(f"{check.status:4} {check.name}: {check.detail}", highlight=False)
    for check in checks:
        if check.name == "embedded model" and check.status == "fail":
            fail(f"the demo needs the embedded model: {check.detail}; {check.fix}")
    instruction = human_instructions(DEMO_TASK)[0]  # the first human annotation, as written
    console.print(f"\ntask: {DEMO_TASK.stem} (examples/data, instruction induction)\n"
                  f"starting instruction (a person's): [bold]{instruction}[/]\n")
    state = {"prompt": instruction, "task": str(DEMO_TASK), "generations": 1,
             "population": 3, "voters": 3, "budget": 200}
    result = run_optimize(current, state, resume=None, progress=errors)
    render_result(console, result)
    errors.print("scoring the free baseline (the instruction plus 3 random training "
                 "examples, 3 seeds) on the same held-out examples ...")
    free = free_baseline(current, instruction)
    table = Table("held-out test accuracy", "", title=f"{free['examples']} held-out examples, "
                  "scorer 'contains', same target model", title_justify="left")
    table.add_row("the instruction alone", f"{result['test_original']:.0%}")
    table.add_row("+ 3 random training examples (free)",
                  f"{free['accuracy']:.0%} (seeds: "
                  + ", ".join(f"{a:.0%}" for a in free["per_seed"]) + ")")
    table.add_row("optimized", f"{result['test_optimized']:.0%}")
    console.print(table)
    lineage(result["run_id"], mermaid=False, as_json=False)


def free_baseline(current: Settings, instruction: str) -> dict[str, Any]:
    """The free few-shot baseline on the demo task's held-out split, same target model."""
    from neuroforge.agents.optimizer import few_shot_baseline
    from neuroforge.graphs.optimize import DEV_SIZE
    from neuroforge.knowledge.datasets import load_task
    from neuroforge.tools.prompt_eval import task_answers
    from neuroforge.wiring import model_factory

    task = load_task(DEMO_TASK, dev_size=DEV_SIZE)
    target = model_factory(current)("target", 0.0)
    return {**few_shot_baseline(target, instruction, task.train, task.test,
                                gold_answers=task_answers(task)),
            "examples": len(task.test)}


def run_optimize(settings: Settings, state: dict[str, Any] | None, *, resume: str | None,
                 progress: Console | None) -> dict[str, Any]:
    """Run (or resume) one optimization under the checkpointer; returns the result dict.

    Raises ``RunInterrupted`` (with the run id) after Ctrl-C and ``RunStopped`` when a
    backend is down before a step can handle it, the run marked interrupted in both;
    ``LookupError`` when ``resume`` names no resumable run.
    """
    from langchain_core.runnables import RunnableConfig

    from neuroforge.graphs.optimize import create_optimize_graph
    from neuroforge.graphs.paused_time import PAUSED_KEY, paused_seconds, working_clock
    from neuroforge.knowledge.records import mark_interrupted
    from neuroforge.knowledge.schema import new_id
    from neuroforge.models.backends import ModelError
    from neuroforge.wiring import checkpointer, open_store, optimize_deps

    store = open_store(settings)
    run_id = resume or new_id()
    config: RunnableConfig = {"configurable": {"thread_id": f"optimize-{run_id}"},
                              "recursion_limit": 200}
    with checkpointer(settings) as saver:
        deps = optimize_deps(settings, store)
        graph = create_optimize_graph(deps).compile(checkpointer=saver)
        inputs: dict[str, Any] | None = {**(state or {}), "run_id": run_id}
        paused = 0.0
        if resume:
            snapshot = graph.get_state(config)
            if not snapshot.values:
                raise LookupError(f"no optimization run {resume!r} to resume; "
                                  "`neuroforge runs` lists run ids")
            # Finished means a result, not an empty `next`: pending Send branches (a
            # parallel step cut short) show up in `tasks` while `next` is empty.
            if "result" in snapshot.values and not snapshot.tasks:
                return dict(snapshot.values["result"])
            inputs = None
            # The time limit counts working time: the pause since Ctrl-C is not spent.
            paused = paused_seconds(snapshot.metadata, snapshot.created_at, deps.clock())
            deps.clock = working_clock(deps.clock, paused)
        config["metadata"] = {PAUSED_KEY: paused}
        try:
            with stop_on_interrupt(deps.stop, progress):
                for update in graph.stream(inputs, config, stream_mode="updates"):
                    _show_progress(progress, update)
        except KeyboardInterrupt:
            with store.session() as session:
                mark_interrupted(session, run_id)
            raise RunInterrupted(run_id) from None
        except ModelError as exc:
            # Raised where a step builds its model (a configured backend that is down),
            # before the step's own handling: the last checkpoint holds all work done.
            with store.session() as session:
                mark_interrupted(session, run_id)
            raise RunStopped(run_id, str(exc)) from None
        return dict(graph.get_state(config).values["result"])


def _show_progress(console: Console | None, update: dict[str, Any]) -> None:
    if console is None:
        return
    for node, values in update.items():
        for event in (values or {}).get("events", []) if isinstance(values, dict) else []:
            console.print(f"[dim]{node:>8}[/] {event}", highlight=False)
