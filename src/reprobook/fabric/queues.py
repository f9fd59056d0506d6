"""Queueing formulas behind the phase models: closed forms and the approximations the paper uses.

Notation as in the paper: arrival rate ``lam`` (lambda, tps), service rate ``mu`` (tps per
server), ``c`` servers, utilisation ``rho = lam / (c mu)``. Every function returns the mean
*waiting time in queue* W_q in seconds (service excluded) and raises :class:`UnstableQueueError`
when ``rho >= 1`` rather than returning a negative or infinite time.

- M/M/1: ``W_q = rho / (mu - lam)``.
- M/G/1 (Pollaczek-Khinchine): ``W_q = rho (1 + CV_s^2) / (2 mu (1 - rho))``; M/D/1 is CV_s = 0,
  M/E_r/1 is CV_s^2 = 1/r, M/H_2/1 any CV_s^2 (>= 1 for a hyper-exponential law).
- M/M/c (Erlang C): ``W_q = C(c, a) / (c mu - lam)`` with ``a = lam / mu``.
- M/D/c, the execute phase (revised manuscript eq. 2, after Cosmetatos 1975):
  ``W_q ~ 1/2 (1 + f(c) g(rho)) W_q^{M/M/c}``, ``f(c) = (c-1)(sqrt(4+5c) - 2) / (16 c)``,
  ``g(rho) = (1 - rho) / rho``.
- G/G/1 (Kingman), the order and validate phases (eqs. 4, 7):
  ``W_q ~ rho/(1-rho) (CV_a^2 + CV_s^2)/2 (1/mu)``; exact for M/M/1 and M/D/1, zero for D/D/1.
"""

from __future__ import annotations

import math

from reprobook.core.errors import ReprobookError


class UnstableQueueError(ReprobookError, ValueError):
    """The queue has utilisation >= 1: its waiting time grows without bound."""


def utilisation(lam: float, mu: float, c: int = 1) -> float:
    """``rho = lam / (c mu)``, checking the inputs."""
    if not (mu > 0 and math.isfinite(mu)):
        raise ValueError(f"service rate mu must be a positive number of tps, got {mu!r}")
    if not (lam >= 0 and math.isfinite(lam)):
        raise ValueError(f"arrival rate lambda must be a non-negative number of tps, got {lam!r}")
    if int(c) != c or c < 1:
        raise ValueError(f"the number of servers c must be a positive integer, got {c!r}")
    return lam / (c * mu)


def _stable(lam: float, mu: float, c: int = 1, what: str = "queue") -> float:
    rho = utilisation(lam, mu, c)
    if rho >= 1.0:
        raise UnstableQueueError(
            f"unstable {what}: rho = lambda / (c mu) = {lam:g} / ({c} x {mu:g}) = {rho:.4f} >= 1; "
            f"the queue grows without bound and has no finite mean waiting time")
    return rho


def mm1_wait(lam: float, mu: float) -> float:
    """M/M/1 mean waiting time in queue."""
    rho = _stable(lam, mu, 1, "M/M/1 queue")
    return rho / (mu - lam)


def mg1_wait(lam: float, mu: float, cs2: float) -> float:
    """M/G/1 by Pollaczek-Khinchine with service-time squared coefficient of variation ``cs2``."""
    if cs2 < 0:
        raise ValueError(f"a squared coefficient of variation is >= 0, got cs2 = {cs2!r}")
    rho = _stable(lam, mu, 1, "M/G/1 queue")
    return rho * (1.0 + cs2) / (2.0 * mu * (1.0 - rho))


def md1_wait(lam: float, mu: float) -> float:
    """M/D/1: Pollaczek-Khinchine with deterministic service."""
    return mg1_wait(lam, mu, 0.0)


def mer1_wait(lam: float, mu: float, r: int = 2) -> float:
    """M/E_r/1: Erlang-r service, CV_s^2 = 1/r (the validate-phase baseline)."""
    if int(r) != r or r < 1:
        raise ValueError(f"Erlang order r must be a positive integer, got {r!r}")
    return mg1_wait(lam, mu, 1.0 / r)


def mh21_wait(lam: float, mu: float, cs2: float) -> float:
    """M/H_2/1: a two-phase service law with squared coefficient of variation ``cs2`` (the
    execute-phase baseline). The authors' table columns equal ``cs2 = 0.5`` (see
    :data:`reprobook.fabric.model.AUTHORS_H2_CS2`); a hyper-exponential law has ``cs2 >= 1``."""
    return mg1_wait(lam, mu, cs2)


def mxd1_wait(lam: float, mu: float, batch: int) -> float:
    """M^X/D/1 with batches of exactly ``batch`` transactions arriving as a Poisson process of
    rate ``lam / batch`` (the authors' bursty clients), deterministic service ``1/mu``: the mean
    wait of a transaction is ``rho N S / (2 (1 - rho)) + (N - 1) S / 2`` with ``S = 1/mu``
    (the batch waits as one M/D/1 customer of service N S, then its members queue behind each
    other). ``batch = 1`` is M/D/1."""
    if int(batch) != batch or batch < 1:
        raise ValueError(f"batch size must be a positive integer, got {batch!r}")
    rho = _stable(lam, mu, 1, "M^X/D/1 queue")
    s = 1.0 / mu
    return rho * batch * s / (2.0 * (1.0 - rho)) + (batch - 1) * s / 2.0


def erlang_b(c: int, a: float) -> float:
    """Erlang B blocking probability, by ``B_k = a B_{k-1} / (k + a B_{k-1})`` (stable)."""
    b = 1.0
    for k in range(1, int(c) + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Erlang C: probability that an arrival waits in M/M/c with offered load ``a = lam/mu``."""
    rho = a / c
    if rho >= 1.0:
        raise UnstableQueueError(f"unstable M/M/c queue: offered load a = {a:g} >= c = {c}")
    b = erlang_b(c, a)
    return b / (1.0 - rho * (1.0 - b))


def mmc_wait(lam: float, mu: float, c: int) -> float:
    """M/M/c mean waiting time in queue, ``C(c, a) / (c mu - lam)``."""
    _stable(lam, mu, c, "M/M/c queue")
    if lam == 0:
        return 0.0
    return erlang_c(c, lam / mu) / (c * mu - lam)


def cosmetatos_f(c: int) -> float:
    """``f(c) = (c - 1)(sqrt(4 + 5c) - 2) / (16 c)``; zero for one server."""
    return (c - 1) * (math.sqrt(4.0 + 5.0 * c) - 2.0) / (16.0 * c)


def mdc_wait(lam: float, mu: float, c: int) -> float:
    """M/D/c mean waiting time, the paper's approximation (revised manuscript eq. 2):
    ``1/2 (1 + f(c) g(rho)) W_q^{M/M/c}``. Exact (Pollaczek-Khinchine) for ``c = 1``."""
    rho = _stable(lam, mu, c, "M/D/c queue")
    if lam == 0:
        return 0.0
    g = (1.0 - rho) / rho
    return 0.5 * (1.0 + cosmetatos_f(c) * g) * mmc_wait(lam, mu, c)


def kingman_wait(lam: float, mu: float, ca2: float, cs2: float) -> float:
    """G/G/1 mean waiting time by Kingman's approximation (revised manuscript eqs. 4 and 7)."""
    if ca2 < 0 or cs2 < 0:
        raise ValueError(f"squared coefficients of variation are >= 0, got ca2={ca2!r}, "
                         f"cs2={cs2!r}")
    rho = _stable(lam, mu, 1, "G/G/1 queue")
    return rho / (1.0 - rho) * (ca2 + cs2) / 2.0 / mu


def kingman_factor(wq: float, lam: float, mu: float) -> float:
    """The ``(CV_a^2 + CV_s^2)/2`` that makes Kingman's formula give ``wq`` (inverse of
    :func:`kingman_wait`); used to read the variability implied by a published T_q."""
    rho = _stable(lam, mu, 1, "G/G/1 queue")
    if rho == 0:
        return float("nan")
    return wq / (rho / (1.0 - rho) / mu)
