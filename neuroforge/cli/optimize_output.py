"""How an optimization result is printed: the prompt, scores, guard, votes and calls."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

__all__ = ["render_result"]


def render_result(console: Console, result: dict[str, Any]) -> None:
    """The optimized prompt, its score against the original, the votes, calls and time."""
    console.print(Panel(result["optimized"], title="optimized prompt", expand=False))
    console.print(f"{result['score_kind']}: original {result['original_score']:.2f} -> "
                  f"optimized {result['optimized_score']:.2f}"
                  + ("" if result["changed"] else " (no candidate beat the original)"))
    guard = result.get("guard")
    if guard:
        console.print(f"{'adopted' if guard['adopted'] else 'kept the original'}: "
                      f"{guard['reason']}", highlight=False)
    if result.get("test_original") is not None:
        console.print(f"held-out test accuracy: original {result['test_original']:.0%} -> "
                      f"optimized {result['test_optimized']:.0%}")
    consensus = {} if guard else result.get("consensus") or {}  # with a task the guard decides
    if consensus and consensus.get("winner") == result.get("optimized_id"):
        console.print(f"consensus ({consensus['rule']}): {consensus['reason']}", highlight=False)
    elif consensus:
        # The last round's vote is not the final word: the final prompt is the best
        # accepted candidate over every round (the original when none was accepted).
        console.print(f"final prompt {result.get('optimized_id')}: the best accepted candidate "
                      f"by {result['score_kind']} over all rounds (the last round's vote, "
                      f"{consensus['rule']}, did not pick it)", highlight=False)
    if result["votes"]:
        table = Table("candidate", "voter", "gen", "round", "decision", "score", "rationale",
                      title=_votes_title(result), title_justify="left")
        for vote in result["votes"]:
            table.add_row(vote["candidate_id"], vote["voter"], str(vote.get("generation", "")),
                          str(vote["round"]), vote["decision"],
                          "-" if vote["score"] is None else f"{vote['score']:.0f}",
                          vote["rationale"][:70])
        console.print(table)
    console.print(f"stopped: {result['stop_reason']}; {result['generations']} generation(s), "
                  f"{result['calls_used']} model calls, {result['seconds']:.1f} s; "
                  f"run {result['run_id']} (see `neuroforge lineage {result['run_id']}`)")
    phases = result.get("calls_by_phase") or {}
    if phases:
        console.print("calls by phase: " + ", ".join(
            f"{name.replace('_', ' ')} {count}" for name, count in
            sorted(phases.items(), key=lambda item: -item[1])), highlight=False)
    for note in result.get("notes", []):
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    if result.get("judge"):
        console.print(f"[yellow]note:[/] without a task these are the judgements of "
                      f"{result['judge']}, not measurements. A small model's judgement is weak "
                      "(it can score an answer as a good prompt), so read them as a hint: give "
                      "--task FILE to measure accuracy on labelled examples, or set a stronger "
                      "judge (NEUROFORGE_MODELS__VALIDATOR=<a larger Ollama model>).",
                      highlight=False)
    if result["stop_reason"] == "budget exhausted":
        console.print("[yellow]note:[/] the call budget ran out; this is the best prompt so far. "
                      "Raise --budget (or NEUROFORGE_BUDGETS__MAX_MODEL_CALLS) to search further.")
    if result["stop_reason"] == "time limit reached":
        console.print("[yellow]note:[/] the time limit ran out; this is the best prompt so far. "
                      "Raise --time-limit to search further.")
    for error in result.get("errors", []):
        console.print(f"[yellow]note:[/] {error}", highlight=False)


def _votes_title(result: dict[str, Any]) -> str:
    """What the vote table shows; with a task, that the votes did not choose the prompt
    (a reader seeing the kept original rejected would think they did)."""
    title = f"validator votes on the final prompt {result.get('optimized_id', '')}".rstrip()
    if result.get("guard"):
        return (title + " (with a task, dev accuracy and the guard choose; votes only veto "
                "a candidate, and the original is their control, never vetoed)")
    return title
