"""Prompt lineage of a run as a networkx graph, printed as a text tree or mermaid."""

from __future__ import annotations

import networkx as nx
from sqlalchemy import select
from sqlalchemy.orm import Session

from neuroforge.knowledge.schema import PromptVersion, Run

__all__ = ["LineageError", "lineage_graph", "lineage_mermaid", "lineage_text"]


class LineageError(LookupError):
    """The run does not exist or recorded no prompt versions."""


def lineage_graph(session: Session, run_id: str) -> nx.DiGraph:
    """Nodes are prompt versions (with text, origin, generation, scores); edges parent -> child."""
    if session.get(Run, run_id) is None:
        raise LineageError(f"no run {run_id!r}; list runs with `neuroforge runs`")
    versions = session.scalars(select(PromptVersion).where(PromptVersion.run_id == run_id)).all()
    if not versions:
        raise LineageError(f"run {run_id!r} recorded no prompt versions")
    graph = nx.DiGraph(run_id=run_id)
    for v in versions:
        graph.add_node(v.id, text=v.text, origin=v.origin, generation=v.generation,
                       score=v.score, **(v.details or {}))
    for v in versions:
        for parent in v.parents:
            graph.add_edge(parent.id, v.id)
    return graph


def _label(graph: nx.DiGraph, node: str) -> str:
    data = graph.nodes[node]
    score = data.get("score")
    parts = [f"{node} g{data.get('generation', 0)} {data.get('origin', '?')}"]
    if score is not None:
        parts.append(f"score {score:.2f}")
    elif data.get("note"):
        parts.append(f"unscored: {data['note']}")
    if data.get("accepted"):
        parts.append("accepted")
    if data.get("final"):
        parts.append("FINAL")
    return ", ".join(parts)


def lineage_text(graph: nx.DiGraph, width: int = 70) -> str:
    """An indented tree; a child with two parents appears under each, marked the second time."""
    lines: list[str] = []
    seen: set[str] = set()

    def walk(node: str, depth: int) -> None:
        text = " ".join(graph.nodes[node].get("text", "").split())
        snippet = text if len(text) <= width else text[: width - 3] + "..."
        again = node in seen
        lines.append(f"{'  ' * depth}- {_label(graph, node)}{' (see above)' if again else ''}")
        if again:
            return
        seen.add(node)
        lines.append(f"{'  ' * depth}  \"{snippet}\"")
        for child in sorted(graph.successors(node)):
            walk(child, depth + 1)

    roots = sorted(n for n in graph.nodes if graph.in_degree(n) == 0)
    for root in roots:
        walk(root, 0)
    return "\n".join(lines)


def lineage_mermaid(graph: nx.DiGraph) -> str:
    """A mermaid flowchart of the lineage."""
    lines = ["graph TD"]
    for node in sorted(graph.nodes):
        label = _label(graph, node).replace('"', "'")
        lines.append(f'    {node}["{label}"]')
    for parent, child in sorted(graph.edges):
        lines.append(f"    {parent} --> {child}")
    return "\n".join(lines)
