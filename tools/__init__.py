"""LangChain tools the agents call, and the functions behind them.

Tools import nothing from agents, graphs or neuroforge.
"""

__all__ = ["prompt_eval", "router"]
