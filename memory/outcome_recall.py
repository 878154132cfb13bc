"""Recall of recorded routing outcomes for tasks similar to a new one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.schema import RoutingOutcome
from memory.embeddings import embed_texts

__all__ = ["RecalledOutcome", "recall_outcomes"]


@dataclass(frozen=True)
class RecalledOutcome:
    """A past outcome and how similar its task is to the new one (cosine, 0-1)."""

    task: str
    model: str
    quality: float
    similarity: float


def recall_outcomes(session: Session, task: str, *, k: int = 20, min_similarity: float = 0.5,
                    scan: int = 5000) -> list[RecalledOutcome]:
    """Up to ``k`` outcomes of the most similar recent tasks (at least ``min_similarity``)."""
    rows = session.execute(
        select(RoutingOutcome.task, RoutingOutcome.model, RoutingOutcome.quality)
        .order_by(RoutingOutcome.created_at.desc()).limit(scan)
    ).all()
    if not rows:
        return []
    texts = sorted({row.task for row in rows})
    vectors = np.asarray(embed_texts([task, *texts]), dtype=np.float32)
    similarity = dict(zip(texts, (vectors[1:] @ vectors[0]).tolist(), strict=True))
    recalled = [RecalledOutcome(r.task, r.model, float(r.quality), float(similarity[r.task]))
                for r in rows if similarity[r.task] >= min_similarity]
    recalled.sort(key=lambda o: -o.similarity)
    return recalled[:k]
