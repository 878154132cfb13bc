"""The working time of a run that was stopped and resumed.

A run's time limit counts from its start (``options.started_at``, kept in its
checkpoints). A run resumed a day after Ctrl-C would otherwise find its limit long spent
and stop at once. The pauses are kept in the checkpoints' metadata (LangGraph copies the
run config's ``metadata`` into every checkpoint it writes), so they add up over any
number of resumes; the run's clock is shifted back by their sum.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["PAUSED_KEY", "paused_seconds", "working_clock"]

PAUSED_KEY = "paused_seconds"


def paused_seconds(metadata: Mapping[str, Any] | None, checkpoint_at: str | None,
                   now: float) -> float:
    """Seconds the run has not been running by ``now``: the pauses its last checkpoint
    recorded, plus the time since that checkpoint (work after it was lost and is redone,
    so it is not counted either)."""
    before = float((metadata or {}).get(PAUSED_KEY) or 0.0)
    if not checkpoint_at:
        return before
    return before + max(0.0, now - datetime.fromisoformat(checkpoint_at).timestamp())


def working_clock(clock: Callable[[], float], paused: float) -> Callable[[], float]:
    """``clock`` less ``paused`` seconds: the time the run has been running."""
    return lambda: clock() - paused
