"""The router network, the seed ensemble that routes, and its weight file.

``RouterNet`` encodes a prompt's features into a task vector and scores it
against one learned vector (and bias) per model: ``logit[m] = h . v_m + b_m``.
Any number of models works, and a new model is one new row, learnable from a
few outcomes with the encoder frozen (``add_model``). A trained router is a
``RouterEnsemble``: several nets from different seeds, each calibrated, their
probabilities averaged (on 900 training rows one seed's APGR varies by 0.07).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuroforge.tools.router.features import FEATURE_DIM, FEATURE_VERSION

__all__ = [
    "LinearRouter", "RouterEnsemble", "RouterFileError", "RouterMeta", "RouterNet", "load_router",
    "save_router",
]

FILE_FORMAT = 2


class RouterFileError(RuntimeError):
    """A router weight file is missing, corrupt, or from an incompatible version."""


class RouterNet(nn.Module):
    """Predicted quality logits for every (prompt, model) pair."""

    def __init__(self, n_models: int, feature_dim: int = FEATURE_DIM, hidden: int = 256,
                 model_dim: int = 64, dropout: float = 0.2) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Dropout(dropout / 2), nn.Linear(feature_dim, hidden), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(hidden, model_dim),
        )
        self.model_vectors = nn.Parameter(torch.randn(n_models, model_dim) * 0.05)
        self.model_bias = nn.Parameter(torch.zeros(n_models))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, n_models)."""
        return self.encoder(features) @ self.model_vectors.T + self.model_bias

    def add_model(self) -> int:
        """Append a model row initialised at the mean of the others; returns its index."""
        with torch.no_grad():
            vector = self.model_vectors.mean(dim=0, keepdim=True)
            bias = self.model_bias.mean().reshape(1)
        self.model_vectors = nn.Parameter(torch.cat([self.model_vectors.data, vector]))
        self.model_bias = nn.Parameter(torch.cat([self.model_bias.data, bias]))
        return self.model_vectors.shape[0] - 1


class LinearRouter(nn.Module):
    """One logistic regression per model on standardised features: the ensemble's wide part.

    On RouteLLM's tables a strongly regularised linear model generalises as well as the
    MLP from 900-10,000 rows; averaging the two is steadier than either.
    """

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, n_models: int, feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(feature_dim))
        self.register_buffer("scale", torch.ones(feature_dim))
        self.linear = nn.Linear(feature_dim, n_models)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, n_models)."""
        return self.linear((features - self.mean) / self.scale)


class RouterEnsemble:
    """Calibrated members (seeded MLPs, optionally a linear model), probabilities averaged
    with ``weights``; ``temperatures[i][m]`` calibrates member i's logit for model m."""

    def __init__(self, members: list[nn.Module], temperatures: list[list[float]],
                 weights: list[float] | None = None) -> None:
        if not members or len(members) != len(temperatures):
            raise ValueError("an ensemble needs one temperature row per member, and a member")
        self.members, self.temperatures = members, temperatures
        self.weights = weights or [1.0 / len(members)] * len(members)

    @property
    def kinds(self) -> list[str]:
        """'linear' or 'mlp' per member, as the weight file records them."""
        return ["linear" if isinstance(m, LinearRouter) else "mlp" for m in self.members]

    def predict(self, features: np.ndarray, batch: int = 4096) -> np.ndarray:
        """Predicted quality in [0, 1], shape (n, models)."""
        total = np.zeros((len(features), len(self.temperatures[0])))
        with torch.no_grad():
            for net, temps, weight in zip(self.members, self.temperatures, self.weights,
                                          strict=True):
                net.eval()
                scale = torch.tensor(temps, dtype=torch.float32)
                for start in range(0, len(features), batch):
                    chunk = torch.from_numpy(features[start:start + batch].astype(np.float32))
                    total[start:start + batch] += weight * torch.sigmoid(
                        net(chunk) / scale).numpy()
        return total / sum(self.weights)


@dataclass
class RouterMeta:
    """What a weight file must say about itself to be loaded safely, and where it came from.

    ``costs`` are unit costs (the most expensive model at 1); ``cost_scale`` and
    ``cost_unit`` say what 1 was in the training table. ``provenance`` names the table
    (path and content hash), the split and the seed.
    """

    models: list[str]
    costs: list[float]
    feature_version: int = FEATURE_VERSION
    feature_dim: int = FEATURE_DIM
    hidden: int = 256
    model_dim: int = 64
    temperatures: list[list[float]] = field(default_factory=list)
    member_kinds: list[str] = field(default_factory=list)
    member_weights: list[float] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    trained_at: str = ""
    cost_scale: float = 1.0
    cost_unit: str = "relative"
    provenance: dict[str, Any] = field(default_factory=dict)
    file_format: int = FILE_FORMAT


def save_router(path: Path, router: RouterEnsemble, meta: RouterMeta) -> None:
    """Write every member's weights and the metadata atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta.temperatures = [list(t) for t in router.temperatures]
    meta.member_kinds, meta.member_weights = router.kinds, list(router.weights)
    partial = path.with_suffix(path.suffix + ".partial")
    torch.save({"members": [net.state_dict() for net in router.members],
                "meta": meta.__dict__}, partial)
    partial.replace(path)


def load_router(path: Path) -> tuple[RouterEnsemble, RouterMeta]:
    """Read a weight file written by ``save_router``; refuses mismatches with a reason."""
    if not path.is_file():
        raise RouterFileError(f"no trained router at {path}; run `neuroforge router train`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        fields = dict(payload["meta"])
    except Exception as exc:  # pickle, zip and key errors all mean "not a router file"
        raise RouterFileError(f"{path} is not a readable router file ({exc}); retrain it") from exc
    if fields.get("file_format") != FILE_FORMAT:
        raise RouterFileError(
            f"{path} is router file format {fields.get('file_format')}; this NeuroForge reads "
            f"{FILE_FORMAT}. Retrain with `neuroforge router train`.")
    try:
        meta = RouterMeta(**fields)
    except TypeError as exc:
        raise RouterFileError(f"{path} is not a readable router file ({exc}); retrain it") from exc
    if meta.feature_version != FEATURE_VERSION:
        raise RouterFileError(
            f"{path} was written for feature version {meta.feature_version} (file format "
            f"{meta.file_format}); this NeuroForge uses {FEATURE_VERSION} ({FILE_FORMAT}). "
            "Retrain with `neuroforge router train`.")
    if meta.feature_dim != FEATURE_DIM:
        raise RouterFileError(f"{path} expects {meta.feature_dim} features, not {FEATURE_DIM}")
    members: list[nn.Module] = []
    states = payload.get("members") or []
    for state, kind in zip(states, meta.member_kinds or ["mlp"] * len(states), strict=False):
        net: nn.Module = (LinearRouter(len(meta.models), meta.feature_dim) if kind == "linear"
                          else RouterNet(len(meta.models), meta.feature_dim, meta.hidden,
                                         meta.model_dim))
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise RouterFileError(f"{path}: weights do not match their metadata ({exc})"
                                  ) from exc
        members.append(net.eval())
    if not members or len(members) != len(meta.temperatures):
        raise RouterFileError(f"{path}: {len(members)} weight sets for "
                              f"{len(meta.temperatures)} temperatures; retrain it")
    return RouterEnsemble(members, meta.temperatures, meta.member_weights or None), meta
