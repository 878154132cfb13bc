"""``route_task``: the neural router as a LangChain tool the agents call."""

from __future__ import annotations

import json
from collections.abc import Callable

from langchain_core.tools import BaseTool, tool

from neuroforge.tools.router.router import ModelOption, Router

__all__ = ["make_route_task_tool"]


def make_route_task_tool(
    router: Router, options: Callable[[], list[ModelOption]], cost_weight: float = 0.0
) -> BaseTool:
    """A tool whose only visible argument is the task; router, models and costs stay hidden."""

    @tool
    def route_task(task: str) -> str:
        """Choose the best local model for a task before running it.

        Give the full task text. Returns JSON with the chosen model, a score for
        every available model, the confidence of the choice (0-1) and whether the
        trained router or the rule-based fallback decided.
        """
        if not task.strip():
            return json.dumps({"error": "the task is empty"})
        available = options()
        if not available:
            return json.dumps({"error": "no models are available"})
        decision = router.route(task, available, cost_weight)
        return json.dumps({"model": decision.model, "scores": decision.scores,
                           "confidence": decision.confidence, "method": decision.method,
                           "reason": decision.reason})

    return route_task
