"""Distribution fits of a trace (BurstGPT's burstiness and length analyses).

Inter-arrival times: maximum-likelihood fits of Gamma(alpha, beta), Weibull(c, lambda) and
Exponential(mu) with location 0 (scipy.stats), compared by log-likelihood, AIC and the KS
statistic. The paper models arrivals as a Gamma process whose shape alpha and scale beta vary
over time and by service; Exponential gaps are the Poisson baseline (alpha = 1).

Zero gaps. BurstGPT's timestamps are whole seconds, so many requests share one: their gap is 0,
where no continuous density is defined. ``zero_policy`` says what is done, and the count of zero
gaps is always returned:

- ``"positive"`` — fit the gaps > 0 only (the zeros are counted, not hidden);
- ``"jitter"``  — spread the requests of one timestamp uniformly within its resolution
  (add U(0, resolution) to every timestamp, re-sort), then fit all gaps.

Lengths: a bounded discrete power law (Zipf) P(k) = k^-s / Z(s), k in [k_min, k_max], fitted by
maximum likelihood, against a discretised log-normal alternative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

ZERO_POLICIES = ("positive", "jitter")


@dataclass(frozen=True)
class Gaps:
    gaps: np.ndarray
    n_zero: int  # zero gaps in the raw timestamps
    policy: str


def interarrival_gaps(times: np.ndarray, zero_policy: str = "positive", resolution: float = 1.0,
                      rng: np.random.Generator | None = None) -> Gaps:
    """Gaps between consecutive requests, with the zero gaps handled by ``zero_policy``."""
    if zero_policy not in ZERO_POLICIES:
        raise ValueError(f"zero_policy {zero_policy!r} is not one of {ZERO_POLICIES}")
    t = np.sort(np.asarray(times, dtype=float))
    if t.size < 3:
        raise ValueError(f"need at least 3 arrivals to fit gaps, got {t.size}")
    raw = np.diff(t)
    n_zero = int(np.sum(raw == 0))
    if zero_policy == "positive":
        gaps = raw[raw > 0]
    else:
        rng = rng or np.random.default_rng(0)
        gaps = np.diff(np.sort(t + rng.uniform(0.0, resolution, size=t.size)))
        gaps = gaps[gaps > 0]  # exact ties after jitter have probability 0; guard anyway
    return Gaps(gaps=gaps, n_zero=n_zero, policy=zero_policy)


def fit_interarrivals(gaps: np.ndarray) -> pd.DataFrame:
    """MLE fits of Gamma, Weibull and Exponential to positive gaps; one row per distribution.

    Columns: ``dist``, ``shape`` (alpha, c, or 1), ``scale`` (beta, lambda, mu), ``loglik``,
    ``aic``, ``ks`` (KS statistic), ``n``. Sorted by AIC (best first).
    """
    g = np.asarray(gaps, dtype=float)
    if g.size < 2 or np.any(g <= 0):
        raise ValueError("gaps must be positive and at least 2 (handle zero gaps first)")
    rows = []
    a, _, beta = stats.gamma.fit(g, floc=0)
    rows.append(("gamma", a, beta, stats.gamma(a, 0, beta), 2))
    c, _, lam = stats.weibull_min.fit(g, floc=0)
    rows.append(("weibull", c, lam, stats.weibull_min(c, 0, lam), 2))
    mu = float(g.mean())
    rows.append(("exponential", 1.0, mu, stats.expon(0, mu), 1))
    out = []
    for name, shape, scale, dist, k in rows:
        ll = float(np.sum(dist.logpdf(g)))
        out.append({"dist": name, "shape": float(shape), "scale": float(scale), "loglik": ll,
                    "aic": 2 * k - 2 * ll, "ks": float(stats.kstest(g, dist.cdf).statistic),
                    "n": int(g.size)})
    return pd.DataFrame(out).sort_values("aic", ignore_index=True)


def windowed_gamma(times: np.ndarray, window_s: float, min_arrivals: int = 20,
                   zero_policy: str = "positive", resolution: float = 1.0,
                   rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Gamma fits per time window: the paper's alpha(t), beta(t) (windows with too few arrivals
    are reported with NaN parameters and their count, not dropped)."""
    t = np.sort(np.asarray(times, dtype=float))
    edges = np.arange(t[0], t[-1] + window_s, window_s)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        w = t[(t >= lo) & (t < hi)]
        row = {"start": lo, "end": hi, "arrivals": int(w.size), "rate": w.size / window_s,
               "alpha": np.nan, "beta": np.nan, "n_zero": 0}
        if w.size >= min_arrivals:
            gp = interarrival_gaps(w, zero_policy, resolution, rng)
            if gp.gaps.size >= 2:
                a, _, b = stats.gamma.fit(gp.gaps, floc=0)
                row.update(alpha=float(a), beta=float(b), n_zero=gp.n_zero)
        rows.append(row)
    return pd.DataFrame(rows)


# --- Zipf -------------------------------------------------------------------------------------


def _log_norm(s: float, kmin: int, kmax: int) -> float:
    """log Z(s) = log sum_{k=kmin}^{kmax} k^-s (Hurwitz zeta differences; exact sum if small)."""
    if kmax - kmin < 200_000:
        k = np.arange(kmin, kmax + 1, dtype=float)
        return float(special.logsumexp(-s * np.log(k)))
    z = special.zeta(s, kmin) - special.zeta(s, kmax + 1)
    return float(np.log(z))


@dataclass(frozen=True)
class ZipfFit:
    exponent: float
    kmin: int
    kmax: int
    loglik: float
    lognormal_loglik: float  # discretised log-normal on the same support
    n: int

    @property
    def zipf_preferred(self) -> bool:
        return self.loglik > self.lognormal_loglik


def fit_zipf(values: np.ndarray, kmin: int = 1, kmax: int | None = None) -> ZipfFit:
    """MLE of s in P(k) = k^-s / Z(s) on [kmin, kmax], plus a log-normal alternative's LL."""
    x = np.asarray(values)
    x = x[x >= kmin].astype(np.int64)
    if x.size < 2:
        raise ValueError(f"need at least 2 values >= {kmin} to fit a Zipf law")
    kmax = int(kmax if kmax is not None else x.max())
    x = x[x <= kmax]
    n, sum_log = x.size, float(np.sum(np.log(x)))

    def nll(s: float) -> float:
        return s * sum_log + n * _log_norm(s, kmin, kmax)

    res = optimize.minimize_scalar(nll, bounds=(1e-3, 6.0), method="bounded",
                                   options={"xatol": 1e-6})
    # discretised log-normal: P(k) = F(k + 1/2) - F(k - 1/2), renormalised on [kmin, kmax]
    mu, sigma = float(np.mean(np.log(x))), float(np.std(np.log(x)) or 1e-6)
    ln = stats.lognorm(sigma, 0, np.exp(mu))
    mass = ln.cdf(x + 0.5) - ln.cdf(x - 0.5)
    total = ln.cdf(kmax + 0.5) - ln.cdf(kmin - 0.5)
    ll_ln = float(np.sum(np.log(np.maximum(mass, 1e-300))) - n * np.log(total))
    return ZipfFit(exponent=float(res.x), kmin=kmin, kmax=kmax, loglik=-float(res.fun),
                   lognormal_loglik=ll_ln, n=int(n))
