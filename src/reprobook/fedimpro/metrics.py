"""What the paper measures about client updates.

- Weight divergence (paper Fig. 2b): (1/|S|) sum_i ||theta_bar - theta_i|| after a round, with
  theta_bar the aggregated model; layer-wise (Fig. 3): per parameter tensor l,
  mean_i ||theta_bar_l - theta_i,l|| / ||theta_bar_l||.
- Gradient dissimilarity (paper Thm 4.2): at the global model, D = sum_m p_m ||g_m - g_bar||^2 with
  p_m = N_m / N and g_bar = sum_m p_m g_m, split into the low-level and high-level parameter blocks
  (D = D_low + D_high exactly, since the squared norm splits over disjoint coordinates).
- Conditional Wasserstein distance (paper Thm 4.1): per class, the 2-Wasserstein distance between
  two clients' feature distributions, here as diagonal Gaussians (closed form
  W2^2 = ||mu_1 - mu_2||^2 + ||sigma_1 - sigma_2||^2), with and without the shared H mixed in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from .features import FeatureDistribution, class_moments, sample_features
from .model import SplitModel

if TYPE_CHECKING:
    from .federation import FedConfig

State = dict[str, torch.Tensor]


def _flat(state: State, names: list[str]) -> torch.Tensor:
    return torch.cat([state[n].double().reshape(-1) for n in names])


def weight_divergence(avg: State, locals_: list[State], names: list[str]) -> float:
    a = _flat(avg, names)
    return float(np.mean([float((a - _flat(s, names)).norm()) for s in locals_]))


def layerwise_divergence(avg: State, locals_: list[State], names: list[str]) -> dict[str, float]:
    out = {}
    for n in names:
        ref = avg[n].double()
        scale = float(ref.norm()) or 1.0
        out[n] = float(np.mean([float((ref - s[n].double()).norm()) for s in locals_])) / scale
    return out


def dissimilarity(grads: list[torch.Tensor], weights: list[float]) -> float:
    """sum_m p_m ||g_m - g_bar||^2 with p = weights / sum(weights)."""
    g = torch.stack([x.double() for x in grads])
    p = torch.tensor(weights, dtype=torch.float64, device=g.device)
    p = p / p.sum()
    mean = (p[:, None] * g).sum(0)
    return float((p * ((g - mean) ** 2).sum(1)).sum())


def split_gradients(model: SplitModel, loss: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattened gradients of ``loss`` for the (low, high) parameter blocks."""
    low_names = model.low_parameter_names()
    named = list(model.named_parameters())
    grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    low, high = [], []
    for (n, p), g in zip(named, grads):
        g = torch.zeros_like(p) if g is None else g
        (low if n in low_names else high).append(g.reshape(-1))
    return torch.cat(low).detach(), torch.cat(high).detach()


def client_gradient(model: SplitModel, x: torch.Tensor, y: torch.Tensor,
                    dist: FeatureDistribution | None = None, ratio: float = 1.0,
                    generator: torch.Generator | None = None,
                    shared: tuple[torch.Tensor, torch.Tensor] | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-batch (low, high) gradient of a client's objective at the current weights.

    Without ``dist``: mean cross-entropy on the real data. With ``dist``: FedImpro's objective, the
    mean cross-entropy over the N real and N_hat = ratio N sampled features; ``shared`` passes
    fixed sampled features instead of drawing them (the same for every client).
    """
    h = model.low(x)
    if dist is None and shared is None:
        return split_gradients(model, F.cross_entropy(model.high(h), y))
    if shared is not None:
        h_hat, y_hat = shared
    else:
        assert dist is not None and generator is not None
        h_hat, y_hat = sample_features(dist, int(round(ratio * len(y))), generator)
    logits = model.high(torch.cat([h, h_hat]))
    return split_gradients(model, F.cross_entropy(logits, torch.cat([y, y_hat])))


def gradient_dissimilarity(model: SplitModel, xs: list[torch.Tensor], ys: list[torch.Tensor],
                           dist: FeatureDistribution | None = None, ratio: float = 1.0,
                           seed: int = 0) -> dict[str, float]:
    """D_low, D_high and D_total over the clients (xs, ys) at the model's current weights."""
    lows, highs = [], []
    for m, (x, y) in enumerate(zip(xs, ys)):
        gen = torch.Generator().manual_seed(seed * 1000 + m)
        low, high = client_gradient(model, x, y, dist, ratio, gen)
        lows.append(low)
        highs.append(high)
    w = [float(len(y)) for y in ys]
    d_low, d_high = dissimilarity(lows, w), dissimilarity(highs, w)
    return {"low": d_low, "high": d_high, "total": dissimilarity(
        [torch.cat([a, b]) for a, b in zip(lows, highs)], w)}


def dissimilarity_row(model: SplitModel, state: State, xs: list[torch.Tensor], ys: list[torch.Tensor],
                      dist: FeatureDistribution | None, cfg: "FedConfig", seed: int) -> dict[str, float]:
    """The round's gradient dissimilarity for the history: real-data objective always, and
    FedImpro's objective when the shared H exists."""
    model.load_state_dict(state)
    model.train()
    row = {f"gd_{k}_real": v for k, v in gradient_dissimilarity(model, xs, ys).items()}
    if cfg.method == "fedimpro" and dist is not None:
        d = gradient_dissimilarity(model, xs, ys, dist.to(xs[0].device), cfg.impro.feature_ratio, seed)
        row.update({f"gd_{k}_impro": v for k, v in d.items()})
    return row


def w2_diag(mu1: torch.Tensor, var1: torch.Tensor, mu2: torch.Tensor, var2: torch.Tensor) -> torch.Tensor:
    """2-Wasserstein distance between diagonal Gaussians (last axis = dimensions)."""
    d2 = ((mu1 - mu2) ** 2).sum(-1) + ((var1.clamp_min(0).sqrt() - var2.clamp_min(0).sqrt()) ** 2).sum(-1)
    return d2.sqrt()


def mix_moments(n_real: torch.Tensor, mu: torch.Tensor, var: torch.Tensor, n_shared: torch.Tensor,
                mu_g: torch.Tensor, var_g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of the mixture of real features (weight n_real) and shared samples."""
    w = (n_real / (n_real + n_shared)).unsqueeze(-1)
    m = w * mu + (1 - w) * mu_g
    v = w * (var + mu ** 2) + (1 - w) * (var_g + mu_g ** 2) - m ** 2
    return m, v.clamp_min(0)


@torch.no_grad()
def conditional_wasserstein(model: SplitModel, state: State, xs: list[torch.Tensor],
                            ys: list[torch.Tensor], dist: FeatureDistribution, n_classes: int,
                            ratio: float = 1.0, min_count: int = 5) -> dict[str, Any]:
    """Per class c, the mean pairwise W2 between clients' class-c feature distributions, without
    and with the shared H mixed in (a client trains its head on its real features plus
    ratio * N_m class-balanced samples from H). Pairs: clients that both hold >= ``min_count``
    samples of c, so both columns compare the same pairs."""
    model.load_state_dict(state)
    model.eval()
    moments = []
    for x, y in zip(xs, ys):
        count, mu, var = class_moments(model.low(x).double(), y, n_classes)
        moments.append((count, mu, var, ratio * len(y) / n_classes))
    model.train()
    rows = []
    mu_g, var_g = dist.mu.to(xs[0].device).double(), dist.var.to(xs[0].device).double()
    for c in range(n_classes):
        holders = [m for m, mo in enumerate(moments) if mo[0][c] >= min_count]
        for i, a in enumerate(holders):
            for b in holders[i + 1:]:
                (ca, ma, va, sa), (cb, mb, vb, sb) = moments[a], moments[b]
                without = float(w2_diag(ma[c], va[c], mb[c], vb[c]))
                mixa = mix_moments(ca[c], ma[c], va[c], torch.tensor(sa), mu_g[c], var_g[c])
                mixb = mix_moments(cb[c], mb[c], vb[c], torch.tensor(sb), mu_g[c], var_g[c])
                rows.append({"class": c, "a": a, "b": b, "without": without,
                             "with": float(w2_diag(*mixa, *mixb))})
    return {"pairs": rows}
