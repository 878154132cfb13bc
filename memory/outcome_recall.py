"""Routing outcomes in long-term memory: remembered per (task, model), recalled by meaning."""

from __future__ import annotations

from dataclasses import dataclass

from neuroforge.memory.long_term import LongTermMemory

__all__ = ["RecalledOutcome", "recall_outcomes", "remember_outcome"]


@dataclass(frozen=True)
class RecalledOutcome:
    """A past outcome and how similar its task is to the new one (cosine)."""

    task: str
    model: str
    quality: float
    similarity: float


def remember_outcome(memory: LongTermMemory, task: str, model: str, quality: float,
                     latency_ms: float | None = None) -> None:
    """Keep how well ``model`` did on ``task``; repeats of a similar task average out."""
    details = {"model": model, "quality": float(quality)}
    if latency_ms is not None:
        details["latency_ms"] = round(latency_ms, 1)
    memory.remember(task[:4000], "routing", None, details, subject=model)


def recall_outcomes(memory: LongTermMemory, task: str, *, k: int = 20,
                    min_similarity: float = 0.5) -> list[RecalledOutcome]:
    """Up to ``k`` outcomes of the tasks most similar to ``task``, best match first."""
    found = memory.recall(task[:4000], k, kind="routing", min_similarity=min_similarity)
    return [RecalledOutcome(m.text, str(m.details["model"]), float(m.details["quality"]),
                            float(m.similarity or 0.0))
            for m in found if "model" in m.details and "quality" in m.details]
