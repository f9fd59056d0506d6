"""Client workloads: when transactions are created (the DES and the Node.js harness share them).

The authors' clients send *bursts* of N transactions at exponentially distributed intervals
(Section V.A of the revised manuscript: an exponential delay before each request; the workload
scripts launch several asynchronous requests at once). With a mean interval of ``N / rate`` the
offered rate is ``rate``. ``poisson`` is N = 1. ``h2`` is a renewal process whose gaps follow a
two-phase hyper-exponential law with balanced means and squared coefficient of variation
``cv2 >= 1`` (bursty without simultaneous arrivals); ``deterministic`` has equal gaps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KINDS = ("poisson", "bursts", "h2", "deterministic")


@dataclass(frozen=True)
class Workload:
    """``n_tx`` transactions at a mean offered rate ``rate`` (tps) from ``clients`` clients."""

    rate: float
    n_tx: int
    kind: str = "poisson"
    burst_size: int = 1
    cv2: float = 1.0
    clients: int = 7

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown workload kind {self.kind!r}; known: {list(KINDS)}")
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"the offered rate must be > 0 tps, got {self.rate!r}")
        if self.n_tx < 1 or self.burst_size < 1 or self.clients < 1:
            raise ValueError(f"n_tx, burst_size and clients must be >= 1, got {self.n_tx}, "
                             f"{self.burst_size}, {self.clients}")
        if self.kind == "h2" and self.cv2 < 1:
            raise ValueError(f"a hyper-exponential law has cv2 >= 1, got {self.cv2}")


def h2_gaps(rng: np.random.Generator, n: int, mean: float, cv2: float) -> np.ndarray:
    """``n`` gaps from a balanced-means H_2 law with the given mean and squared coefficient of
    variation (``cv2 = 1``: exponential)."""
    if cv2 == 1.0:
        return rng.exponential(mean, n)
    p = 0.5 * (1.0 + math.sqrt((cv2 - 1.0) / (cv2 + 1.0)))
    rates = np.where(rng.random(n) < p, 2.0 * p / mean, 2.0 * (1.0 - p) / mean)
    return rng.exponential(1.0, n) / rates


def arrival_times(w: Workload, rng: np.random.Generator) -> np.ndarray:
    """Creation times t0 (seconds from the start) of the ``n_tx`` transactions, sorted."""
    n, mean = w.n_tx, 1.0 / w.rate
    if w.kind == "poisson":
        gaps = rng.exponential(mean, n)
    elif w.kind == "deterministic":
        gaps = np.full(n, mean)
    elif w.kind == "h2":
        gaps = h2_gaps(rng, n, mean, w.cv2)
    else:
        bursts = -(-n // w.burst_size)
        starts = np.cumsum(rng.exponential(w.burst_size * mean, bursts))
        return np.repeat(starts, w.burst_size)[:n]
    return np.cumsum(gaps)


def client_of(w: Workload, n: int) -> np.ndarray:
    """The client that sends each transaction: round robin over bursts (one burst, one client)."""
    return (np.arange(n) // w.burst_size) % w.clients
