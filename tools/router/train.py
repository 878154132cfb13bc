"""Training the router: seeded, masked BCE on observed outcomes, early stopping, calibration."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neuroforge.tools.router.net import LinearRouter, RouterEnsemble, RouterNet

__all__ = [
    "TrainConfig",
    "TrainReport",
    "calibrate_temperature",
    "fit_linear",
    "fit_router",
    "predict_logits",
    "train_net",
]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; the defaults were chosen on RouteLLM's GSM8K/MMLU train splits."""

    seed: int = 0
    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-3
    patience: int = 10
    validation_share: float = 0.15
    hidden: int = 256
    model_dim: int = 64
    dropout: float = 0.2
    pairwise_weight: float = 1.0
    members: int = 5
    # The linear member's L2 strength (None: MLPs only) and its share of the average.
    linear_l2: float | None = 0.1
    linear_weight: float = 0.5


@dataclass(frozen=True)
class TrainReport:
    """How training went."""

    epochs_run: int
    best_epoch: int
    validation_loss: float
    temperature: list[float]
    seconds: float
    examples: int


def _masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    loss = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (loss * mask).sum() / mask.sum().clamp(min=1)


def _pairwise(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BCE on logit differences wherever two models' observed outcomes differ.

    Routing quality (APGR) depends on which model is better for a prompt, not on each
    model's level; this term trains that difference directly.
    """
    diff = logits[:, :, None] - logits[:, None, :]
    better = (targets[:, :, None] > targets[:, None, :]).float()
    differs = (targets[:, :, None] != targets[:, None, :]).float() * mask[:, :, None] * mask[
        :, None, :]
    loss = nn.functional.binary_cross_entropy_with_logits(diff, better, reduction="none")
    return (loss * differs).sum() / differs.sum().clamp(min=1)


def _loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
          pairwise_weight: float) -> torch.Tensor:
    loss = _masked_bce(logits, targets, mask)
    if pairwise_weight:
        loss = loss + pairwise_weight * _pairwise(logits, targets, mask)
    return loss


def predict_logits(net: RouterNet, features: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Logits for every row of ``features`` (no gradients, eval mode)."""
    net.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(features), batch):
            outputs.append(net(torch.from_numpy(features[start:start + batch])).numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, net.model_bias.shape[0]))


def calibrate_temperature(logits: np.ndarray, quality: np.ndarray) -> list[float]:
    """Per model, the temperature T minimizing NLL of sigmoid(logit / T) on its outcomes.

    Per model rather than one for all: the cost knob compares probabilities across
    models, so each model's must be calibrated on its own.
    """
    grid = np.exp(np.linspace(np.log(0.25), np.log(4.0), 41))
    temperatures = []
    for column in range(quality.shape[1]):
        seen = ~np.isnan(quality[:, column])
        z, y = logits[seen, column], quality[seen, column]
        best, best_nll = 1.0, np.inf
        for t in grid if seen.any() else []:
            p = np.clip(1 / (1 + np.exp(-z / t)), 1e-6, 1 - 1e-6)
            nll = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
            if nll < best_nll:
                best, best_nll = float(t), nll
        temperatures.append(round(best, 4))
    return temperatures


def fit_linear(features: np.ndarray, quality: np.ndarray, l2: float) -> LinearRouter:
    """Per-model logistic regression on observed outcomes, full-batch L-BFGS, L2 ``l2``."""
    torch.manual_seed(0)
    model = LinearRouter(quality.shape[1], features.shape[1])
    with torch.no_grad():
        model.mean.copy_(torch.from_numpy(features.mean(axis=0).astype(np.float32)))
        model.scale.copy_(torch.from_numpy(features.std(axis=0).astype(np.float32) + 1e-6))
    x = torch.from_numpy(features.astype(np.float32))
    y = torch.from_numpy(np.nan_to_num(quality, nan=0.0).astype(np.float32))
    mask = torch.from_numpy((~np.isnan(quality)).astype(np.float32))
    optimizer = torch.optim.LBFGS(model.linear.parameters(), max_iter=100,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = _masked_bce(model(x), y, mask) + l2 * model.linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return model.eval()


def train_net(features: np.ndarray, quality: np.ndarray, config: TrainConfig | None = None,
              net: RouterNet | None = None, frozen_models: int | None = None
              ) -> tuple[RouterNet, TrainReport]:
    """Fit a ``RouterNet`` (or continue ``net``) on observed entries of ``quality``.

    ``frozen_models=k`` trains only the rows of models k and later, encoder frozen:
    how a new model is added from a few outcomes without disturbing the others.
    """
    started = time.perf_counter()
    config = config or TrainConfig()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(features))
    cut = max(1, int(len(order) * config.validation_share))
    val, train = order[:cut], order[cut:]
    if len(train) == 0:
        raise ValueError("too few examples to train on")
    x = torch.from_numpy(features.astype(np.float32))
    y = torch.from_numpy(np.nan_to_num(quality, nan=0.0).astype(np.float32))
    m = torch.from_numpy((~np.isnan(quality)).astype(np.float32))
    if net is None:
        net = RouterNet(quality.shape[1], features.shape[1], config.hidden, config.model_dim,
                        config.dropout)
    params = ([net.model_vectors, net.model_bias] if frozen_models is not None
              else list(net.parameters()))
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    kept = None
    if frozen_models is not None:
        kept = (net.model_vectors.data[:frozen_models].clone(),
                net.model_bias.data[:frozen_models].clone())
    generator = torch.Generator().manual_seed(config.seed)
    best_loss, best_state, best_epoch, epoch = np.inf, None, 0, 0
    for epoch in range(1, config.epochs + 1):
        net.train()
        for batch in torch.randperm(len(train), generator=generator).split(config.batch_size):
            index = torch.from_numpy(train)[batch]
            optimizer.zero_grad()
            _loss(net(x[index]), y[index], m[index], config.pairwise_weight).backward()
            optimizer.step()
            if kept is not None:  # weight decay would still move frozen rows: put them back
                with torch.no_grad():
                    net.model_vectors[:frozen_models] = kept[0]
                    net.model_bias[:frozen_models] = kept[1]
        net.eval()
        with torch.no_grad():
            vi = torch.from_numpy(val)
            loss = float(_loss(net(x[vi]), y[vi], m[vi], config.pairwise_weight))
        if loss < best_loss - 1e-4:
            best_loss, best_epoch = loss, epoch
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        elif epoch - best_epoch >= config.patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    temperature = calibrate_temperature(predict_logits(net, features[val]), quality[val])
    return net, TrainReport(epoch, best_epoch, round(best_loss, 5), temperature,
                            round(time.perf_counter() - started, 2), len(features))


def fit_router(features: np.ndarray, quality: np.ndarray, config: TrainConfig | None = None
               ) -> tuple[RouterEnsemble, TrainReport]:
    """``config.members`` MLPs on seeds seed, seed+1, ... plus the linear member; the report
    sums their work."""
    config = config or TrainConfig()
    started = time.perf_counter()
    members: list[nn.Module] = []
    reports = []
    for member in range(max(config.members, 1)):
        seeded = TrainConfig(**{**config.__dict__, "seed": config.seed + member})
        net, report = train_net(features, quality, seeded)
        members.append(net)
        reports.append(report)
    temperatures = [r.temperature for r in reports]
    weights = [1.0 / len(members)] * len(members)
    if config.linear_l2 is not None:
        members.append(fit_linear(features, quality, config.linear_l2))
        temperatures.append([1.0] * quality.shape[1])  # L2 logistic: calibrated as fitted
        weights = [w * (1 - config.linear_weight) for w in weights] + [config.linear_weight]
    ensemble = RouterEnsemble(members, temperatures, weights)
    first = reports[0]
    mean_t = np.mean([t for r in reports for t in r.temperature])
    return ensemble, TrainReport(
        epochs_run=sum(r.epochs_run for r in reports), best_epoch=first.best_epoch,
        validation_loss=round(float(np.mean([r.validation_loss for r in reports])), 5),
        temperature=[round(float(mean_t), 3)],
        seconds=round(time.perf_counter() - started, 2), examples=first.examples)
