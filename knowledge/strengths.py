"""The knowledge graph of model strengths, built from finished experiment runs.

Nodes are models, prompt categories and datasets; an edge model -> category (or
model -> dataset) carries the mean primary metric over every cell that measured
it, weighted by examples, and how many runs and examples stand behind it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import networkx as nx
from sqlalchemy import select
from sqlalchemy.orm import Session

from neuroforge.knowledge.schema import Run

__all__ = ["strength_graph", "strongest_models"]


def strength_graph(session: Session) -> nx.DiGraph:
    """Model-task strengths from every experiment run that stored its analysis."""
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    runs = session.scalars(select(Run).where(Run.graph == "experiment",
                                             Run.status.in_(("succeeded", "partial")))).all()
    for run in runs:
        analysis = (run.outputs or {}).get("analysis") or {}
        primary = analysis.get("primary_metric", "accuracy")
        dataset = (run.inputs or {}).get("dataset_name", "dataset")
        for cell in analysis.get("cells", {}).values():
            value, weight = cell.get(primary), cell.get("examples", 0)
            if value is None or not weight:
                continue
            for target in (f"category:{cell['category']}", f"dataset:{dataset}"):
                entry = totals[(cell["model"], target)]
                entry[0] += value * weight
                entry[1] += weight
                entry[2] += 1
    graph = nx.DiGraph()
    for (model, target), (weighted, examples, cells) in totals.items():
        graph.add_node(f"model:{model}", kind="model", name=model)
        kind, name = target.split(":", 1)
        graph.add_node(target, kind=kind, name=name)
        graph.add_edge(f"model:{model}", target, strength=round(weighted / examples, 4),
                       examples=int(examples), cells=int(cells))
    return graph


def strongest_models(graph: nx.DiGraph, target: str) -> list[dict[str, Any]]:
    """Models ranked by strength on ``target`` ("category:NAME" or "dataset:NAME")."""
    if target not in graph:
        return []
    ranked = sorted(graph.in_edges(target, data=True), key=lambda e: -e[2]["strength"])
    return [{"model": graph.nodes[source]["name"], **data} for source, _, data in ranked]
