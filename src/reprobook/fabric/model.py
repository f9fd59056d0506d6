"""The paper's phase models: eqs. (1)-(7) of the revised manuscript (Section IV), as pure functions.

Execute (eqs. 1-2): an endorsing peer with ``c`` cores is an M/D/c queue::

    psi^e = c mu^e rho^e,       rho^e = lambda^e / (c mu^e)
    E[T^e] = 2 alpha + 2 m lambda^e / beta^e + 1/mu^e + 1/2 (1 + f(c) g(rho^e)) E[T_q^{M/M/c}]

Order (eqs. 3-5): the OSN leader is a G/G/1 queue, the block cutter adds a waiting time::

    E[T^r] = alpha + m lambda^r / beta^r_c2l + alpha + (k - 1) m lambda^r / beta^r_l2f + 1/mu^r
             + min(BatchTimeout / 2, dt / 2) + rho/(1 - rho) (CV_a^2 + CV_s^2)/2 (1/mu^r),
    with lambda^r dt = BatchSize.

Validate (eqs. 6-7): the committing peer is a G/G/1 queue bounded by its disk::

    psi^v = mu^v rho^v = d R_disk rho^v / m,   1/R_disk = W_seek + 1/IOPS (HDD) or 1/IOPS (SSD)
    E[T^v] = alpha + m lambda^v / beta^v + 1/mu^v + rho/(1 - rho) (CV_a^2 + CV_s^2)/2 (1/mu^v)

Communication follows the alpha-beta model with an *effective* bandwidth beta (Mbps) fitted per
configuration: a term ``size lambda / beta`` is ``lambda * size_KB * 8 / 1024 / beta`` seconds, the
unit convention of the authors' tables. Sizes: 2m for execute (proposal and endorsement), m from
the client to the leader, (k-1) m from the leader to its followers, m to the committing peer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import constants as K
from .queues import kingman_wait, mdc_wait, utilisation

# The authors' M/H_2/1 and M/E_r/1 columns both equal 3/4 of the M/M/1 waiting time, i.e. a
# service law with squared coefficient of variation 1/2 (Erlang-2; Tables 1-2 and 7-8).
AUTHORS_H2_CS2 = 0.5
AUTHORS_ERLANG_R = 2


def comm_latency(lam: float, size_kb: float, beta_mbps: float, alpha: float = 0.0,
                 hops: int = 1) -> float:
    """Alpha-beta communication latency ``hops * alpha + lam * size_KB * 8/1024 / beta`` (s)."""
    if not beta_mbps > 0:
        raise ValueError(f"effective bandwidth beta must be > 0 Mbps, got {beta_mbps!r}")
    return hops * alpha + lam * size_kb * K.KB_TO_MBIT / beta_mbps


def effective_bandwidth(lam: float, size_kb: float, t_comm: float, alpha: float = 0.0,
                        hops: int = 1) -> float:
    """The bandwidth (Mbps) that makes :func:`comm_latency` equal ``t_comm`` (the tables' "BW")."""
    budget = t_comm - hops * alpha
    if not budget > 0:
        raise ValueError(f"communication latency {t_comm:.4g} s leaves nothing after "
                         f"{hops} x alpha = {hops * alpha:.4g} s: no effective bandwidth")
    return lam * size_kb * K.KB_TO_MBIT / budget


def fit_bandwidth(lams: Sequence[float], t_comms: Sequence[float], size_kb: float,
                  alpha: float = 0.0, hops: int = 1, method: str = "mean") -> float:
    """Fit one effective bandwidth to the rows of a configuration.

    ``method="mean"``: the mean of the per-row bandwidths, the tables' "avg BW" (the paper's
    fitting). ``method="lsq"``: least squares of ``t_comm - hops*alpha`` on ``lam*size*8/1024``
    through the origin (weights every row by its load)."""
    lam = np.asarray(lams, dtype=float)
    t = np.asarray(t_comms, dtype=float)
    if lam.size == 0 or lam.shape != t.shape:
        raise ValueError(f"need equally long, non-empty lambdas and latencies ({lam.size}, "
                         f"{t.size})")
    if method == "mean":
        return float(np.mean([effective_bandwidth(a, size_kb, b, alpha, hops)
                              for a, b in zip(lam, t)]))
    if method == "lsq":
        x = lam * size_kb * K.KB_TO_MBIT
        slope = float(np.dot(x, t - hops * alpha) / np.dot(x, x))
        if not slope > 0:
            raise ValueError("least-squares fit gives a non-positive 1/beta")
        return 1.0 / slope
    raise ValueError(f"unknown fitting method {method!r}; use 'mean' or 'lsq'")


@dataclass(frozen=True)
class Latency:
    """A phase's mean latency split into its model terms (seconds)."""

    comm: float
    service: float
    queue: float
    wait: float = 0.0  # block waiting (order phase only)

    @property
    def total(self) -> float:
        return self.comm + self.service + self.queue + self.wait


def execute_throughput(lam: float, mu: float, c: int) -> float:
    """Eq. (1): ``psi^e = c mu^e rho^e`` (equals ``lam`` while the queue is stable)."""
    return c * mu * utilisation(lam, mu, c)


def execute_capacity(mu: float, c: int) -> float:
    """The endorsing peer's maximum throughput ``c mu^e``: linear in the cores (eq. 1, rho -> 1)."""
    return c * mu


def execute_latency(lam: float, mu: float, c: int, beta: float, alpha: float = 0.0,
                    m_kb: float = K.M_KB) -> Latency:
    """Eq. (2): M/D/c endorsing peer plus two alpha-beta messages of size m."""
    comm = comm_latency(lam, 2 * m_kb, beta, alpha, hops=2)
    return Latency(comm=comm, service=1.0 / mu, queue=mdc_wait(lam, mu, c))


def block_wait(lam: float, batch_size: int, batch_timeout: float = K.BATCH_TIMEOUT_S) -> float:
    """Eqs. (4)-(5): ``min(BatchTimeout/2, dt/2)`` with ``lam dt = BatchSize``."""
    if batch_size < 1 or batch_timeout <= 0:
        raise ValueError(f"BatchSize must be >= 1 and BatchTimeout > 0, got {batch_size}, "
                         f"{batch_timeout}")
    if lam <= 0:
        return batch_timeout / 2.0
    return min(batch_timeout / 2.0, batch_size / lam / 2.0)


def order_latency(lam: float, mu: float, k: int, beta_c2l: float, beta_l2f: float,
                  batch_size: int, batch_timeout: float = K.BATCH_TIMEOUT_S, ca2: float = 1.0,
                  cs2: float = 0.0, alpha: float = 0.0, m_kb: float = K.M_KB,
                  tq: float | None = None) -> Latency:
    """Eq. (4). ``tq`` replaces Kingman's term when a measured queueing latency is given."""
    if k < 1 or k % 2 == 0:
        raise ValueError(f"the number of OSNs k must be odd and >= 1, got {k}")
    c2l = comm_latency(lam, m_kb, beta_c2l, alpha)
    l2f = comm_latency(lam, (k - 1) * m_kb, beta_l2f, alpha) if k > 1 else 0.0
    queue = kingman_wait(lam, mu, ca2, cs2) if tq is None else tq
    return Latency(comm=c2l + l2f, service=1.0 / mu, queue=queue,
                   wait=block_wait(lam, batch_size, batch_timeout))


def disk_rate(iops: float, w_seek: float = 0.0) -> float:
    """``R_disk`` (IOs per second): ``1/R = W_seek + 1/IOPS``; ``w_seek = 0`` for an SSD."""
    if iops <= 0 or w_seek < 0:
        raise ValueError(f"need IOPS > 0 and a seek time >= 0, got {iops}, {w_seek}")
    return 1.0 / (w_seek + 1.0 / iops)


def validate_service_rate(d_kb: float, r_disk: float, m_kb: float = K.M_KB) -> float:
    """Eq. (6) at rho = 1: ``mu^v = d R_disk / m`` (d: data written per disk IO)."""
    return d_kb * r_disk / m_kb


def validate_throughput(lam: float, mu: float) -> float:
    """Eq. (6): ``psi^v = mu^v rho^v``."""
    return mu * utilisation(lam, mu, 1)


def validate_latency(lam: float, mu: float, beta: float, ca2: float = 1.0, cs2: float = 0.0,
                     alpha: float = 0.0, m_kb: float = K.M_KB,
                     tq: float | None = None) -> Latency:
    """Eq. (7). ``tq`` replaces Kingman's term when a measured queueing latency is given."""
    queue = kingman_wait(lam, mu, ca2, cs2) if tq is None else tq
    return Latency(comm=comm_latency(lam, m_kb, beta, alpha), service=1.0 / mu, queue=queue)


def mape(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Mean absolute percentage error, in percent."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    if p.shape != m.shape or p.size == 0 or np.any(m <= 0) or not np.all(np.isfinite(p)):
        raise ValueError("MAPE needs equally long, finite predictions and positive measurements")
    return float(100.0 * np.mean(np.abs(p - m) / m))


def ape(predicted: Sequence[float], measured: Sequence[float]) -> list[float]:
    """Absolute percentage error of each row, in percent."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    return [float(x) for x in 100.0 * np.abs(p - m) / m]


def quorum_size(k: int) -> int:
    """A Raft majority of ``k`` nodes (leader included): ``floor(k/2) + 1``."""
    if k < 1:
        raise ValueError(f"a Raft cluster needs k >= 1 nodes, got {k}")
    return k // 2 + 1


def follower_acks_needed(k: int) -> int:
    """Acknowledgements the leader needs from its ``k - 1`` followers: ``quorum_size(k) - 1``."""
    return quorum_size(k) - 1
