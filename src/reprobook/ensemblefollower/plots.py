"""Figures of the EnsembleFollower chapter (matplotlib; each function returns its figure)."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .constants import DT, J_MAX
from .schema import Event
from .simulate import Rollout

MODEL_COLORS = {"IDM": "C0", "Gipps": "C1", "MLP": "C2"}


def trajectories(events: Sequence[Event]) -> plt.Figure:
    """Gap and speeds of a few events."""
    fig, axes = plt.subplots(2, len(events), figsize=(4.2 * len(events), 5.2), sharex="col",
                             squeeze=False)
    for j, e in enumerate(events):
        axes[0, j].plot(e.t, e.s, color="k")
        axes[0, j].set(title=e.id, ylabel="gap s [m]" if j == 0 else None)
        axes[1, j].plot(e.t, e.v_lead, label="leader", color="C3")
        axes[1, j].plot(e.t, e.v, label="follower", color="k")
        axes[1, j].set(xlabel="t [s]", ylabel="speed [m/s]" if j == 0 else None)
    axes[1, 0].legend(loc="best")
    for ax in axes[0]:
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def _stack(events: Sequence[Event], fn: Any) -> np.ndarray:
    return np.concatenate([fn(e) for e in events]) if events else np.array([])


def distributions(real: Sequence[Event], synthetic: Sequence[Event], real_label: str) -> plt.Figure:
    """Histograms of gap, speed, relative speed, acceleration and |jerk|: real vs synthetic."""
    panels = [("gap s [m]", lambda e: e.s), ("follower speed v [m/s]", lambda e: e.v),
              ("dv = v - v_lead [m/s]", lambda e: e.v - e.v_lead),
              ("acceleration [m/s$^2$]", lambda e: e.a[:-1]),
              ("|jerk| [m/s$^3$]", lambda e: np.abs(np.diff(e.a[:-1])) / DT),
              ("time gap s / v [s] (v > 5 m/s)", lambda e: (e.s / e.v)[e.v > 5])]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, (label, fn) in zip(axes.ravel(), panels):
        r, s = _stack(real, fn), _stack(synthetic, fn)
        lo, hi = np.percentile(np.concatenate([r, s]), [0.1, 99.9])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
        ax.hist(r, bins=bins, density=True, alpha=0.6, label=real_label, color="C0")
        if len(s):
            ax.hist(s, bins=bins, density=True, histtype="step", lw=1.8, color="C3",
                    label="synthetic population")
        ax.set(xlabel=label, ylabel="density")
        if "jerk" in label:
            ax.axvline(J_MAX, color="k", ls="--", lw=1)
            ax.text(J_MAX * 1.03, 0.5, "j_max", transform=ax.get_xaxis_transform(), fontsize=8)
            ax.set_yscale("log")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def calibration(histories: dict[str, list[float]]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, h in histories.items():
        ax.plot(np.arange(1, len(h) + 1), h, marker="o", ms=3, label=name)
    ax.set(xlabel="differential-evolution generation",
           ylabel="best closed-loop spacing MSE [m$^2$]",
           title="calibration on the training events")
    ax.legend()
    fig.tight_layout()
    return fig


def rollouts(rolls: dict[str, Rollout], event_ids: Sequence[str]) -> plt.Figure:
    """Observed vs simulated gap on chosen events, one panel per event."""
    first = next(iter(rolls.values()))
    ids = list(first.batch.ids)
    fig, axes = plt.subplots(1, len(event_ids), figsize=(5.2 * len(event_ids), 3.8),
                             squeeze=False)
    for ax, eid in zip(axes[0], event_ids):
        i = ids.index(eid)
        n = int(first.batch.n[i])
        t = np.arange(n) * DT
        ax.plot(t, first.batch.s[i, :n], color="k", lw=2.5, label="human (observed)")
        for name, ro in rolls.items():
            ax.plot(t[ro.k0:], ro.s[i, ro.k0:n], lw=1.4, label=name)
        ax.set(xlabel="t [s]", ylabel="gap s [m]", title=eid)
        ax.title.set_fontsize(9)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def situation_bars(table: pd.DataFrame, title: str) -> plt.Figure:
    """Spacing RMSE per situation bin and method (``analysis.errors_by_situation``)."""
    methods = [c for c in table.columns if c != "samples"]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    x = np.arange(len(table))
    w = 0.8 / len(methods)
    for k, m in enumerate(methods):
        ax.bar(x + (k - (len(methods) - 1) / 2) * w, table[m], w, label=m)
    ax.set_xticks(x, [f"{i}\n({n} samples)" for i, n in zip(table.index, table["samples"])])
    ax.set(ylabel="spacing RMSE [m]", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def training_curves(curves: dict[str, list[pd.DataFrame]],
                    ylabel: str = "training episodes' spacing RMSE [m]") -> plt.Figure:
    """Per configuration: every seed's binned training-episode RMSE and their mean."""
    fig, axes = plt.subplots(1, len(curves), figsize=(3.6 * len(curves), 3.6), squeeze=False)
    for ax, (label, seeds) in zip(axes[0], curves.items()):
        for c in seeds:
            ax.plot(c["timesteps"], c["spacing_rmse"], color="0.6", lw=1)
        mean = pd.concat(seeds).groupby("timesteps")["spacing_rmse"].mean()
        ax.plot(mean.index, mean.to_numpy(), color="C0", lw=2.5, label=f"mean of {len(seeds)}")
        ax.axhline(0.0, color="k", lw=0.8, ls=":")
        ax.set(xlabel="environment steps", title=label.replace(" (", "\n("))
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel(ylabel)
    fig.tight_layout()
    return fig


def actions(ro_obs: Rollout, ens: dict[str, dict[str, np.ndarray]], singles: dict[str, Rollout],
            names: Sequence[str], event_id: str) -> plt.Figure:
    """One event: gaps (human, single models, both ensembles), then weights and selections."""
    i = list(ro_obs.batch.ids).index(event_id)
    n, k0 = int(ro_obs.batch.n[i]), ro_obs.k0
    t = np.arange(n) * DT
    fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True,
                             gridspec_kw={"height_ratios": [2, 1, 1]})
    axes[0].plot(t, ro_obs.batch.s[i, :n], color="k", lw=2.5, label="human (observed)")
    for name, ro in singles.items():
        axes[0].plot(t[k0:], ro.s[i, k0:n], lw=1.2, ls="--", label=name, zorder=3)
    for (label, r), color in zip(ens.items(), ("crimson", "purple", "teal")):
        axes[0].plot(t[k0:], r["s"][i, k0:n], lw=2, color=color, label=label)
    axes[0].set(ylabel="gap s [m]", title=event_id)
    axes[0].legend(fontsize=7, ncol=2)
    ts = t[k0:n - 1]
    for label, r in ens.items():
        if "weights" in r:
            w = r["weights"][i, : len(ts)]
            axes[1].stackplot(ts, w.T, labels=list(names), alpha=0.8)
            axes[1].set(ylabel="weight", ylim=(0, 1), title=label)
        if "selected" in r:
            sel = r["selected"][i, : len(ts)]
            axes[2].scatter(ts, sel, s=6, c=[f"C{int(j)}" for j in sel])
            axes[2].set(yticks=range(len(names)), yticklabels=list(names), title=label)
    axes[1].legend(fontsize=8, loc="upper right")
    axes[1].title.set_fontsize(9)
    axes[2].title.set_fontsize(9)
    axes[2].set_xlabel("t [s]")
    fig.tight_layout()
    return fig


def accuracy(summary: pd.DataFrame, title: str) -> plt.Figure:
    """Spacing RMSE (mean +- std over seeds) of every method, best first."""
    d = summary.sort_values("spacing_rmse", ascending=False)
    fig, ax = plt.subplots(figsize=(7.5, 0.38 * len(d) + 1.2))
    colors = ["C3" if "EnsembleFollower" in m else "0.55" for m in d["method"]]
    ax.barh(d["method"], d["spacing_rmse"], xerr=d["spacing_rmse_std"], color=colors)
    ax.set(xlabel="spacing RMSE on the test events [m] (log scale)", xscale="log", title=title)
    ticks = [t for t in (1, 2, 3, 5, 10, 20, 50, 100, 200, 500)
             if d["spacing_rmse"].min() / 1.5 <= t <= d["spacing_rmse"].max() * 1.5]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    fig.tight_layout()
    return fig


def jerk_ecdf(samples: dict[str, np.ndarray]) -> plt.Figure:
    """Empirical survival function of |jerk| (share of steps above a value)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, (name, x) in enumerate(samples.items()):
        x = np.sort(np.asarray(x))
        surv = 1.0 - np.arange(1, len(x) + 1) / len(x)
        ax.step(np.maximum(x, 1e-3), surv, where="post", lw=2.5 if k == 0 else 1.4,
                color="k" if k == 0 else None, label=name)
    ax.axvline(J_MAX, color="k", ls=":", lw=1)
    ax.text(J_MAX * 1.05, 0.5, "j_max", fontsize=8)
    ax.set(xscale="log", yscale="log", ylim=(1e-4, 1.05), xlabel="|jerk| [m/s$^3$]",
           ylabel="share of steps above")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def safety(summary: pd.DataFrame) -> plt.Figure:
    """Collision events, share of steps with TTC < 4 s and mean |jerk| per method."""
    d = summary.sort_values("method")
    cols = [("collision_events", "collision events (mean over seeds)"),
            ("ttc_low_share", "share of steps with TTC < 4 s"),
            ("mean_abs_jerk", "mean |jerk| [m/s$^3$]")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.36 * len(d) + 1.5), sharey=True)
    for ax, (c, label) in zip(axes, cols):
        colors = ["k" if m.startswith("human") else
                  ("C3" if "EnsembleFollower" in m else "0.55") for m in d["method"]]
        ax.barh(d["method"], d[c], color=colors)
        ax.set(xlabel=label)
    fig.tight_layout()
    return fig
