"""MABN: the Mixer Architecture with Bayesian Network (ParZC Sec. 3.2, Fig. 3).

Input: the node-wise proxy vector z (grad_norm || snip || synflow, each zero-padded to L nodes).

    h = Linear(z) in R^256  ->  16 tokens of 16  ->  BayesianLinear(16 -> d) per token
      -> depth x [token block, channel block] (pre-norm residual feed-forwards)
      -> LayerNorm -> mean over tokens -> BayesianLinear(d -> d) -> Linear(d -> d/2)
      -> Linear(d/2 -> 1) = predicted (z-scored) accuracy.

Bayesian layer (Sec. 3.2): W = mu + softplus(rho) * eps, eps ~ N(0, I), rho initialised to -5.
The official code has no prior and no KL term; :meth:`BayesianLinear.kl` gives the
Bayes-by-Backprop term KL(N(mu, sigma^2) || N(0, sigma_p^2)) (Blundell et al. 2015), added to the
loss with weight beta (:mod:`.training`). The predictive uncertainty of an architecture is the
standard deviation over T Monte-Carlo forward passes (:func:`mc_predict`).

Token mixing: an MLP-Mixer block mixes *tokens* (an MLP across the 16 tokens, per channel) and
then *channels*. The official ``BaysianMLPMixer`` builds both feed-forwards with ``nn.Linear``
on the channel axis, so no information flows between tokens before the final mean.
``mixing="true"`` implements real token mixing; ``mixing="code"`` reproduces the official
blocks (expansion 4 then 0.5, both on channels). ``bayesian=False`` replaces every
BayesianLinear by a deterministic ``nn.Linear`` (the ablation "without Bayesian layers").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from . import constants as K

MIXINGS = ("true", "code")


class BayesianLinear(nn.Module):
    """y = x W^T with W = mu + softplus(rho) * eps (no bias, as the official layer)."""

    def __init__(self, d_in: int, d_out: int, rho_init: float = K.RHO_INIT) -> None:
        super().__init__()
        self.mu = nn.Parameter(torch.empty(d_out, d_in))
        self.rho = nn.Parameter(torch.full((d_out, d_in), float(rho_init)))
        nn.init.kaiming_uniform_(self.mu, a=math.sqrt(5))
        self.sample = True  # draw eps on every forward (training and MC prediction)

    @property
    def sigma(self) -> torch.Tensor:
        return F.softplus(self.rho)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.sample:
            return F.linear(x, self.mu)
        w = self.mu + self.sigma * torch.randn_like(self.mu)
        return F.linear(x, w)

    def kl(self, prior_sigma: float = 1.0) -> torch.Tensor:
        """sum_ij KL(N(mu_ij, s_ij^2) || N(0, sp^2)) = sum log(sp/s) + (s^2 + mu^2)/(2 sp^2) - 1/2."""
        s = self.sigma
        return (math.log(prior_sigma) - torch.log(s)
                + (s.pow(2) + self.mu.pow(2)) / (2 * prior_sigma ** 2) - 0.5).sum()


def _dense(d_in: int, d_out: int, bayesian: bool) -> nn.Module:
    return BayesianLinear(d_in, d_out) if bayesian else nn.Linear(d_in, d_out, bias=False)


def feed_forward(dim: int, expansion: float, dropout: float) -> nn.Sequential:
    inner = max(1, int(dim * expansion))
    return nn.Sequential(nn.Linear(dim, inner), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(inner, dim), nn.Dropout(dropout))


class TokenMix(nn.Module):
    """x + FF_tokens(LN(x)^T)^T: an MLP across the token axis, shared over channels."""

    def __init__(self, n_tokens: int, dim: int, expansion: float, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.ff = feed_forward(n_tokens, expansion, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, T, D]
        return x + self.ff(self.norm(x).transpose(1, 2)).transpose(1, 2)


class ChannelMix(nn.Module):
    """x + FF(LN(x)) on the channel axis (the official PreNormResidual)."""

    def __init__(self, dim: int, expansion: float, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.ff = feed_forward(dim, expansion, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.ff(self.norm(x))


@dataclass(frozen=True)
class MABNConfig:
    """Architecture of the predictor; defaults are the official sizes (constants.py)."""

    in_dim: int
    seq_len: int = K.MABN_SEQ_LEN
    patch: int = K.MABN_PATCH
    dim: int = K.MABN_DIM
    depth: int = K.MABN_DEPTH
    expansion: float = K.MABN_EXPANSION
    expansion_token: float = K.MABN_EXPANSION_TOKEN
    dropout: float = 0.0
    bayesian: bool = True
    mixing: str = "true"

    def __post_init__(self) -> None:
        if self.mixing not in MIXINGS:
            raise ValueError(f"unknown token mixing {self.mixing!r}; known: {MIXINGS}")
        if self.seq_len % self.patch:
            raise ValueError(f"seq_len {self.seq_len} is not a multiple of patch {self.patch}")


class MABN(nn.Module):
    def __init__(self, cfg: MABNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n_tok = cfg.seq_len // cfg.patch
        self.project = nn.Linear(cfg.in_dim, cfg.seq_len)
        self.embed = _dense(cfg.patch, cfg.dim, cfg.bayesian)
        blocks = []
        for _ in range(cfg.depth):
            first = (TokenMix(n_tok, cfg.dim, cfg.expansion, cfg.dropout) if cfg.mixing == "true"
                     else ChannelMix(cfg.dim, cfg.expansion, cfg.dropout))
            blocks.append(nn.Sequential(first,
                                        ChannelMix(cfg.dim, cfg.expansion_token, cfg.dropout)))
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = _dense(cfg.dim, cfg.dim, cfg.bayesian)
        self.fc1 = nn.Linear(cfg.dim, cfg.dim // 2, bias=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.fc2 = nn.Linear(cfg.dim // 2, 1, bias=False)

    def tokens(self, z: torch.Tensor) -> torch.Tensor:
        """[B, in_dim] -> [B, 16, patch] -> embedded tokens [B, 16, dim]."""
        h = self.project(z)
        return self.embed(h.reshape(h.shape[0], -1, self.cfg.patch))

    def from_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Mixer blocks, norm, mean over tokens and the regression head: [B, T, D] -> [B]."""
        for block in self.blocks:
            x = block(x)
        x = self.norm(x).mean(dim=1)
        x = self.drop(self.fc1(self.head(x)))
        return self.fc2(x).squeeze(-1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.from_tokens(self.tokens(z))

    def bayesian_layers(self) -> list[BayesianLinear]:
        return [m for m in self.modules() if isinstance(m, BayesianLinear)]

    def kl(self, prior_sigma: float = 1.0) -> torch.Tensor:
        layers = self.bayesian_layers()
        if not layers:
            return torch.zeros(())
        return torch.stack([m.kl(prior_sigma) for m in layers]).sum()


@torch.no_grad()
def mc_predict(model: MABN, z: torch.Tensor, samples: int = 20, seed: int = 0
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation over ``samples`` stochastic forward passes (eps redrawn);
    a model without Bayesian layers gives one deterministic pass and zero spread."""
    model.eval()
    if not model.bayesian_layers():
        out = model(z)
        return out, torch.zeros_like(out)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        outs = torch.stack([model(z) for _ in range(samples)])
    finally:
        torch.random.set_rng_state(gen_state)
    return outs.mean(0), outs.std(0) if samples > 1 else torch.zeros_like(outs[0])
