"""The shared per-class feature distribution (paper Sec. 4.3: feature estimation and sharing).

H = {mu[C, D], var[C, D]}: one diagonal Gaussian per class over the flattened split feature, with
a mask ``seen[C]`` of the classes that have an estimate at all.

- :func:`class_moments` — per-class count, mean and variance of one batch. The variance is the
  unbiased one (divisor n_c - 1); a class seen once in a batch has no spread of its own and takes
  the batch's pooled within-class variance (the variance of the whole batch if no class appears
  twice), never 0.
- :class:`FeatureEstimator` — the client side, paper Eq. 6: starting from the broadcast H, for
  every batch and class c in it, mu_c <- b_m mu_c + (1 - b_m) mean(h_c) and
  var_c <- b_m var_c + (1 - b_m) var(h_c). A class without an estimate yet (none broadcast) starts
  from its first batch's moments instead of being averaged with a placeholder; classes absent on
  the client keep the broadcast value. ``code_compat=True`` reproduces the official code instead:
  the latest batch overwrites the class's statistics (weight 1), it keeps a standard deviation
  rather than a variance, and caps it elementwise at 0.1.
- :func:`sample_features` — class-balanced labels (over the classes H knows) and detached features
  h ~ N(mu[y], var[y]).
- :func:`add_upload_noise` — Gaussian noise N(0, s_eps^2) on mu and sigma before upload (Sec. 4.4,
  Table 7), sigma kept >= 0.
- :func:`aggregate_distributions` — the server, paper Eq. 7 (moving average b_g of the
  sample-weighted mean of the uploads) or the exact pooled mixture (law of total variance). A class
  that H does not know yet (the first aggregation) is averaged only over the clients that saw it
  (presence weights), so no invented value enters H.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

CODE_SIGMA_CAP = 0.1  # official code: sigma capped elementwise at 0.1


@dataclass
class FeatureDistribution:
    """Per-class diagonal Gaussians; ``var`` holds variances (the code-compat path stores std^2).
    ``seen[c]`` says whether class c has an estimate (on a client: it saw c; on the server: some
    client did); ``None`` means every class."""

    mu: torch.Tensor   # [C, D]
    var: torch.Tensor  # [C, D]
    seen: torch.Tensor | None = None  # [C] bool

    @classmethod
    def unknown(cls, n_classes: int, dim: int,
                device: torch.device | str = "cpu") -> "FeatureDistribution":
        """No estimate for any class (values are never read while ``seen`` is False)."""
        return cls(torch.zeros(n_classes, dim, device=device),
                   torch.zeros(n_classes, dim, device=device),
                   torch.zeros(n_classes, dtype=torch.bool, device=device))

    @property
    def known(self) -> torch.Tensor:
        """``[C]`` bool: the classes with an estimate."""
        if self.seen is None:
            return torch.ones(self.mu.shape[0], dtype=torch.bool, device=self.mu.device)
        return self.seen

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
    """Per-class count ``[C]``, mean ``[C, D]`` and variance ``[C, D]`` of a batch.

    The variance is unbiased (divisor n_c - 1) for a class with n_c >= 2. A class seen once gets
    the batch's pooled within-class variance sum_c (n_c - 1) var_c / sum_c (n_c - 1) over the
    classes seen at least twice, or the variance of the whole batch when no class is (a floor from
    the same batch rather than the spurious 0 of a single sample). Absent classes get 0.
    """
    h = h.detach()
    count = torch.bincount(y, minlength=n_classes).to(h.dtype)
    s1 = torch.zeros(n_classes, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, y, h)
    mean = s1 / count.clamp_min(1).unsqueeze(1)
    sq = torch.zeros(n_classes, h.shape[1], dtype=h.dtype, device=h.device).index_add_(
        0, y, (h - mean[y]) ** 2)  # sum of squared deviations (two-pass: no cancellation)
    var = sq / (count - 1).clamp_min(1).unsqueeze(1)
    single = count == 1
    if single.any():
        dof = (count - 1).clamp_min(0).sum()
        if dof > 0:
            pooled = sq.sum(0) / dof
        elif h.shape[0] >= 2:
            pooled = h.var(0, unbiased=True)
        else:
            pooled = torch.zeros(h.shape[1], dtype=h.dtype, device=h.device)
        var[single] = pooled
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
        self.prior = init.known.clone()  # classes with a value to average with
        self.seen = torch.zeros(init.mu.shape[0], dtype=torch.bool, device=init.mu.device)

    @torch.no_grad()
    def update(self, h: torch.Tensor, y: torch.Tensor) -> None:
        count, mean, var = class_moments(h, y, self.mu.shape[0])
        mean, var = mean.to(self.mu.dtype), var.to(self.mu.dtype)
        present = count > 0
        if self.code_compat:
            std = var.sqrt().clamp_max(CODE_SIGMA_CAP)
            self.mu[present] = mean[present]
            self.var[present] = std[present] ** 2
        else:
            b = self.momentum
            ema = present & self.prior
            fresh = present & ~self.prior
            self.mu[ema] = b * self.mu[ema] + (1 - b) * mean[ema]
            self.var[ema] = b * self.var[ema] + (1 - b) * var[ema]
            self.mu[fresh] = mean[fresh]
            self.var[fresh] = var[fresh]
        self.prior |= present
        self.seen |= present

    def distribution(self) -> FeatureDistribution:
        """The upload: every class's current value and which classes this client saw."""
        return FeatureDistribution(self.mu.clone(), self.var.clone(), self.seen.clone())


def balanced_labels(n: int, n_classes: int, generator: torch.Generator,
                    classes: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` labels with every class (of ``classes``, default all) appearing floor or ceil(n/C) times
    (on the generator's device)."""
    dev = generator.device
    pool = torch.arange(n_classes, device=dev) if classes is None else classes.to(dev)
    k = len(pool)
    if k == 0:
        raise ValueError("no class to sample labels from")
    reps = pool.repeat(n // k)
    extra = pool[torch.randperm(k, generator=generator, device=dev)[: n - len(reps)]]
    labels = torch.cat([reps, extra])
    return labels[torch.randperm(n, generator=generator, device=dev)]


def sample_features(dist: FeatureDistribution, n: int, generator: torch.Generator,
                    classes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-balanced labels and features h ~ N(mu[y], diag(var[y])); no gradient flows to them.

    Labels are drawn over ``classes`` (default: the classes ``dist`` knows). Draws happen on the
    generator's device and land on the distribution's.
    """
    if classes is None and dist.seen is not None and not bool(dist.seen.all()):
        classes = torch.nonzero(dist.seen.cpu()).flatten()
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
    """Server aggregation of the uploaded H (weights: client sample counts; class counts are not
    shared, App. D).

    ``pooled=False`` (paper Eq. 7): mu_g <- b_g mu_g + (1 - b_g) sum_m w_m mu_m, same for var.
    ``pooled=True``: the moments of the mixture, mu = sum w mu_m and
    var = sum w var_m + sum w (mu_m - mu)^2 (law of total variance), then the same moving average.

    A class that ``previous`` does not know (every class when ``previous`` is None, the first
    aggregation) has no broadcast value that clients could have kept, so it is averaged over the
    uploads that saw it only (presence weights) and taken as is; a class nobody saw stays unknown.
    ``presence=True`` (not the paper: clients then reveal which classes they hold) weighs every
    class that way in every round. The result's ``seen`` marks the known classes.
    """
    if not uploads or len(uploads) != len(weights):
        raise ValueError(f"need one weight per upload, got {len(uploads)} uploads, "
                         f"{len(weights)} weights")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"server momentum b_g must lie in [0, 1), got {momentum}")
    mus = torch.stack([u.mu for u in uploads])
    vars_ = torch.stack([u.var for u in uploads])
    n_classes = mus.shape[1]
    prior = (torch.zeros(n_classes, dtype=torch.bool) if previous is None
             else previous.known.cpu())
    seen = torch.stack([u.known.cpu() for u in uploads])  # [M, C]
    w = torch.tensor(weights, dtype=mus.dtype)[:, None].expand(-1, n_classes)  # [M, C]
    by_presence = torch.ones(n_classes, dtype=torch.bool) if presence else ~prior
    w = torch.where(by_presence[None, :], w * seen.to(mus.dtype), w)
    total = w.sum(0)
    fresh = total > 0
    w = w / total.clamp_min(1e-12)
    mu = torch.einsum("mc,mcd->cd", w, mus)
    var = torch.einsum("mc,mcd->cd", w, vars_)
    if pooled:
        var = var + torch.einsum("mc,mcd->cd", w, (mus - mu) ** 2)
    if previous is None:
        return FeatureDistribution(mu, var, fresh.clone())
    b = momentum
    blend = (fresh & prior)[:, None]
    new = (fresh & ~prior)[:, None]
    mu = torch.where(blend, b * previous.mu + (1 - b) * mu, torch.where(new, mu, previous.mu))
    var = torch.where(blend, b * previous.var + (1 - b) * var, torch.where(new, var, previous.var))
    return FeatureDistribution(mu, var, prior | fresh)
