"""Performance harness: one module a figure, each with ``run() -> dict``; JSON out.

``python -m benchmarks [NAME ...]`` (or ``make bench``) runs them and writes
``benchmarks/results/NAME.json``.
"""

__all__ = [
    "cli_startup", "embedded_speed", "structured_probes", "optimizer", "optimizer_unseen",
    "optimizer_unseen_bbh", "optimizer_train_evidence", "free_prompt_choice",
    "router", "memory",
    "monitor", "experiment", "chat_recall", "route_load", "workers",
]
