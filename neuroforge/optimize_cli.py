"""``neuroforge optimize``: run the optimize graph with live progress, resumable by run id."""

from __future__ import annotations

import sys
from typing import Any

from langchain_core.runnables import RunnableConfig
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from neuroforge.settings import Settings

__all__ = ["read_prompt", "render_result", "run_optimize"]


def read_prompt(prompt: str) -> str:
    """The prompt argument, or standard input when it is ``-``."""
    if prompt == "-":
        return sys.stdin.read()
    return prompt


def run_optimize(
    settings: Settings,
    state: dict[str, Any] | None,
    *,
    resume: str | None,
    progress: Console | None,
) -> dict[str, Any]:
    """Run (or resume) one optimization; returns the result dict.

    Raises ``KeyboardInterrupt`` after marking the run interrupted, and
    ``LookupError`` when ``resume`` names no resumable run.
    """
    from graphs.optimize import create_optimize_graph
    from knowledge.schema import new_id
    from neuroforge.runtime import checkpointer, open_store, optimize_deps

    store = open_store(settings)
    run_id = resume or new_id()
    config: RunnableConfig = {"configurable": {"thread_id": f"optimize-{run_id}"},
                              "recursion_limit": 200}
    with checkpointer(settings) as saver:
        graph = create_optimize_graph(optimize_deps(settings, store)).compile(checkpointer=saver)
        if resume:
            snapshot = graph.get_state(config)
            if not snapshot.values:
                raise LookupError(f"no optimization run {resume!r} to resume")
            if not snapshot.next:
                return dict(snapshot.values["result"])
            inputs: dict[str, Any] | None = None
        else:
            inputs = {**(state or {}), "run_id": run_id}
        try:
            for update in graph.stream(inputs, config, stream_mode="updates"):
                _show_progress(progress, update)
        except KeyboardInterrupt:
            _mark_interrupted(store, run_id)
            raise
        return dict(graph.get_state(config).values["result"])


def _show_progress(console: Console | None, update: dict[str, Any]) -> None:
    if console is None:
        return
    for node, values in update.items():
        for event in (values or {}).get("events", []) if isinstance(values, dict) else []:
            console.print(f"[dim]{node:>8}[/] {event}", highlight=False)


def _mark_interrupted(store: Any, run_id: str) -> None:
    from knowledge.schema import Run

    with store.session() as session:
        run = session.get(Run, run_id)
        if run is not None and run.status == "running":
            run.status = "interrupted"


def render_result(console: Console, result: dict[str, Any]) -> None:
    """The optimized prompt, its score against the original, the votes, calls and time."""
    console.print(Panel(result["optimized"], title="optimized prompt", expand=False))
    kind = result["score_kind"]
    console.print(f"{kind}: original {result['original_score']:.2f} -> "
                  f"optimized {result['optimized_score']:.2f}"
                  + ("" if result["changed"] else " (no candidate beat the original)"))
    if result.get("test_original") is not None:
        console.print(f"held-out test accuracy: original {result['test_original']:.0%} -> "
                      f"optimized {result['test_optimized']:.0%}")
    consensus = result.get("consensus") or {}
    if consensus:
        console.print(f"consensus ({consensus['rule']}): {consensus['reason']}", highlight=False)
    if result["votes"]:
        table = Table("voter", "round", "decision", "score", "rationale")
        for vote in result["votes"]:
            table.add_row(vote["voter"], str(vote["round"]), vote["decision"],
                          "-" if vote["score"] is None else f"{vote['score']:.0f}",
                          vote["rationale"][:80])
        console.print(table)
    console.print(f"stopped: {result['stop_reason']}; {result['generations']} generation(s), "
                  f"{result['calls_used']} model calls, {result['seconds']:.1f} s; "
                  f"run {result['run_id']} (see `neuroforge lineage {result['run_id']}`)")
    if result["stop_reason"] == "budget exhausted":
        console.print("[yellow]note:[/] the call budget ran out; this is the best prompt so far. "
                      "Raise --budget (or NEUROFORGE_BUDGETS__MAX_MODEL_CALLS) to search further.")
    for error in result.get("errors", []):
        console.print(f"[yellow]note:[/] {error}", highlight=False)
