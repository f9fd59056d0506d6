"""Figures of the REFT chapter (computing lives elsewhere; this only draws)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .cluster import RunReport


def save_cost(df: pd.DataFrame, mbps: float) -> plt.Figure:
    """Blocking time and time-to-safe per method (log scale), medians over repeats."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    y = np.arange(len(df))
    ax.barh(y - 0.2, df.saved_s * 1e3, height=0.4, label="until safe (persisted / committed)")
    ax.barh(y + 0.2, df.blocking_s * 1e3, height=0.4, label="training blocked (measured)")
    ax.set_yticks(y, df.method)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"milliseconds per save, slowest rank (storage emulated at {mbps:g} MB/s per node)")
    ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    fig.tight_layout()
    return fig


def bandwidth_sweep(summary: pd.DataFrame, sp: pd.DataFrame, paper: float) -> plt.Figure:
    """Left: time until safe against the emulated storage bandwidth (medians). Right: the speed-up
    of REFT + XOR over DCP async_save per repeat, with the paper's factor and parity marked."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for method, d in summary.groupby("method", sort=False):
        a.plot(d.mbps, d.saved_s * 1e3, marker="o", label=method)
    a.set(xscale="log", yscale="log", xlabel="emulated storage bandwidth per node (MB/s)",
          ylabel="ms until the state is safe")
    a.legend(frameon=False, fontsize=8)
    b.scatter(sp.mbps, sp.speedup, color="C5", alpha=0.6, label="one repeat")
    med = sp.groupby("mbps")["speedup"].median()
    b.plot(med.index, med.to_numpy(), color="C5", marker="o", label="median")
    b.axhline(paper, color="0.3", ls="--", lw=1, label=f"paper: over {paper:g}x")
    b.axhline(1.0, color="0.6", ls=":", lw=1, label="no faster")
    b.set(xscale="log", yscale="log", xlabel="emulated storage bandwidth per node (MB/s)",
          ylabel="DCP async_save / REFT + XOR (time until safe)")
    b.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def overhead(table: pd.DataFrame, threshold: float) -> plt.Figure:
    """Overhead per iteration of each method against the round's plain block, per round."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    d = table[table.method != "none"]
    names = {"reft": "REFT snapshot + XOR parity", "ckpt": "blocking sharded checkpoint"}
    methods = [m for m in ("reft", "ckpt") if m in set(d.method)]
    width = 0.8 / max(1, len(methods))
    for i, m in enumerate(methods):
        g = d[d.method == m]
        ax.bar(g["round"] + i * width, g["overhead_%"], width=width, label=names[m],
               color=f"C{i}")
    ax.axhline(threshold, color="0.3", ls="--", lw=1, label=f"{threshold:g} % (the claim's threshold)")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="round (blocks of the same job)", ylabel="% per iteration over no saving")
    rounds = np.array(sorted(d["round"].unique()))
    ax.set_xticks(rounds + width * (len(methods) - 1) / 2, rounds)
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
    """Survival probability against the node-loss probability per scheme: closed forms and Monte-
    Carlo.
    """
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
    """Expected lost work against the snapshot interval per scheme, with the Young/Daly interval."""
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
