"""The PyTorch neural router: routing tables, features, network and training, decisions,
the LangChain tool, and how routers are judged: learned baselines, the accuracy/cost
frontier with AIQ, RouteLLM's APGR, one scorecard for all, and its HTML report; plus
safe adoption of retrained weights (``adoption``)."""

__all__ = [
    "adoption", "baselines", "data", "evaluate", "features", "frontier", "net", "pipeline",
    "report", "router", "scorecard", "tool", "train",
]
