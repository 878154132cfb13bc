"""The PyTorch neural router: features, network, training, evaluation, decisions, tool."""

__all__ = ["data", "evaluate", "features", "net", "pipeline", "router", "tool", "train"]
