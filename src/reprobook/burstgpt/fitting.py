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

Tests (the claims' statistics, from libraries):

- ``gof_pvalue``: goodness of fit of a distribution with estimated parameters by a parametric
  bootstrap of the KS statistic (:func:`scipy.stats.goodness_of_fit`);
- ``lr_nested``: Gamma against its special case Exponential (shape 1): Wilks' likelihood-ratio
  test, 2 (ll_gamma - ll_exp) ~ chi^2(1) under the Exponential;
- ``vuong``: two non-nested models with as many parameters (Gamma against Weibull): Vuong's test
  on the pointwise log-likelihood differences;
- ``zipf_vs_lognormal``: a discrete power law (Zipf) against a discrete log-normal, both fitted by
  maximum likelihood, with the ``powerlaw`` package's ``distribution_compare`` (the normalised
  log-likelihood ratio R and its p-value).

Lengths: a bounded discrete power law (Zipf) P(k) = k^-s / Z(s), k in [k_min, k_max], fitted by
maximum likelihood (``fit_zipf``), for the exponent and the figure.
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
    if t.size < 2:
        raise ValueError(f"windowed_gamma needs at least 2 arrival times, got {t.size}")
    if not window_s > 0:
        raise ValueError(f"window_s must be positive, got {window_s}")
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
    n: int


def fit_zipf(values: np.ndarray, kmin: int = 1, kmax: int | None = None) -> ZipfFit:
    """MLE of s in P(k) = k^-s / Z(s) on [kmin, kmax]."""
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
    return ZipfFit(exponent=float(res.x), kmin=kmin, kmax=kmax, loglik=-float(res.fun), n=int(n))


def zipf_vs_lognormal(values: np.ndarray, kmin: int = 1) -> dict[str, float]:
    """Zipf (discrete power law) against a discrete log-normal on values >= ``kmin``, both by
    maximum likelihood (``powerlaw.Fit(discrete=True)``): ``{"R", "p", "alpha"}`` with R the
    normalised log-likelihood ratio (> 0 favours Zipf) and p its two-sided significance."""
    import warnings

    import powerlaw

    x = np.asarray(values)
    x = x[x >= kmin]
    if x.size < 10:
        raise ValueError(f"need at least 10 values >= {kmin} to compare Zipf and log-normal")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # powerlaw warns about its own numerical integrals
        fit = powerlaw.Fit(x, discrete=True, xmin=kmin, verbose=False)
        r, p = fit.distribution_compare("power_law", "lognormal", normalized_ratio=True)
    return {"R": float(r), "p": float(p), "alpha": float(fit.power_law.alpha)}


# --- tests of the arrival models --------------------------------------------------------------

DISTS = {"gamma": stats.gamma, "weibull": stats.weibull_min, "exponential": stats.expon}


def gof_pvalue(dist: str, gaps: np.ndarray, n_mc: int = 99, seed: int = 0) -> float:
    """p-value of a parametric-bootstrap KS test that ``gaps`` follow ``dist`` (location 0, other
    parameters estimated): :func:`scipy.stats.goodness_of_fit`. The smallest possible p-value is
    1 / (n_mc + 1)."""
    g = np.asarray(gaps, dtype=float)
    if dist not in DISTS:
        raise ValueError(f"unknown distribution {dist!r}; known: {sorted(DISTS)}")
    res = stats.goodness_of_fit(DISTS[dist], g, known_params={"loc": 0}, statistic="ks",
                                n_mc_samples=n_mc, rng=np.random.default_rng(seed))
    return float(res.pvalue)


def lr_nested(gaps: np.ndarray) -> dict[str, float]:
    """Gamma against Exponential (its shape-1 special case): R = ll_gamma - ll_exp and the p-value
    of Wilks' test, 2R ~ chi^2(1) under the Exponential."""
    g = np.asarray(gaps, dtype=float)
    a, _, b = stats.gamma.fit(g, floc=0)
    ll_g = float(np.sum(stats.gamma.logpdf(g, a, 0, b)))
    ll_e = float(np.sum(stats.expon.logpdf(g, 0, g.mean())))
    r = max(ll_g - ll_e, 0.0)  # the MLE over the larger model cannot be worse
    return {"R": r, "p": float(stats.chi2.sf(2 * r, df=1))}


def vuong(gaps: np.ndarray, a: str = "gamma", b: str = "weibull") -> dict[str, float]:
    """Vuong's test of two non-nested models with equally many parameters: R = ll_a - ll_b and the
    two-sided p-value of the normalised pointwise log-likelihood difference."""
    g = np.asarray(gaps, dtype=float)
    lp = {}
    for name in (a, b):
        params = DISTS[name].fit(g, floc=0)
        lp[name] = DISTS[name].logpdf(g, *params)
    d = lp[a] - lp[b]
    r = float(d.sum())
    sd = float(d.std(ddof=1))
    p = 1.0 if sd == 0 else float(2 * stats.norm.sf(abs(r) / (sd * np.sqrt(d.size))))
    return {"R": r, "p": p}


def arrival_model_tests(gaps: dict[str, np.ndarray], n_mc: int = 99, seed: int = 0) -> pd.DataFrame:
    """Every test of the arrival models per series (the claims' measurements): bootstrap KS
    p-values of Exponential and Gamma, Wilks' Gamma-vs-Exponential and Vuong's Gamma-vs-Weibull."""
    rows = []
    for name, g in gaps.items():
        lr, v = lr_nested(g), vuong(g)
        rows.append({"series": name, "n": int(g.size),
                     "exp_p": gof_pvalue("exponential", g, n_mc, seed),
                     "gamma_p": gof_pvalue("gamma", g, n_mc, seed),
                     "lr_R": lr["R"], "lr_p": lr["p"], "vuong_R": v["R"], "vuong_p": v["p"]})
    return pd.DataFrame(rows)
