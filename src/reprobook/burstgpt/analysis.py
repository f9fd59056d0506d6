"""Trace analyses (BurstGPT's characterisation): periodicity, burstiness across windows, lengths, failures."""

from __future__ import annotations

import numpy as np
import pandas as pd

WINDOWS_S = (60, 300, 900, 3600)  # 1, 5, 15, 60 minutes (the brief's window sizes)


def counts_per_window(times: np.ndarray, window_s: float, duration: float | None = None) -> np.ndarray:
    """Arrivals in consecutive windows of ``window_s`` seconds from time 0 (complete windows only)."""
    t = np.asarray(times, dtype=float)
    duration = float(t.max()) if duration is None else duration
    n_windows = int(duration // window_s)
    if n_windows < 1:
        return np.zeros(0, dtype=np.int64)
    return np.bincount((t[t < n_windows * window_s] // window_s).astype(np.int64),
                       minlength=n_windows)


def burstiness(times: np.ndarray, windows_s: tuple[float, ...] = WINDOWS_S,
               min_windows: int = 4) -> pd.DataFrame:
    """Load per window at several window sizes: mean, CV, peak/mean and index of dispersion.

    For a Poisson process the counts in a window of w seconds are Poisson(lambda w): their index
    of dispersion (variance / mean) is 1 and their CV is 1/sqrt(lambda w) (``cv_poisson``).
    Burstiness that persists across window sizes shows as dispersion >> 1 at every size. Windows
    that would leave fewer than ``min_windows`` complete windows are reported as NaN rows.
    """
    rows = []
    for w in windows_s:
        c = counts_per_window(times, w)
        row = {"window_s": w, "windows": int(c.size), "mean": np.nan, "cv": np.nan,
               "cv_poisson": np.nan, "peak_to_mean": np.nan, "dispersion": np.nan}
        if c.size >= min_windows and c.mean() > 0:
            m = float(c.mean())
            row.update(mean=m, cv=float(c.std(ddof=1) / m), cv_poisson=float(1 / np.sqrt(m)),
                       peak_to_mean=float(c.max() / m), dispersion=float(c.var(ddof=1) / m))
        rows.append(row)
    return pd.DataFrame(rows)


def weekly_matrix(df: pd.DataFrame, day0_weekday: int = 0) -> pd.DataFrame:
    """Requests per (week, weekday); ``day0_weekday`` is the weekday of day 0 (Monday = 0)."""
    day = (df["time"] // 86400).astype(int) + day0_weekday
    m = pd.crosstab(day // 7, day % 7).reindex(columns=range(7), fill_value=0)
    m.index.name, m.columns.name = "week", "weekday"
    return m


def per_hour_counts(df: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Requests per clock hour (one row per hour of the trace and group) for box plots by hour."""
    hour_index = (df["time"] // 3600).astype(int)
    keys = [hour_index] + [df[c] for c in (by or [])]
    out = df.groupby(keys).size().rename("requests").reset_index()
    out = out.rename(columns={out.columns[0]: "hour_index"})
    out["hour_of_day"] = out["hour_index"] % 24
    return out


def response_vs_request(df: pd.DataFrame, bins: np.ndarray | None = None) -> pd.DataFrame:
    """Response length per request-length bin: count, median, mean, 5th and 95th percentiles
    (the paper's Fig. "request vs response tokens"); failed requests are excluded and counted."""
    ok = df[~df["failed"]]
    if bins is None:
        hi = max(int(ok["request_tokens"].quantile(0.99)), 2)
        bins = np.unique(np.linspace(0, hi, 21).astype(int))
    cut = pd.cut(ok["request_tokens"], bins, include_lowest=True)
    g = ok.groupby(cut, observed=True)["response_tokens"]
    out = pd.DataFrame({"count": g.size(), "median": g.median(), "mean": g.mean(),
                        "p5": g.quantile(0.05), "p95": g.quantile(0.95)})
    out["request_mid"] = [iv.mid for iv in out.index]
    out.attrs["failed_excluded"] = int(df["failed"].sum())
    return out.reset_index(drop=True)


def failure_table(df: pd.DataFrame) -> pd.DataFrame:
    """Failure rate (response tokens == 0) per model x log type."""
    g = df.groupby(["model", "log_type"])["failed"]
    return pd.DataFrame({"requests": g.size(), "failures": g.sum(),
                         "failure_rate": g.mean()}).reset_index()


def failures_vs_load(df: pd.DataFrame, window_s: float = 3600) -> pd.DataFrame:
    """Per window: requests and failure rate, to see whether failures rise with load."""
    w = (df["time"] // window_s).astype(int)
    g = df.groupby(w)["failed"]
    return pd.DataFrame({"requests": g.size(), "failure_rate": g.mean()}).reset_index(names="window")


def trace_summary(traces: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per trace: size, span, mean rate, failures, and whether it is synthetic."""
    rows = []
    for name, df in traces.items():
        span = float(df["time"].iloc[-1])
        rows.append({"trace": name, "requests": len(df), "span_h": span / 3600,
                     "mean_rate_per_s": len(df) / span if span > 0 else float("nan"),
                     "mean_request_tokens": float(df["request_tokens"].mean()),
                     "mean_response_tokens": float(df.loc[~df["failed"], "response_tokens"].mean()),
                     "failures": int(df["failed"].sum()),
                     "synthetic": bool(df.attrs.get("synthetic", False))})
    return pd.DataFrame(rows)


def groups(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The trace split by model x log type (BurstGPT's four services), keeping ``attrs``."""
    out = {}
    for (model, log_type), g in df.groupby(["model", "log_type"]):
        g = g.copy()
        g.attrs = dict(df.attrs)
        out[f"{model} {log_type}"] = g
    return out


def persistence(disp: dict[str, pd.DataFrame], threshold: float = 2.0) -> tuple[dict[str, bool], str]:
    """Per series: is the dispersion above ``threshold`` at every window size (>= 2 sizes)?
    Returns the flags and a one-line summary of the dispersion ranges."""
    flags = {n: bool((d["dispersion"].dropna() > threshold).all()
                     and d["dispersion"].notna().sum() >= 2) for n, d in disp.items()}
    text = "; ".join(
        f"{n}: dispersion {d['dispersion'].min():.1f}-{d['dispersion'].max():.1f} over "
        f"{d.dropna()['window_s'].min():g}-{d.dropna()['window_s'].max():g} s"
        for n, d in disp.items())
    return flags, text


def poisson_twins(series: dict[str, pd.DataFrame], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """For each series, arrival times of a Poisson process with its count and span (the null of
    the burstiness claims: what the same load would look like without bursts)."""
    out = {}
    for name, df in series.items():
        t = df["time"].to_numpy()
        out[name] = np.sort(rng.uniform(0.0, float(t.max()), size=t.size))
    return out


def findings(fits: dict[str, pd.DataFrame], windows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The paper's qualitative findings on arrivals beside this run's Gamma fits."""
    shape = {n: float(f.set_index("dist").loc["gamma", "shape"]) for n, f in fits.items()}
    rows = [{"finding (BurstGPT paper)": "arrivals are burstier than Poisson (Gamma shape < 1)",
             "this run": ", ".join(f"{n}: alpha = {a:.2f}" for n, a in shape.items())}]
    if {"Azure code", "Azure conv"} <= set(shape):
        rows.append({"finding (BurstGPT paper)": "API traffic burstier than conversation traffic",
                     "this run": f"Azure code alpha {shape['Azure code']:.2f} vs conv "
                                 f"{shape['Azure conv']:.2f}"})
    rows.append({"finding (BurstGPT paper)": "Gamma parameters change over time",
                 "this run": ", ".join(f"{n}: alpha(t) in [{w['alpha'].min():.2f}, "
                                       f"{w['alpha'].max():.2f}]" for n, w in windows.items())})
    return pd.DataFrame(rows)
