"""Figures of the ParZC chapter (each returns a matplotlib Figure; ARCHITECTURE §8)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .evaluation import ground_truth, seed_columns


def benchmark_overview(df: pd.DataFrame, ceiling: dict[str, float]) -> Figure:
    """Test-accuracy histogram by number of live convolutions; seed 0 vs seed 1, over the
    whole table and zoomed on the architectures with at least two convolutions."""
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13.5, 4.2))
    acc = ground_truth(df, "test")
    nc = df.n_convs.to_numpy()
    groups = sorted(np.unique(nc))
    bins = np.linspace(acc.min(), acc.max(), 40)
    a.hist([acc[nc == g] for g in groups], bins=bins, stacked=True,
           label=[str(g) for g in groups], color=plt.cm.viridis(np.linspace(0, 1, len(groups))))
    a.set(xlabel="test accuracy (mean of 2 seeds)", ylabel="architectures",
          title=f"{len(df)} architectures")
    a.legend(title="live convs", fontsize=8, ncol=2, loc="upper left")
    s0, s1 = (df[col].to_numpy() for col in seed_columns(df, "test")[:2])
    colors = plt.cm.viridis(nc / max(1, max(groups)))
    for ax, keep, title in (
            (b, np.ones(len(df), bool),
             f"all: Kendall tau {ceiling['tau_test_seed0_vs_seed1']:.3f}"),
            (c, nc >= 2, f">= 2 convs: Kendall tau "
             f"{ceiling.get('tau_test_seed0_vs_seed1_convs_ge_2', float('nan')):.3f}")):
        if not keep.any():
            keep = np.ones(len(df), bool)
        lo = min(s0[keep].min(), s1[keep].min()) - 0.005
        hi = max(s0[keep].max(), s1[keep].max()) + 0.005
        ax.scatter(s0[keep], s1[keep], s=7, alpha=0.5, c=colors[keep])
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=1)
        ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="test accuracy, seed 0",
               ylabel="test accuracy, seed 1", title=f"noise ceiling, {title}")
    fig.tight_layout()
    return fig


def proxy_bars(table: pd.DataFrame) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 3.8))
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["tau (network sum)"], 0.4, label="sum over all weights")
    ax.bar(x + 0.2, table["tau (sum of node means)"], 0.4, label="sum of per-node means")
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xticks(x, table["proxy"])
    ax.set(ylabel="Kendall tau with test accuracy", title="Single zero-cost proxies")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def importance(imp: np.ndarray, perm: np.ndarray, names: list[str], title: str) -> Figure:
    """Mean +- std importance per node over seeds, with the permuted-target reference."""
    fig, ax = plt.subplots(figsize=(11, 3.8))
    x = np.arange(imp.shape[1])
    ax.bar(x, imp.mean(0), yerr=imp.std(0), color="C0", label="accuracy target")
    ax.plot(x, perm.mean(0), "o", color="C3", ms=4, label="permuted target (no signal)")
    ax.axhline(1 / imp.shape[1], color="0.4", ls="--", lw=1, label="all nodes equal")
    ax.set_xticks(x, names, rotation=90, fontsize=7)
    ax.set(ylabel="GBR feature importance", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def tau_vs_size(summ: pd.DataFrame, proxy_tau: dict[int, float], ceiling: float,
                proxy: str, col: str = "tau") -> Figure:
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for i, (name, g) in enumerate(summ.groupby("variant", sort=False)):
        g = g.sort_values("n_train")
        ax.errorbar(g.n_train + 0.01 * i * g.n_train, g[f"{col}_mean"], yerr=g[f"{col}_std"],
                    marker="o", capsize=3, label=name)
    sizes = sorted(proxy_tau)
    ax.plot(sizes, [proxy_tau[s] for s in sizes], "k--", label=f"best single proxy ({proxy})")
    ax.axhline(ceiling, color="0.5", ls=":", label="noise ceiling (seed 0 vs 1)")
    ax.set_xscale("log")
    ticks = sorted(summ.n_train.unique())
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set(xlabel="training architectures", ylabel=f"Kendall tau (held-out)" if col == "tau"
           else "Spearman rho (held-out)", title="ParZC vs training-set size (mean +- std)")
    ax.legend(fontsize=7, loc="best", framealpha=0.9)
    fig.tight_layout()
    return fig


def uncertainty(std: np.ndarray, err: np.ndarray, rho: float) -> Figure:
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.scatter(std, err, s=8, alpha=0.5)
    ax.set(xlabel="Monte-Carlo std of the prediction", ylabel="|rank error| (fraction)",
           title=f"uncertainty vs error (Spearman {rho:.3f})")
    fig.tight_layout()
    return fig


def search_curves(curves: pd.DataFrame, top: float) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    for m, g in curves.groupby("method", sort=False):
        s = g.groupby("evaluations").test_acc
        mean, lo, hi = s.mean(), s.min(), s.max()
        ax.plot(mean.index, mean, label=m)
        ax.fill_between(mean.index, lo, hi, alpha=0.2)
    ax.axhline(top, color="0.4", ls=":", label="best in the table")
    # zoom on where the methods differ: from the 5th evaluation on (earlier picks may be off-scale)
    late = curves[curves.evaluations >= min(5, int(curves.evaluations.max()))].test_acc
    ax.set_ylim(float(late.min()) - 0.003, top + 0.003)
    ax.set(xlabel="evaluations (architectures trained)",
           ylabel="test accuracy of the pick",
           title="Search with a budget of evaluations (y zoomed from evaluation 5 on)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
