"""LangChain tools the agents call, and the functions behind them.

Public modules: ``prompt_eval`` (score a prompt on labelled examples),
``nearest_demos`` (dynamic few-shot: per input, the nearest training examples),
``answer_choices`` (replies held to a task's closed answer set), ``knn_answers``
(closed-set answers read by the nearest training examples' next-token distributions:
kNN prompting) and the
``router`` sub-package (the PyTorch neural router and its ``route_task`` tool).
Tools import nothing from agents, graphs or the shell.
"""

__all__ = ["answer_choices", "knn_answers", "nearest_demos", "prompt_eval", "router"]
