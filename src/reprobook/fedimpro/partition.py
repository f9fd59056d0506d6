"""Dirichlet ("LDA") label partition used by the paper's experiments (Sec. 5.1).

For every class c, proportions p_c ~ Dir(a * 1_M) split the class's samples among the M clients;
the whole draw is repeated until every client holds at least ``min_size`` samples (the paper's
procedure, with its minimum of 10). Smaller ``a`` means fewer classes per client.

``self_balancing=True`` adds the official code's rule (its ``hetero`` partition, inherited from
NIID-Bench, not described in the paper): while a class is split, a client that already holds
>= N / M samples gets none of it. Flower's ``flwr_datasets.partitioner.DirichletPartitioner`` runs
the same per-class draw with the rule as its ``self_balancing`` option (excluding a client only
above N / M), but gives up after 10 re-draws where the paper's procedure re-draws until every
client has ``min_size`` samples; the book does not depend on ``flwr-datasets`` (see the chapter).
"""

from __future__ import annotations

import numpy as np


class PartitionError(ValueError):
    """A partition request that cannot be met (bad concentration, too many clients, ...)."""


def dirichlet_partition(labels: np.ndarray, n_clients: int, alpha: float, *, seed: int,
                        min_size: int = 10, max_tries: int = 10_000,
                        self_balancing: bool = False) -> list[np.ndarray]:
    """Split sample indices among ``n_clients`` with per-class Dir(``alpha``) proportions.

    Returns one sorted index array per client; together they are disjoint and cover every sample.
    """
    return dirichlet_draw(labels, n_clients, alpha, seed=seed, min_size=min_size,
                          max_tries=max_tries, self_balancing=self_balancing)[0]


def dirichlet_draw(labels: np.ndarray, n_clients: int, alpha: float, *, seed: int,
                   min_size: int = 10, max_tries: int = 10_000, self_balancing: bool = False
                   ) -> tuple[list[np.ndarray], int]:
    """:func:`dirichlet_partition` and the number of draws it took."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise PartitionError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise PartitionError(f"labels must be integers, got dtype {labels.dtype}")
    if isinstance(n_clients, bool) or not isinstance(n_clients, (int, np.integer)) or n_clients < 1:
        raise PartitionError(f"n_clients must be a positive int, got {n_clients!r}")
    if not np.isfinite(alpha) or alpha <= 0:
        raise PartitionError(f"Dirichlet concentration a must be > 0, got {alpha!r}")
    if min_size < 0:
        raise PartitionError(f"min_size must be >= 0, got {min_size}")
    n = labels.size
    if n_clients > n:
        raise PartitionError(f"more clients ({n_clients}) than samples ({n})")
    if n_clients * min_size > n:
        raise PartitionError(f"{n_clients} clients x min_size {min_size} = {n_clients * min_size} "
                             f"samples needed, only {n} available")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    by_class = [np.flatnonzero(labels == c) for c in classes]
    for tries in range(1, max_tries + 1):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
        sizes = np.zeros(n_clients, dtype=np.int64)
        for idx in by_class:
            idx = rng.permutation(idx)
            p = rng.dirichlet(np.full(n_clients, float(alpha)))
            if self_balancing:
                p = p * (sizes < n / n_clients)
                p = p / p.sum()
            cuts = (np.cumsum(p)[:-1] * len(idx)).astype(int)
            for m, chunk in enumerate(np.split(idx, cuts)):
                parts[m].append(chunk)
                sizes[m] += len(chunk)
        out = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(o) for o in out) >= min_size:
            return out, tries
    raise PartitionError(f"no Dirichlet draw with a={alpha} gave every one of {n_clients} clients "
                         f">= {min_size} samples in {max_tries} tries; raise a or lower min_size")


def label_histogram(labels: np.ndarray, parts: list[np.ndarray], n_classes: int) -> np.ndarray:
    """Counts ``[n_clients, n_classes]`` of each label on each client."""
    labels = np.asarray(labels)
    return np.stack([np.bincount(labels[p], minlength=n_classes) for p in parts])


def mean_label_entropy(hist: np.ndarray) -> float:
    """Mean over clients of the entropy (nats) of the client's label distribution."""
    p = hist / hist.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    return float(h.mean())
