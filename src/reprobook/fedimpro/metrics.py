"""What the paper measures about client updates.

- Weight divergence (paper Fig. 2b): (1/|S|) sum_i ||theta_bar - theta_i|| after a round, with
  theta_bar the aggregated model; layer-wise (Fig. 3): per parameter tensor l,
  mean_i ||theta_bar_l - theta_i,l|| / ||theta_bar_l||.
- Gradient dissimilarity (paper Thm 4.2): at the global model, D = sum_m p_m ||g_m - g_bar||^2 with
  p_m = N_m / N and g_bar = sum_m p_m g_m, split into the low-level and high-level parameter blocks
  (D = D_low + D_high exactly, since the squared norm splits over disjoint coordinates). g_m is a
  client's full-data gradient, computed in mini-batches (bounded memory, BatchNorm in training
  mode as in local training) for one of three objectives (:data:`OBJECTIVES`).
- Conditional Wasserstein distance (paper Thm 4.1): per class, the 2-Wasserstein distance between
  two clients' feature distributions, as diagonal Gaussians (closed form
  W2^2 = ||mu_1 - mu_2||^2 + ||sigma_1 - sigma_2||^2), relative to the features' overall spread so
  that two low-level models can be compared.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from reprobook.core.seeds import derive_seed

from .features import FeatureDistribution, class_moments, sample_features
from .model import SplitModel

State = dict[str, torch.Tensor]

#: ``real``: mean cross-entropy on the client's real data (FedAvg's objective);
#: ``impro``: FedImpro's training loss per batch, CE(real) + w CE(sampled) (what the clients follow);
#: ``impro-mean``: Thm 4.2's objective, the mean cross-entropy over the N real and N_hat sampled
#: features (its real part is scaled by N / (N + N_hat)).
OBJECTIVES = ("real", "impro", "impro-mean")


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
    """sum_m p_m ||g_m - g_bar||^2 with p = weights / sum(weights) (float64, one client at a time)."""
    if not grads or len(grads) != len(weights):
        raise ValueError(f"need one weight per gradient, got {len(grads)} and {len(weights)}")
    total = float(sum(weights))
    p = [w / total for w in weights]
    mean = torch.zeros_like(grads[0], dtype=torch.float64)
    for pm, g in zip(p, grads):
        mean.add_(g.double(), alpha=pm)
    return float(sum(pm * float(torch.sum((g.double() - mean) ** 2)) for pm, g in zip(p, grads)))


def _split(model: SplitModel, grads: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    low_names = model.low_parameter_names()
    low, high = [], []
    for (n, _), g in zip(model.named_parameters(), grads):
        (low if n in low_names else high).append(g.reshape(-1))
    return torch.cat(low), torch.cat(high)


def client_gradient(model: SplitModel, x: torch.Tensor, y: torch.Tensor, objective: str = "real",
                    dist: FeatureDistribution | None = None, *, ratio: float = 1.0,
                    fake_weight: float = 1.0, batch_size: int = 128,
                    generator: torch.Generator | None = None,
                    shared: tuple[torch.Tensor, torch.Tensor] | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """A client's full-data (low, high) gradient of ``objective`` at the current weights, summed
    over mini-batches of ``batch_size`` (in data order) with weights n_b / N.

    For ``impro`` / ``impro-mean`` each batch draws round(ratio n_b) features from ``dist`` with
    ``generator``; ``shared`` instead passes fixed sampled features (the same for every client),
    whose mean-loss gradient enters with weight N_hat / (N + N_hat) (``impro-mean``) or
    ``fake_weight`` (``impro``).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")
    if objective != "real" and dist is None and shared is None:
        raise ValueError(f"objective {objective!r} needs the shared distribution or features")
    params = [p for _, p in model.named_parameters()]
    acc = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    n = len(y)
    n_hat_total = int(round(ratio * n)) if shared is None else len(shared[1])
    for start in range(0, n, batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        h = model.low(xb)
        if objective == "real" or shared is not None:
            scale = (1.0 / (n + n_hat_total) if objective == "impro-mean" and shared is not None
                     else 1.0 / n)
            loss = F.cross_entropy(model.high(h), yb, reduction="sum") * scale
        else:  # as in training: real and sampled features through the head in one batch
            assert dist is not None and generator is not None
            k = int(round(ratio * len(yb)))
            h_hat, y_hat = sample_features(dist, k, generator)
            logits = model.high(torch.cat([h, h_hat]))
            real_sum = F.cross_entropy(logits[:len(yb)], yb, reduction="sum")
            fake_sum = F.cross_entropy(logits[len(yb):], y_hat, reduction="sum")
            if objective == "impro":  # per batch: CE_b(real) + w CE_b(fake), batch weight n_b / N
                loss = (real_sum + fake_weight * fake_sum * len(yb) / max(k, 1)) / n
            else:
                loss = (real_sum + fake_sum) / (n + n_hat_total)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        for a, g in zip(acc, grads):
            if g is not None:
                a += g.double()
    if shared is not None and objective != "real":
        h_hat, y_hat = shared
        w = len(y_hat) / (n + len(y_hat)) if objective == "impro-mean" else fake_weight
        loss = w * F.cross_entropy(model.high(h_hat), y_hat)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        for a, g in zip(acc, grads):
            if g is not None:
                a += g.double()
    return _split(model, acc)


def gradient_dissimilarity(model: SplitModel, xs: list[torch.Tensor], ys: list[torch.Tensor],
                           objective: str = "real", dist: FeatureDistribution | None = None, *,
                           ratio: float = 1.0, fake_weight: float = 1.0, batch_size: int = 128,
                           seed: int = 0) -> dict[str, float]:
    """D_low, D_high and D_total over the clients (xs, ys) at the model's current weights, and
    sum_m p_m ||g_m,high||^2 (``sqnorm-high``: D_high over it is the share of the high-level
    gradient that differs between clients, free of the gradients' overall size). Client m's
    sampled features come from a generator seeded with derive_seed(seed, "gd", m)."""
    lows, highs = [], []
    for m, (x, y) in enumerate(zip(xs, ys)):
        gen = None
        if objective != "real":
            dev = dist.mu.device if dist is not None else torch.device("cpu")
            gen = torch.Generator(device=dev).manual_seed(derive_seed(seed, "gd", m))
        low, high = client_gradient(model, x, y, objective, dist, ratio=ratio,
                                    fake_weight=fake_weight, batch_size=batch_size,
                                    generator=gen)
        lows.append(low)
        highs.append(high)
    w = [float(len(y)) for y in ys]
    p = [x / sum(w) for x in w]
    return {"low": dissimilarity(lows, w), "high": dissimilarity(highs, w),
            "total": dissimilarity([torch.cat([a, b]) for a, b in zip(lows, highs)], w),
            "sqnorm-high": float(sum(pm * float((g.double() ** 2).sum()) for pm, g in zip(p, highs)))}


def dissimilarity_row(model: SplitModel, state: State, xs: list[torch.Tensor],
                      ys: list[torch.Tensor], dist: FeatureDistribution | None, *,
                      objectives: tuple[str, ...], ratio: float, fake_weight: float,
                      batch_size: int, seed: int) -> dict[str, float]:
    """``gd_<block>_<objective>`` at the global ``state`` for every objective asked (the sampled
    ones only when the shared H exists)."""
    model.load_state_dict(state)
    model.train()
    row: dict[str, float] = {}
    for obj in objectives:
        if obj != "real" and (dist is None or not bool(dist.known.any())):
            continue
        d = gradient_dissimilarity(model, xs, ys, obj, None if dist is None else
                                   dist.to(xs[0].device), ratio=ratio, fake_weight=fake_weight,
                                   batch_size=batch_size, seed=seed)
        row.update({f"gd_{k}_{obj}": v for k, v in d.items()})
    model.load_state_dict(state)  # BatchNorm buffers moved during the training-mode passes
    return row


def w2_diag(mu1: torch.Tensor, var1: torch.Tensor, mu2: torch.Tensor,
            var2: torch.Tensor) -> torch.Tensor:
    """2-Wasserstein distance between diagonal Gaussians (last axis = dimensions)."""
    d2 = (((mu1 - mu2) ** 2).sum(-1)
          + ((var1.clamp_min(0).sqrt() - var2.clamp_min(0).sqrt()) ** 2).sum(-1))
    return d2.sqrt()


def mix_moments(n_real: torch.Tensor, mu: torch.Tensor, var: torch.Tensor, n_shared: torch.Tensor,
                mu_g: torch.Tensor, var_g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of the mixture of real features (weight n_real) and shared samples."""
    w = (n_real / (n_real + n_shared)).unsqueeze(-1)
    m = w * mu + (1 - w) * mu_g
    v = w * (var + mu ** 2) + (1 - w) * (var_g + mu_g ** 2) - m ** 2
    return m, v.clamp_min(0)


@torch.no_grad()
def features(model: SplitModel, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """low(x) in evaluation mode, batched, as float64."""
    model.eval()
    out = torch.cat([model.low(x[i:i + batch_size]).double()
                     for i in range(0, len(x), batch_size)])
    model.train()
    return out


@torch.no_grad()
def conditional_wasserstein(model: SplitModel, state: State, xs: list[torch.Tensor],
                            ys: list[torch.Tensor], n_classes: int,
                            dist: FeatureDistribution | None = None, ratio: float = 1.0,
                            min_count: int = 5) -> dict[str, Any]:
    """Per class c, the pairwise W2 between clients' real class-c features under the low-level
    model of ``state``, divided by the features' overall spread sqrt(tr Cov(h)) over all clients
    (``scale``), so that low-level models with differently scaled features compare fairly. Pairs:
    clients that both hold >= ``min_count`` samples of c (the same pairs for every model on the
    same partition). With ``dist``, also the W2 between what FedImpro's head trains on (real
    features mixed with ratio N_m class-balanced samples from H; closer by construction)."""
    model.load_state_dict(state)
    hs = [features(model, x) for x in xs]
    allh = torch.cat(hs)
    scale = float(allh.var(0, unbiased=False).sum().sqrt()) or 1.0
    moments = []
    for h, y in zip(hs, ys):
        count, mu, var = class_moments(h, y, n_classes)
        moments.append((count, mu, var, ratio * len(y) / n_classes))
    rows = []
    for c in range(n_classes):
        holders = [m for m, mo in enumerate(moments) if mo[0][c] >= min_count]
        for i, a in enumerate(holders):
            for b in holders[i + 1:]:
                (ca, ma, va, sa), (cb, mb, vb, sb) = moments[a], moments[b]
                row = {"class": c, "a": a, "b": b,
                       "w2": float(w2_diag(ma[c], va[c], mb[c], vb[c])) / scale}
                if dist is not None and bool(dist.known[c]):
                    mu_g = dist.mu[c].to(ma.device).double()
                    var_g = dist.var[c].to(ma.device).double()
                    mixa = mix_moments(ca[c], ma[c], va[c], torch.tensor(sa), mu_g, var_g)
                    mixb = mix_moments(cb[c], mb[c], vb[c], torch.tensor(sb), mu_g, var_g)
                    row["w2_mixed"] = float(w2_diag(*mixa, *mixb)) / scale
                rows.append(row)
    return {"pairs": rows, "scale": scale}
