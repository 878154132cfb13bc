"""The router network and its weight file.

``RouterNet`` encodes a prompt's features into a task vector and scores it
against one learned vector (and bias) per model: ``logit[m] = h . v_m + b_m``.
Any number of models works, and a new model is one new row, learnable from a
few outcomes with the encoder frozen (``add_model``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroforge.tools.router.features import FEATURE_DIM, FEATURE_VERSION

__all__ = ["RouterFileError", "RouterMeta", "RouterNet", "load_router", "save_router"]

FILE_FORMAT = 1


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


@dataclass
class RouterMeta:
    """What a weight file must say about itself to be loaded safely."""

    models: list[str]
    costs: list[float]
    feature_version: int = FEATURE_VERSION
    feature_dim: int = FEATURE_DIM
    hidden: int = 256
    model_dim: int = 64
    temperature: float = 1.0
    metrics: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    trained_at: str = ""
    file_format: int = FILE_FORMAT


def save_router(path: Path, net: RouterNet, meta: RouterMeta) -> None:
    """Write weights and metadata atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    torch.save({"state_dict": net.state_dict(), "meta": meta.__dict__}, partial)
    partial.replace(path)


def load_router(path: Path) -> tuple[RouterNet, RouterMeta]:
    """Read a weight file written by ``save_router``; refuses mismatches with a reason."""
    if not path.is_file():
        raise RouterFileError(f"no trained router at {path}; run `neuroforge router train`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        meta = RouterMeta(**payload["meta"])
    except Exception as exc:  # pickle, zip and key errors all mean "not a router file"
        raise RouterFileError(f"{path} is not a readable router file ({exc}); retrain it") from exc
    if meta.file_format != FILE_FORMAT or meta.feature_version != FEATURE_VERSION:
        raise RouterFileError(
            f"{path} was written for feature version {meta.feature_version} (file format "
            f"{meta.file_format}); this NeuroForge uses {FEATURE_VERSION} ({FILE_FORMAT}). "
            "Retrain with `neuroforge router train`.")
    if meta.feature_dim != FEATURE_DIM:
        raise RouterFileError(f"{path} expects {meta.feature_dim} features, not {FEATURE_DIM}")
    net = RouterNet(len(meta.models), meta.feature_dim, meta.hidden, meta.model_dim)
    try:
        net.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise RouterFileError(f"{path}: weights do not match their metadata ({exc})") from exc
    net.eval()
    return net, meta
