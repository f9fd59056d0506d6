"""The shared per-class feature distribution (paper: FedImpro's feature estimation and sharing).

H = {mu[C, D], var[C, D]}: one diagonal Gaussian per class over the flattened split feature.

- :class:`FeatureEstimator` — the client side, paper Eq. 6: starting from the broadcast H, for every
  batch and every class c in it, mu_c <- b_m mu_c + (1 - b_m) mean(h_c) and
  var_c <- b_m var_c + (1 - b_m) var(h_c); classes absent on the client keep the broadcast value.
  ``code_compat=True`` reproduces the official code instead: the latest batch overwrites the class's
  statistics (weight 1), it keeps a standard deviation rather than a variance, and caps it
  elementwise at 0.1.
- :func:`sample_features` — class-balanced labels and detached features h ~ N(mu[y], var[y]).
- :func:`add_upload_noise` — Gaussian noise N(0, s_eps^2) on mu and sigma before upload, sigma kept >= 0.
- :func:`aggregate_distributions` — the server, paper Eq. 7 (moving average b_g of the sample-weighted
  mean of the uploads) or the exact pooled mixture (law of total variance).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

CODE_SIGMA_CAP = 0.1


@dataclass
class FeatureDistribution:
    """Per-class diagonal Gaussians; ``var`` holds variances (the code-compat path stores std^2)."""

    mu: torch.Tensor   # [C, D]
    var: torch.Tensor  # [C, D]
    seen: torch.Tensor | None = None  # [C] bool: classes the client estimated (presence_weights)

    @classmethod
    def empty(cls, n_classes: int, dim: int, device: torch.device | str = "cpu") -> "FeatureDistribution":
        return cls(torch.zeros(n_classes, dim, device=device), torch.ones(n_classes, dim, device=device))

    @property
    def sigma(self) -> torch.Tensor:
        return self.var.clamp_min(0).sqrt()

    def clone(self) -> "FeatureDistribution":
        return FeatureDistribution(self.mu.clone(), self.var.clone(),
                                   None if self.seen is None else self.seen.clone())

    def to(self, device: torch.device | str) -> "FeatureDistribution":
        """The same distribution on ``device`` (clients compute there; uploads travel on the CPU)."""
        return FeatureDistribution(self.mu.to(device), self.var.to(device),
                                   None if self.seen is None else self.seen.to(device))


def class_moments(h: torch.Tensor, y: torch.Tensor, n_classes: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class count ``[C]``, mean ``[C, D]`` and (biased) variance ``[C, D]`` of a batch."""
    h = h.detach()
    count = torch.bincount(y, minlength=n_classes).to(h.dtype)
    s1 = torch.zeros(n_classes, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, y, h)
    s2 = torch.zeros(n_classes, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, y, h * h)
    denom = count.clamp_min(1).unsqueeze(1)
    mean = s1 / denom
    var = (s2 / denom - mean * mean).clamp_min(0)
    return count, mean, var


class FeatureEstimator:
    """Client-side running estimate of H (paper Eq. 6), initialised from the broadcast H."""

    def __init__(self, init: FeatureDistribution, momentum: float = 0.9, code_compat: bool = False):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"estimator momentum b_m must lie in [0, 1), got {momentum}")
        self.mu = init.mu.clone()
        self.var = init.var.clone()
        self.momentum = momentum
        self.code_compat = code_compat
        self.seen = torch.zeros(init.mu.shape[0], dtype=torch.bool, device=init.mu.device)

    @torch.no_grad()
    def update(self, h: torch.Tensor, y: torch.Tensor) -> None:
        count, mean, var = class_moments(h, y, self.mu.shape[0])
        present = count > 0
        if self.code_compat:
            std = var.sqrt().clamp_max(CODE_SIGMA_CAP)
            self.mu[present] = mean[present]
            self.var[present] = std[present] ** 2
        else:
            b = self.momentum
            self.mu[present] = b * self.mu[present] + (1 - b) * mean[present]
            self.var[present] = b * self.var[present] + (1 - b) * var[present]
        self.seen |= present

    def distribution(self) -> FeatureDistribution:
        return FeatureDistribution(self.mu.clone(), self.var.clone(), self.seen.clone())


def balanced_labels(n: int, n_classes: int, generator: torch.Generator,
                    classes: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` labels with every class (of ``classes``, default all) appearing floor or ceil(n/C) times
    (on the generator's device)."""
    dev = generator.device
    pool = torch.arange(n_classes, device=dev) if classes is None else classes.to(dev)
    k = len(pool)
    reps = pool.repeat(n // k)
    extra = pool[torch.randperm(k, generator=generator, device=dev)[: n - len(reps)]]
    labels = torch.cat([reps, extra])
    return labels[torch.randperm(n, generator=generator, device=dev)]


def sample_features(dist: FeatureDistribution, n: int, generator: torch.Generator,
                    classes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-balanced labels and features h ~ N(mu[y], diag(var[y])); no gradient flows to them.
    Draws happen on the generator's device and land on the distribution's."""
    y = balanced_labels(n, dist.mu.shape[0], generator, classes).to(dist.mu.device)
    eps = torch.randn(n, dist.mu.shape[1], generator=generator, dtype=dist.mu.dtype,
                      device=generator.device).to(dist.mu.device)
    h = dist.mu[y] + dist.sigma[y] * eps
    return h.detach(), y


def add_upload_noise(dist: FeatureDistribution, sigma_eps: float,
                     generator: torch.Generator) -> FeatureDistribution:
    """Privacy noise on the upload: mu + N(0, s^2), |sigma + N(0, s^2)| (sigma stays >= 0)."""
    if sigma_eps < 0:
        raise ValueError(f"upload noise sigma_eps must be >= 0, got {sigma_eps}")
    if sigma_eps == 0:
        return dist.clone()
    mu = dist.mu + sigma_eps * torch.randn(dist.mu.shape, generator=generator)
    sigma = (dist.sigma + sigma_eps * torch.randn(dist.mu.shape, generator=generator)).abs()
    return FeatureDistribution(mu, sigma ** 2, dist.seen)


def aggregate_distributions(uploads: list[FeatureDistribution], weights: list[float],
                            previous: FeatureDistribution | None, *, momentum: float = 0.0,
                            pooled: bool = False, presence: bool = False) -> FeatureDistribution:
    """Server aggregation of the uploaded H (weights: client sample counts).

    ``pooled=False`` (paper Eq. 7): mu_g <- b_g mu_g + (1 - b_g) sum_m w_m mu_m, same for var.
    ``pooled=True``: the moments of the mixture, mu = sum w mu_m and
    var = sum w var_m + sum w (mu_m - mu)^2 (law of total variance), then the same moving average.
    With ``previous=None`` (the first aggregation) the average is taken as is.
    ``presence=True`` (not the paper: clients then reveal which classes they hold, not how many)
    weighs class c only over the uploads that estimated it; a class nobody estimated keeps its
    previous value.
    """
    if not uploads or len(uploads) != len(weights):
        raise ValueError(f"need one weight per upload, got {len(uploads)} uploads, {len(weights)} weights")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"server momentum b_g must lie in [0, 1), got {momentum}")
    mus = torch.stack([u.mu for u in uploads])
    vars_ = torch.stack([u.var for u in uploads])
    w = torch.tensor(weights, dtype=mus.dtype)[:, None].expand(-1, mus.shape[1])  # [M, C]
    if presence:
        if any(u.seen is None for u in uploads):
            raise ValueError("presence=True needs every upload's 'seen' mask")
        w = w * torch.stack([u.seen for u in uploads]).to(mus.dtype)
    total = w.sum(0)
    known = total > 0
    w = w / total.clamp_min(1e-12)
    mu = torch.einsum("mc,mcd->cd", w, mus)
    var = torch.einsum("mc,mcd->cd", w, vars_)
    if pooled:
        var = var + torch.einsum("mc,mcd->cd", w, (mus - mu) ** 2)
    if previous is not None:
        b = momentum
        mu = torch.where(known[:, None], b * previous.mu + (1 - b) * mu, previous.mu)
        var = torch.where(known[:, None], b * previous.var + (1 - b) * var, previous.var)
    return FeatureDistribution(mu, var)
