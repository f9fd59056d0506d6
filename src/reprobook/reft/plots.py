"""Figures of the REFT chapter (computing lives elsewhere; this only draws)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .cluster import RunReport


def save_cost(df: pd.DataFrame, mbps: float) -> plt.Figure:
    """Blocking time and time-to-safe per method (log scale)."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    y = np.arange(len(df))
    ax.barh(y - 0.2, df.saved_s * 1e3, height=0.4, label="until safe (persisted / committed)")
    blocked = df.blocking_s.to_numpy() > 0
    ax.barh(y[blocked] + 0.2, df.blocking_s[blocked] * 1e3, height=0.4, label="training blocked")
    ax.set_yticks(y, df.method)
    ax.invert_yaxis()
    ax.set_xscale("log")
    lo = ax.get_xlim()[0]
    for yy in y[~blocked]:
        ax.text(lo * 1.2, yy + 0.2, "blocks only if the copy outlasts an iteration (section 3)",
                va="center", fontsize=7, color="0.35")
    ax.set_xlabel(f"milliseconds per save (storage emulated at {mbps:g} MB/s)")
    ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    fig.tight_layout()
    return fig


def bandwidth_sweep(sweep: pd.DataFrame) -> plt.Figure:
    """Time until safe against the emulated storage bandwidth."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for method, d in sweep.groupby("method", sort=False):
        ax.plot(d.mbps, d.saved_s * 1e3, marker="o", label=method)
    ax.set(xscale="log", yscale="log", xlabel="emulated storage bandwidth (MB/s)",
           ylabel="ms until the state is safe")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def trajectories(reports: dict[str, RunReport], reference: str = "failure-free") -> plt.Figure:
    """Per-step loss of every run (top) and its difference from the failure-free run (bottom),
    with the failures marked."""
    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True, height_ratios=[3, 1.3])
    ref = reports[reference].losses()
    steps = sorted(ref)
    for i, (name, rep) in enumerate(reports.items()):
        l = rep.losses()
        a.plot(steps, [l[s] for s in steps], lw=2.5 if name == reference else 1.2,
               ls="-" if name == reference else (0, (4, 2 + i)), label=name)
        b.plot(steps, [abs(l[s] - ref[s]) for s in steps], marker=".", lw=0.8)
        for r in rep.recoveries:
            a.axvline(r.failed_at + 0.5, color="grey", lw=0.6, ls=":")
    a.set(ylabel="training loss (mean over ranks)")
    a.legend(frameon=False, fontsize=8)
    b.set(xlabel="step", ylabel="|loss - failure-free|")
    b.set_ylim(-0.05, 1)
    fig.tight_layout()
    return fig


def survival_curves(curves: pd.DataFrame, mc: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    for scheme, d in curves.groupby("scheme", sort=False):
        line, = ax.plot(d.p_n, d.survival, label=f"{scheme} (formula)")
        m = mc[mc.scheme == scheme]
        ax.errorbar(m.p_n, m.survival, yerr=2 * m.survival_se, fmt="o", color=line.get_color(), ms=4,
                    label=f"{scheme} (Monte-Carlo)")
    ax.set(xscale="log", xlabel="per-incident node-loss probability p_n",
           ylabel="P(newest snapshot survives)", ylim=(-0.02, 1.02))
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def lost_work(df: pd.DataFrame, young_daly_min: float) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    for scheme, d in df.groupby("scheme", sort=False):
        line, = ax.plot(d.i_snap_min, d.lost_min, label=scheme)
        if "lost_min_mc" in d and d.lost_min_mc.notna().any():
            ax.plot(d.i_snap_min, d.lost_min_mc, "o", ms=4, color=line.get_color())
    ax.plot([], [], "o", color="0.4", ms=4, label="Monte-Carlo")
    ax.axvline(young_daly_min, color="grey", ls=":", lw=1)
    lo, hi = ax.get_ylim()
    ax.text(young_daly_min * 0.93, lo + 0.12 * (hi - lo), "Young/Daly interval\nof the checkpoint", fontsize=8,
            va="center", ha="right", color="0.35")
    ax.set(xscale="log", xlabel="in-memory snapshot interval (minutes)",
           ylabel="expected work lost per failure (minutes)")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig
