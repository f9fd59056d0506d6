"""Figures of the BurstGPT chapter; each function takes computed data and returns a figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from scipy import stats

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _label(df: pd.DataFrame) -> str:
    return f"{df.attrs.get('source', '')}{' (synthetic)' if df.attrs.get('synthetic') else ''}"


def periodicity(weekly: dict[str, pd.DataFrame], hourly: pd.DataFrame, title: str) -> plt.Figure:
    """Weekly heatmaps (week x weekday) per log type, and requests per hour of day (box plots)."""
    fig, axes = plt.subplots(1, len(weekly) + 1, figsize=(5 * (len(weekly) + 1), 3.8),
                             gridspec_kw={"width_ratios": [1] * len(weekly) + [2]})
    for ax, (name, m) in zip(axes, weekly.items()):
        sns.heatmap(m, ax=ax, cmap="mako_r", cbar_kws={"label": "requests per day"})
        ax.set(title=f"{name}: requests per day", xlabel="", ylabel="week")
        ax.set_xticklabels(WEEKDAYS[: m.shape[1]], rotation=0)
    sns.boxplot(data=hourly, x="hour_of_day", y="requests", hue="log_type", ax=axes[-1],
                fliersize=1, linewidth=0.7)
    axes[-1].set(yscale="log", xlabel="hour of day", ylabel="requests per hour",
                 title="requests per hour of day")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def rate_over_time(traces: dict[str, pd.DataFrame], window_s: float = 60) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7.5, 3.5))
    for name, df in traces.items():
        counts = np.bincount((df["time"] // window_s).astype(int))
        ax.step(np.arange(counts.size) * window_s / 60, counts / window_s, where="post",
                label=_label(df))
    ax.set(xlabel="minutes since the first request", ylabel=f"requests/s (per {window_s:g} s)",
           title="Arrival rate over the trace")
    ax.legend()
    return fig


def gap_ccdf(gaps: dict[str, np.ndarray], fits: dict[str, pd.DataFrame]) -> plt.Figure:
    """Empirical survival function of inter-arrival gaps with the fitted distributions."""
    fig, axes = plt.subplots(1, len(gaps), figsize=(5.2 * len(gaps), 3.8), squeeze=False)
    styles = {"gamma": "-", "weibull": "--", "exponential": ":"}
    for ax, (name, g) in zip(axes[0], gaps.items()):
        x = np.sort(g)
        ax.loglog(x, 1 - np.arange(x.size) / x.size, color="k", lw=2, label="trace")
        grid = np.logspace(np.log10(x[0]), np.log10(x[-1]), 200)
        for row in fits[name].itertuples():
            dist = {"gamma": stats.gamma(row.shape, 0, row.scale),
                    "weibull": stats.weibull_min(row.shape, 0, row.scale),
                    "exponential": stats.expon(0, row.scale)}[row.dist]
            ax.loglog(grid, dist.sf(grid), styles[row.dist],
                      label=f"{row.dist} (shape {row.shape:.2f}, KS {row.ks:.3f})")
        ax.set(xlabel="inter-arrival time (s)", ylabel="P(gap > x)", title=name,
               ylim=(1 / x.size / 2, 1.1))
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def alpha_beta(windows: dict[str, pd.DataFrame]) -> plt.Figure:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, w in windows.items():
        mid = (w["start"] + w["end"]) / 2 / 60
        a1.plot(mid, w["alpha"], marker="o", label=name)
        a2.plot(mid, w["beta"], marker="o", label=name)
    a1.axhline(1.0, color="0.5", ls=":", label="Poisson (alpha = 1)")
    a1.set(xlabel="minutes", ylabel="shape alpha(t)", title="Gamma shape per window")
    a2.set(xlabel="minutes", ylabel="scale beta(t) (s)", yscale="log", title="Gamma scale per window")
    a1.legend(fontsize="small")
    fig.tight_layout()
    return fig


def dispersion(tables: dict[str, pd.DataFrame]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, t in tables.items():
        t = t.dropna(subset=["dispersion"])
        ax.loglog(t["window_s"], t["dispersion"], marker="o", label=name)
    ax.axhline(1.0, color="0.4", ls=":", label="Poisson (= 1)")
    ax.set(xlabel="window (s)", ylabel="index of dispersion of counts (var / mean)",
           title="Burstiness across window sizes")
    ax.legend(fontsize="small")
    return fig


def lengths(traces: dict[str, pd.DataFrame], zipf: dict[str, object]) -> plt.Figure:
    """Request-length pmf (averaged over log-spaced bins) with the fitted Zipf law, and
    response-length CDFs."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for color, (name, df) in zip(sns.color_palette(), traces.items()):
        x = df["request_tokens"].to_numpy()
        x = x[x >= 1]
        edges = np.unique(np.round(np.logspace(0, np.log10(x.max() + 1), 30)).astype(int))
        counts = np.histogram(x, bins=edges)[0]
        width = np.diff(edges)
        centre = np.sqrt(edges[:-1] * edges[1:])
        keep = counts > 0
        a1.loglog(centre[keep], counts[keep] / (x.size * width[keep]), "o", ms=4, color=color,
                  label=f"{name} (binned)")
        f = zipf.get(name)
        if f is not None:
            k = np.arange(f.kmin, f.kmax + 1, dtype=float)
            pk = k ** -f.exponent
            a1.loglog(k, pk / pk.sum(), lw=1.5, color=color, label=f"Zipf fit, s = {f.exponent:.2f}")
        sns.ecdfplot(df.loc[~df["failed"], "response_tokens"], ax=a2, label=name, color=color)
    a1.set(xlabel="request tokens k", ylabel="P(k)", title="Request lengths")
    a1.legend(fontsize="x-small")
    a2.set(xscale="log", xlabel="response tokens", ylabel="CDF", title="Response lengths")
    a2.legend(fontsize="small")
    fig.tight_layout()
    return fig


def response_vs_request(tables: dict[str, pd.DataFrame]) -> plt.Figure:
    fig, axes = plt.subplots(1, len(tables), figsize=(5.2 * len(tables), 3.8), squeeze=False)
    for ax, (name, t) in zip(axes[0], tables.items()):
        ax.fill_between(t["request_mid"], t["p5"], t["p95"], alpha=0.25, label="5-95 %")
        ax.plot(t["request_mid"], t["median"], marker="o", ms=3, label="median")
        ax.plot(t["request_mid"], t["mean"], ls="--", label="mean")
        ax.set(xlabel="request tokens (bin centre)", ylabel="response tokens", title=name)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def generator_vs_trace(trace_t: np.ndarray, gen_t: np.ndarray, name: str,
                       window_s: float = 10) -> plt.Figure:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
    for t, label in ((trace_t, f"{name} (real)"), (gen_t, "generated")):
        c = np.bincount((t // window_s).astype(int))
        a1.plot(np.arange(c.size) * window_s / 60, c, lw=0.8, label=label)
        g = np.sort(np.diff(np.sort(t)))
        g = g[g > 0]
        a2.loglog(g, 1 - np.arange(g.size) / g.size, label=label)
    real_gaps = np.diff(np.sort(trace_t))
    a1.set(xlabel="minutes", ylabel=f"requests per {window_s:g} s", title="Load over time")
    a2.set(xlabel="gap (s)", ylabel="P(gap > x)", title="Inter-arrival gaps",
           xlim=(real_gaps[real_gaps > 0].min() / 3, None))
    a1.legend(fontsize="small")
    a2.legend(fontsize="small")
    fig.tight_layout()
    return fig


def serving(results: dict[str, object], rate: float) -> plt.Figure:
    """KV-cache usage over time and the TTFT distribution per arrival process."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11.5, 3.8))
    for name, r in results.items():
        a1.plot(r.kv["time"] / 60, r.kv["usage"], lw=0.8, label=name)
        done = r.requests[~r.requests["failed"]]
        sns.ecdfplot(done["first_token"] - done["arrival"], ax=a2, label=name)
    a1.set(xlabel="minutes", ylabel="KV-cache blocks in use (fraction)", ylim=(0, 1.05),
           title=f"KV-cache usage at {rate:g} req/s")
    a2.set(xscale="log", xlabel="time to first token (s)", ylabel="CDF",
           title="TTFT distribution")
    a1.legend(fontsize="small")
    fig.tight_layout()
    return fig


def sweep(df: pd.DataFrame) -> plt.Figure:
    panels = (("ttft_p99", "TTFT p99 (s)"), ("kv_peak", "KV-cache peak usage"),
              ("preemptions", "preemptions"), ("failure_rate", "failure rate (timeouts)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(16, 3.6))
    for ax, (metric, label) in zip(axes, panels):
        sns.lineplot(data=df, x="rate", y=metric, hue="arrivals", marker="o", ax=ax,
                     legend=metric == "ttft_p99")
        ax.set(xlabel="mean request rate (req/s)", ylabel=label)
        if metric == "ttft_p99":
            ax.set_yscale("log")
            ax.legend(fontsize="x-small")
    fig.tight_layout()
    return fig
