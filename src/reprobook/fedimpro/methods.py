"""Client objectives and server rules of FedAvg, FedProx, SCAFFOLD and FedImpro.

Every method shares one local loop (:func:`reprobook.fedimpro.federation.run_client`): SGD over the
client's data for E epochs. What differs is the per-batch loss and gradient correction here.

- FedAvg (McMahan et al. 2017): cross-entropy.
- FedProx (Li et al. 2020): cross-entropy + mu/2 ||w - w_global||^2 (paper setting mu = 0.1).
- SCAFFOLD (Karimireddy et al. 2020), option II: each step uses g(y) - c_i + c; after K local steps
  c_i+ = c_i - c + (x - y) / (K lr); the server moves c by (|S|/M) mean(c_i+ - c_i).
- FedNova (Wang et al. 2020): the clients run plain local SGD; the server averages the
  *normalised* updates d_i = (x - y_i) / ||a_i||_1 and steps x <- x - tau_eff sum_i p_i d_i with
  tau_eff = sum_i p_i ||a_i||_1 (:func:`fednova_norm`; ||a_i||_1 = tau_i local steps for SGD without
  momentum), so clients that ran more steps do not pull the average toward their own optimum.
- FedImpro: h = low(x); N_hat = N class-balanced (h_hat, y_hat) sampled from the shared H, detached;
  loss = CE(high(h), y) + w CE(high(h_hat), y_hat) with w = 1 (paper: real and sampled features
  weigh the same). ``code_compat``: w = round / 500, uncapped, as in the official code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .features import FeatureDistribution, sample_features
from .model import SplitModel

METHODS = ("fedavg", "fedprox", "scaffold", "fednova", "fedimpro")
CODE_WEIGHT_ROUNDS = 500


@dataclass(frozen=True)
class ImproConfig:
    """FedImpro's knobs: N_hat/N, the sampled-loss weight w, estimator momentum b_m (Eq. 6),
    server momentum b_g (Eq. 7), pooled aggregation, presence weights in every round, upload noise
    sigma_eps, the official code's behaviour, rounds without sampled features (the shared H does
    not exist before the first aggregation)."""

    feature_ratio: float = 1.0
    fake_weight: float = 1.0
    est_momentum: float = 0.9
    server_momentum: float = 0.0
    pooled: bool = False
    presence_weights: bool = False
    upload_noise: float = 0.0
    code_compat: bool = False
    warmup_rounds: int = 1

    def __post_init__(self) -> None:
        if self.feature_ratio < 0:
            raise ValueError(f"feature_ratio (N_hat / N) must be >= 0, got {self.feature_ratio}")
        if self.warmup_rounds < 0:
            raise ValueError(f"warmup_rounds must be >= 0, got {self.warmup_rounds}")


def code_fake_weight(round_: int) -> float:
    """The official code's weight on the sampled-feature loss: round / 500, no cap."""
    return round_ / CODE_WEIGHT_ROUNDS


def fake_weight(cfg: ImproConfig, round_: int) -> float:
    """Weight w of the sampled-feature loss: ``cfg.fake_weight`` (paper: 1, real and sampled
    weigh the same), or round / 500 uncapped under ``code_compat`` (the official code)."""
    return code_fake_weight(round_) if cfg.code_compat else cfg.fake_weight


def fedimpro_loss(model: SplitModel, x: torch.Tensor, y: torch.Tensor, dist: FeatureDistribution | None,
                  cfg: ImproConfig, round_: int, generator: torch.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """FedImpro's client loss on one batch, CE(high(h), y) + w CE(high(h_hat), y_hat) with
    h = low(x) and (h_hat, y_hat) sampled from H (detached); returns (loss, h detached for Eq. 6)."""
    h = model.low(x)
    n_hat = int(round(cfg.feature_ratio * x.shape[0]))
    if dist is None or n_hat == 0:
        return F.cross_entropy(model.high(h), y), h.detach()
    h_hat, y_hat = sample_features(dist, n_hat, generator)
    logits = model.high(torch.cat([h, h_hat]))
    real, fake = logits[: len(y)], logits[len(y):]
    loss = F.cross_entropy(real, y) + fake_weight(cfg, round_) * F.cross_entropy(fake, y_hat)
    return loss, h.detach()


def fednova_norm(steps: int, momentum: float = 0.0) -> float:
    """FedNova's ||a_i||_1 for ``steps`` local SGD steps with momentum rho (Wang et al. 2020, Sec. 4):
    tau for plain SGD, [tau - rho (1 - rho^tau) / (1 - rho)] / (1 - rho) with momentum."""
    if steps < 1:
        raise ValueError(f"FedNova needs >= 1 local step, got {steps}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
    if momentum == 0.0:
        return float(steps)
    r = momentum
    return (steps - r * (1 - r ** steps) / (1 - r)) / (1 - r)


def prox_term(model: torch.nn.Module, anchor: dict[str, torch.Tensor], mu: float) -> torch.Tensor:
    """FedProx's mu/2 sum ||w - w_global||^2 over the trainable parameters."""
    total = torch.zeros((), device=next(model.parameters()).device)
    for name, p in model.named_parameters():
        total = total + (p - anchor[name]).pow(2).sum()
    return 0.5 * mu * total
