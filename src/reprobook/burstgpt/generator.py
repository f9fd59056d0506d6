"""The workload generator (BurstGPT's generator): arrivals and request/response lengths.

Arrivals. Gaps are Gamma(k, theta) with theta = 1 / (k * rate), so the mean gap is exactly
1 / rate for every shape k, and the gap's coefficient of variation is 1 / sqrt(k): k = 1 is a
Poisson process, k < 1 is burstier. ``piecewise_gamma_arrivals`` follows the paper's time-varying
alpha(t), beta(t) window by window (optionally scaled in rate); ``replay`` re-plays a trace's
timestamps faster or slower.

Lengths. ``zipf_lengths`` draws from a Zipf law truncated at ``max_tokens`` by redrawing (as the
official generator does, with exponent 1.1 and cap 1024); ``bootstrap_lengths`` resamples real
(request, response) pairs, keeping their joint distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .constants import GENERATOR_MAX_TOKENS, GENERATOR_ZIPF_EXPONENT


@dataclass(frozen=True)
class Workload:
    """Requests to send: arrival times (s), prompt and output lengths; ``name`` for tables."""

    name: str
    arrivals: np.ndarray
    request_tokens: np.ndarray
    response_tokens: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.arrivals)
        if len(self.request_tokens) != n or len(self.response_tokens) != n:
            raise ValueError("arrivals and lengths must have the same length")
        if n and np.any(np.diff(self.arrivals) < 0):
            raise ValueError("arrivals must be sorted")

    @property
    def n(self) -> int:
        return len(self.arrivals)

    def rate(self) -> float:
        return self.n / float(self.arrivals[-1]) if self.n > 1 else float("nan")


def gamma_arrivals(rate: float, shape: float, duration: float,
                   rng: np.random.Generator, start: float = 0.0) -> np.ndarray:
    """Arrival times in [start, start + duration) with Gamma(shape, 1/(shape*rate)) gaps."""
    if rate <= 0 or shape <= 0 or duration <= 0:
        raise ValueError(f"rate, shape and duration must be positive (got {rate}, {shape}, {duration})")
    scale = 1.0 / (shape * rate)
    out: list[np.ndarray] = []
    t = start
    chunk = max(16, int(rate * duration * 1.2) + 16)
    while t < start + duration:
        times = t + np.cumsum(rng.gamma(shape, scale, size=chunk))
        out.append(times)
        t = float(times[-1])
    all_t = np.concatenate(out)
    return all_t[all_t < start + duration]


def poisson_arrivals(rate: float, duration: float, rng: np.random.Generator) -> np.ndarray:
    """A Poisson process: Gamma gaps with shape 1 (exponential)."""
    return gamma_arrivals(rate, 1.0, duration, rng)


def piecewise_gamma_arrivals(windows: pd.DataFrame, rng: np.random.Generator,
                             rate_scale: float = 1.0, match_rate: bool = True) -> np.ndarray:
    """Arrivals following fitted windows (columns ``start``, ``end``, ``alpha``, ``beta``, ``rate``).

    In window [start, end) the gaps are Gamma with shape alpha(t). With ``match_rate`` (default)
    the scale is set so that the window's mean rate equals its observed ``rate`` (times
    ``rate_scale``): beta' = 1 / (alpha * rate). Without it the fitted beta(t) is used as is
    (rate 1 / (alpha beta)); the two differ when a window's arrivals are bunched into part of it,
    where a renewal process with the fitted gaps would overshoot the window's count. A window
    without a fit (NaN alpha) gets a Poisson process at its observed rate.
    """
    parts = []
    for w in windows.itertuples(index=False):
        duration = w.end - w.start
        observed = float(getattr(w, "rate", np.nan))
        fitted = np.isfinite(w.alpha) and np.isfinite(w.beta)
        if fitted and not match_rate:
            rate, shape = rate_scale / (w.alpha * w.beta), w.alpha
        elif fitted:
            rate, shape = observed * rate_scale, w.alpha
        else:
            rate, shape = observed * rate_scale, 1.0
        if np.isfinite(rate) and rate > 0:
            parts.append(gamma_arrivals(rate, shape, duration, rng, start=w.start))
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0)


def replay(times: np.ndarray, speedup: float = 1.0) -> np.ndarray:
    """A trace's timestamps from 0, ``speedup`` times faster (2.0 halves every gap)."""
    if not speedup > 0:
        raise ValueError(f"speedup must be positive, got {speedup}")
    t = np.sort(np.asarray(times, dtype=float))
    if t.size == 0:
        raise ValueError("replay needs at least one timestamp, got an empty trace")
    return (t - t[0]) / speedup


def zipf_lengths(n: int, rng: np.random.Generator, exponent: float = GENERATOR_ZIPF_EXPONENT,
                 max_tokens: int = GENERATOR_MAX_TOKENS) -> np.ndarray:
    """``n`` Zipf(exponent) draws, redrawn while above ``max_tokens`` (the official generator)."""
    if exponent <= 1:
        raise ValueError("numpy's Zipf sampler needs an exponent > 1")
    out = rng.zipf(exponent, size=n)
    bad = out > max_tokens
    while bad.any():
        out[bad] = rng.zipf(exponent, size=int(bad.sum()))
        bad = out > max_tokens
    return out.astype(np.int64)


def bootstrap_lengths(trace: pd.DataFrame, n: int, rng: np.random.Generator,
                      max_tokens: int | None = None,
                      max_total: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (request, response) pairs resampled from a trace's successful requests.

    ``max_total`` keeps only pairs whose request + response fits a model's context (e.g. 4096
    for Llama 2); ``max_tokens`` caps each length instead.
    """
    ok = trace[~trace["failed"]]
    if max_total is not None:
        ok = ok[ok["request_tokens"] + ok["response_tokens"] <= max_total]
    if ok.empty:
        raise ValueError("the trace has no successful requests to resample")
    idx = rng.integers(0, len(ok), size=n)
    req = ok["request_tokens"].to_numpy()[idx]
    res = ok["response_tokens"].to_numpy()[idx]
    if max_tokens is not None:
        req, res = np.minimum(req, max_tokens), np.minimum(res, max_tokens)
    return req.astype(np.int64), res.astype(np.int64)


def make_workload(name: str, arrivals: np.ndarray, trace: pd.DataFrame | None,
                  rng: np.random.Generator, max_tokens: int | None = None,
                  max_total: int | None = None) -> Workload:
    """Arrivals plus lengths: bootstrapped from ``trace`` if given, else the official Zipf law."""
    n = len(arrivals)
    if trace is not None:
        req, res = bootstrap_lengths(trace, n, rng, max_tokens, max_total)
    else:
        req, res = zipf_lengths(n, rng), zipf_lengths(n, rng)
    return Workload(name, np.asarray(arrivals, dtype=float), req, res)


def dispersion_check(traces: dict[str, pd.DataFrame], fit_window_s: float, window_s: float,
                     seeds: list[int], match_rate: bool = True) -> pd.DataFrame:
    """The generator against each trace: one row per (service, seed) with the index of dispersion
    of counts per ``window_s`` of the real trace, of the per-window Gamma generator fitted with
    windows of ``fit_window_s``, and of a per-window Poisson generator (the null: the same windowed
    rates without bursts)."""
    from .analysis import burstiness
    from .fitting import windowed_gamma

    rows = []
    for name, df in traces.items():
        t = df["time"].to_numpy()
        w = windowed_gamma(t, fit_window_s)
        poisson = w.assign(alpha=np.nan, beta=np.nan)  # NaN shape: a Poisson process per window
        real = float(burstiness(t, (window_s,))["dispersion"].iloc[0])
        for seed in seeds:
            rng = np.random.default_rng(seed)
            gen = piecewise_gamma_arrivals(w, rng, match_rate=match_rate)
            poi = piecewise_gamma_arrivals(poisson, rng)
            rows.append({"service": name, "seed": seed, "window_s": window_s,
                         "dispersion real": real,
                         "dispersion generated":
                             float(burstiness(gen, (window_s,))["dispersion"].iloc[0]),
                         "dispersion poisson": float(burstiness(poi, (window_s,))["dispersion"].iloc[0])})
    return pd.DataFrame(rows)
