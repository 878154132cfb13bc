"""The PyTorch neural router: features, network, training, evaluation, decisions, tool,
and safe adoption of retrained weights (``adoption``)."""

__all__ = [
    "adoption", "data", "evaluate", "features", "net", "pipeline", "router", "tool", "train",
]
