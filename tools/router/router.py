"""Routing decisions: the neural router and the rule-based fallback, behind one interface."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuroforge.knowledge.registry import ModelSummary
from neuroforge.tools.router.features import featurize, text_features
from neuroforge.tools.router.net import RouterEnsemble, RouterMeta, load_router

__all__ = [
    "ModelOption",
    "NeuralRouter",
    "RouteDecision",
    "Router",
    "RuleRouter",
    "parameter_count",
    "route_options",
]


@dataclass(frozen=True)
class ModelOption:
    """A model the router may choose: its name, relative cost (0-1) and size if known."""

    name: str
    cost: float = 0.5
    parameters: float | None = None


@dataclass(frozen=True)
class RouteDecision:
    """The chosen model, every option's score, and how the choice was made."""

    model: str
    scores: dict[str, float]
    confidence: float
    method: str
    reason: str
    quality_weight: float = 1.0
    predicted_quality: dict[str, float] = field(default_factory=dict)


def parameter_count(label: str | None) -> float | None:
    """'3.2B' -> 3.2e9, '494.03M' -> 4.94e8, 'smollm2-135m' -> 1.35e8; None if unknown."""
    if not label:
        return None
    match = re.search(r"(\d+(?:\.\d+)?)\s*([bm])\b", label.lower())
    if not match:
        return None
    return float(match.group(1)) * (1e9 if match.group(2) == "b" else 1e6)


class Router(ABC):
    """Chooses a model for a prompt among ``options``."""

    @abstractmethod
    def route(self, prompt: str, options: list[ModelOption], cost_weight: float = 0.0
              ) -> RouteDecision:
        """The decision; ``cost_weight`` (lambda) trades predicted quality against cost."""


class RuleRouter(Router):
    """Fallback without learning: hard-looking prompts (code, math, long) go to the largest
    model, everything else to the cheapest."""

    def route(self, prompt: str, options: list[ModelOption], cost_weight: float = 0.0,
              why: str = "no trained router") -> RouteDecision:
        if not options:
            raise ValueError("no models to route between")
        f = text_features(prompt)
        hard = f[2] > 0 or f[3] > 0 or len(prompt) > 1500
        by_size = sorted(options, key=lambda o: (o.parameters or 0.0, -o.cost))
        by_cost = sorted(options, key=lambda o: (o.cost, o.parameters or 0.0))
        chosen = by_size[-1] if hard else by_cost[0]
        kind = "code/math/long prompt -> largest model" if hard else "plain prompt -> cheapest"
        scores = {o.name: 1.0 if o.name == chosen.name else 0.0 for o in options}
        return RouteDecision(chosen.name, scores, 0.5, "fallback", f"rules ({why}): {kind}")


class NeuralRouter(Router):
    """The trained ``RouterEnsemble``; falls back to rules below ``threshold`` confidence."""

    def __init__(self, net: RouterEnsemble, meta: RouterMeta, threshold: float = 0.35,
                 cache_dir: Path | None = None) -> None:
        self.net, self.meta, self.threshold, self.cache_dir = net, meta, threshold, cache_dir
        self.fallback = RuleRouter()

    @classmethod
    def from_file(cls, path: Path, threshold: float = 0.35) -> NeuralRouter:
        """Load weights written by ``router train``."""
        net, meta = load_router(path)
        return cls(net, meta, threshold)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Calibrated predicted quality, shape (n, known models)."""
        return self.net.predict(features)

    def route(self, prompt: str, options: list[ModelOption], cost_weight: float = 0.0
              ) -> RouteDecision:
        known = [o for o in options if o.name in self.meta.models]
        if not known:
            return self.fallback.route(prompt, options, cost_weight,
                                       why="the trained router knows none of these models")
        predicted = self.predict(featurize([prompt]))[0]
        quality = {o.name: float(predicted[self.meta.models.index(o.name)]) for o in known}
        # Unit costs measured in the training table beat the size-based guess.
        trained = dict(zip(self.meta.models, self.meta.costs, strict=True))
        scores = {o.name: quality[o.name] - cost_weight * trained.get(o.name, o.cost)
                  for o in known}
        best = max(scores, key=lambda name: scores[name])
        confidence = quality[best]
        if confidence < self.threshold:
            decision = self.fallback.route(
                prompt, options, cost_weight,
                why=f"neural confidence {confidence:.2f} < {self.threshold:.2f}")
            return RouteDecision(decision.model, decision.scores, confidence, "fallback",
                                 decision.reason, cost_weight, quality)
        reason = (f"predicted quality {confidence:.2f}"
                  + (f", cost weight {cost_weight:g}" if cost_weight else ""))
        return RouteDecision(best, {k: round(v, 4) for k, v in scores.items()},
                             round(confidence, 4), "neural", reason, cost_weight,
                             {k: round(v, 4) for k, v in quality.items()})



def route_options(models: Sequence[ModelSummary]) -> list[dict[str, Any]]:
    """Available registry models as routing options: size, profile figures and a cost.

    Cost is the log parameter count scaled to 0-1 over the models offered (0.5 when
    sizes are unknown or all equal), so the cost knob means the same for any set.
    """
    options: list[dict[str, Any]] = []
    for m in models:
        if not m.available:
            continue
        label = m.details.get("parameter_size") or m.name
        params = parameter_count(label)
        profile = m.profile or {}
        options.append({"name": m.name, "parameters": params,
                        "parameters_label": m.details.get("parameter_size") or (
                            f"{params / 1e6:.0f}M" if params else None),
                        "latency_p50_ms": profile.get("latency_p50_ms"),
                        "structured_valid_rate": profile.get("structured_valid_rate")})
    sizes = [math.log10(float(o["parameters"])) for o in options if o["parameters"]]
    low, high = (min(sizes), max(sizes)) if sizes else (0.0, 0.0)
    for o in options:
        size = math.log10(float(o["parameters"])) if o["parameters"] else None
        o["cost"] = 0.5 if size is None or high == low else round((size - low) / (high - low), 4)
    return options
