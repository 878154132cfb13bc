"""``neuroforge optimize | lineage | demo``: improve a prompt, resumable by run id."""

from __future__ import annotations

import sys
import threading
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from neuroforge.agents.consensus import RULES
from neuroforge.cli.common import (
    JsonFlag,
    RunInterrupted,
    console,
    errors,
    fail,
    print_json,
    read_text_arg,
    settings,
    stop_on_interrupt,
)
from neuroforge.settings import Settings

__all__ = ["demo", "lineage", "optimize", "render_result", "run_optimize"]

DEMO_PROMPT = "Write about dogs."


def optimize(
    prompt: Annotated[str, typer.Argument(help="The prompt to improve, or - to read stdin.")]
    = "",
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
    seed: Annotated[int, typer.Option(help="Seed for splits and operators.")] = 0,
    resume: Annotated[str | None, typer.Option(help="Resume an interrupted run by id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Improve a prompt: analysts, rewrites, validator votes and evolution; prints the result."""
    from neuroforge.graphs.optimize import (
        DEV_SIZE,
        OptimizeInputError,
        check_budget,
        resolve_options,
    )
    from neuroforge.knowledge.datasets import TaskFileError, load_task
    from neuroforge.knowledge.db import DatabaseError
    from neuroforge.models.backends import ModelError

    current = settings()
    state: dict[str, Any] | None = None
    if not resume:
        state = {"prompt": read_text_arg(prompt), "task": task, "generations": generations,
                 "population": population, "voters": voters, "min_agreement": min_agreement,
                 "vote_rule": vote_rule, "debate_rounds": debate_rounds, "seed": seed,
                 "budget": current.budgets.max_model_calls if budget is None else budget}
        try:
            opts = resolve_options(state)  # type: ignore[arg-type]
            dev = len(load_task(task, dev_size=DEV_SIZE).dev) if task else 0
            check_budget(opts, dev, current.budgets.structured_attempts)
        except (OptimizeInputError, TaskFileError) as exc:
            fail(str(exc), 2)
    try:
        # Progress goes to stderr in --json mode too: stdout stays one JSON object.
        result = run_optimize(current, state, resume=resume, progress=errors)
    except RunInterrupted as stopped:
        fail("interrupted; progress is saved. Continue with "
             f"`neuroforge optimize --resume {stopped.run_id}`", 130)
    except LookupError as exc:
        fail(str(exc), 2)
    except (DatabaseError, ModelError) as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    else:
        render_result(console, result)


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
    """The main job offline: optimize a prompt with the embedded model, then show its lineage."""
    from neuroforge.doctor import run_checks

    current = settings().model_copy(update={"backend": "embedded"})
    console.rule("NeuroForge demo: prompt optimization on the embedded model (offline)")
    for check in run_checks(current):
        console.print(f"{check.status:4} {check.name}: {check.detail}", highlight=False)
    console.print(f"\noptimizing: [bold]{DEMO_PROMPT}[/]\n")
    state = {"prompt": DEMO_PROMPT, "generations": 2, "population": 3, "voters": 3,
             "budget": 120}
    result = run_optimize(current, state, resume=None, progress=errors)
    render_result(console, result)
    lineage(result["run_id"], mermaid=False, as_json=False)


def run_optimize(settings: Settings, state: dict[str, Any] | None, *, resume: str | None,
                 progress: Console | None) -> dict[str, Any]:
    """Run (or resume) one optimization under the checkpointer; returns the result dict.

    Raises ``RunInterrupted`` (with the run id) after Ctrl-C, the run marked
    interrupted, and ``LookupError`` when ``resume`` names no resumable run.
    """
    from langchain_core.runnables import RunnableConfig

    from neuroforge.graphs.optimize import create_optimize_graph
    from neuroforge.knowledge.records import mark_interrupted
    from neuroforge.knowledge.schema import new_id
    from neuroforge.wiring import checkpointer, open_store, optimize_deps

    store = open_store(settings)
    run_id = resume or new_id()
    config: RunnableConfig = {"configurable": {"thread_id": f"optimize-{run_id}"},
                              "recursion_limit": 200}
    with checkpointer(settings) as saver:
        graph = create_optimize_graph(optimize_deps(settings, store)).compile(checkpointer=saver)
        inputs: dict[str, Any] | None = {**(state or {}), "run_id": run_id}
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
        try:
            with stop_on_interrupt(threading.Event(), progress):
                for update in graph.stream(inputs, config, stream_mode="updates"):
                    _show_progress(progress, update)
        except KeyboardInterrupt:
            with store.session() as session:
                mark_interrupted(session, run_id)
            raise RunInterrupted(run_id) from None
        return dict(graph.get_state(config).values["result"])


def _show_progress(console: Console | None, update: dict[str, Any]) -> None:
    if console is None:
        return
    for node, values in update.items():
        for event in (values or {}).get("events", []) if isinstance(values, dict) else []:
            console.print(f"[dim]{node:>8}[/] {event}", highlight=False)


def render_result(console: Console, result: dict[str, Any]) -> None:
    """The optimized prompt, its score against the original, the votes, calls and time."""
    console.print(Panel(result["optimized"], title="optimized prompt", expand=False))
    console.print(f"{result['score_kind']}: original {result['original_score']:.2f} -> "
                  f"optimized {result['optimized_score']:.2f}"
                  + ("" if result["changed"] else " (no candidate beat the original)"))
    if result.get("test_original") is not None:
        console.print(f"held-out test accuracy: original {result['test_original']:.0%} -> "
                      f"optimized {result['test_optimized']:.0%}")
    consensus = result.get("consensus") or {}
    if consensus and consensus.get("winner") == result.get("optimized_id"):
        console.print(f"consensus ({consensus['rule']}): {consensus['reason']}", highlight=False)
    elif consensus:
        # The last round's vote is not the final word: the final prompt is the best
        # accepted candidate over every round (the original when none was accepted).
        console.print(f"final prompt {result.get('optimized_id')}: the best accepted candidate "
                      f"by {result['score_kind']} over all rounds (the last round's vote, "
                      f"{consensus['rule']}, did not pick it)", highlight=False)
    if result["votes"]:
        table = Table("candidate", "voter", "round", "decision", "score", "rationale")
        for vote in result["votes"]:
            table.add_row(vote["candidate_id"], vote["voter"], str(vote["round"]),
                          vote["decision"],
                          "-" if vote["score"] is None else f"{vote['score']:.0f}",
                          vote["rationale"][:70])
        console.print(table)
    console.print(f"stopped: {result['stop_reason']}; {result['generations']} generation(s), "
                  f"{result['calls_used']} model calls, {result['seconds']:.1f} s; "
                  f"run {result['run_id']} (see `neuroforge lineage {result['run_id']}`)")
    if result["stop_reason"] == "budget exhausted":
        console.print("[yellow]note:[/] the call budget ran out; this is the best prompt so far. "
                      "Raise --budget (or NEUROFORGE_BUDGETS__MAX_MODEL_CALLS) to search further.")
    for error in result.get("errors", []):
        console.print(f"[yellow]note:[/] {error}", highlight=False)
