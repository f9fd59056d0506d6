"""Figures of the FedImpro chapter (computing lives in ``experiments``; this only draws)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

COLORS = {"fedavg": "#4c72b0", "fedprox": "#55a868", "scaffold": "#c44e52", "fedimpro": "#dd8452"}
NAMES = {"fedavg": "FedAvg", "fedprox": "FedProx", "scaffold": "SCAFFOLD", "fedimpro": "FedImpro"}


def partition_heatmaps(hists: dict[float, np.ndarray]) -> plt.Figure:
    """Per-client label counts, one panel per Dirichlet concentration a."""
    fig, axes = plt.subplots(1, len(hists), figsize=(5.2 * len(hists), 3.8), squeeze=False)
    for ax, (a, h) in zip(axes[0], hists.items()):
        sns.heatmap(h, ax=ax, cmap="viridis", annot=h.shape[0] <= 12, fmt="d", cbar=False,
                    annot_kws={"size": 7})
        ax.set(title=f"a = {a:g}", xlabel="class", ylabel="client")
    fig.tight_layout()
    return fig


def accuracy_curves(hist: pd.DataFrame, labels: list[str] | None = None) -> plt.Figure:
    """Test accuracy per round: mean over seeds, band = min..max over seeds."""
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = labels or list(dict.fromkeys(hist["label"]))
    for lab in labels:
        d = hist[(hist.label == lab) & hist.test_acc.notna()]
        g = d.groupby("round")["test_acc"]
        m, lo, hi = g.mean(), g.min(), g.max()
        c = COLORS.get(lab)
        ax.plot(m.index, 100 * m, label=NAMES.get(lab, lab), color=c)
        ax.fill_between(m.index, 100 * lo, 100 * hi, alpha=0.2, color=c)
    ax.set(xlabel="round", ylabel="test accuracy (%)", ylim=(0, 100))
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def dissimilarity_curves(hist: pd.DataFrame) -> plt.Figure:
    """Gradient dissimilarity of the low and high blocks per round (mean over seeds), and the
    measured high-level ratio FedImpro objective / real-data objective at FedImpro's model."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    d = hist[hist.gd_total_real.notna()]
    for ax, block in zip(axes[:2], ("low", "high")):
        for lab, col, style, name in (("fedavg", f"gd_{block}_real", "-", "FedAvg"),
                                      ("fedimpro", f"gd_{block}_real", "--", "FedImpro model, real data only"),
                                      ("fedimpro", f"gd_{block}_impro", "-", "FedImpro objective")):
            s = d[d.label == lab].groupby("round")[col].mean().dropna()
            ax.plot(s.index, s.values, style, color=COLORS[lab], label=name, marker="o", ms=3)
        ax.set(yscale="log", xlabel="round", title=f"{block}-level block", ylabel="gradient dissimilarity")
    axes[0].legend(frameon=False, fontsize=8)
    r = d[d.label == "fedimpro"].dropna(subset=["gd_high_impro"])
    ratio = (r.gd_high_impro / r.gd_high_real).groupby(r["round"])
    axes[2].plot(ratio.mean().index, ratio.mean().values, "o-", color=COLORS["fedimpro"], label="measured")
    axes[2].fill_between(ratio.mean().index, ratio.min().values, ratio.max().values, alpha=0.2,
                         color=COLORS["fedimpro"])
    axes[2].axhline(0.25, color="k", ls=":", label="predicted N²/(N+N̂)² = 1/4")
    top = max(0.5, 1.2 * float(ratio.max().max())) if len(r) else 0.5
    axes[2].set(xlabel="round", ylabel="D_high(FedImpro) / D_high(real)", ylim=(0, top),
                title="high-level ratio")
    axes[2].legend(frameon=False, fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def wasserstein_bars(pairs: pd.DataFrame) -> plt.Figure:
    """Mean pairwise conditional W2 per class, without and with the shared distribution."""
    m = pairs.groupby("class")[["without", "with"]].mean()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    x = np.arange(len(m))
    ax.bar(x - 0.2, m["without"], 0.4, label="real features only", color="#8c8c8c")
    ax.bar(x + 0.2, m["with"], 0.4, label="real + shared H", color=COLORS["fedimpro"])
    ax.set(xticks=x, xticklabels=m.index, xlabel="class", ylabel="mean pairwise W2")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def divergence(hist: pd.DataFrame, layer_cols: list[str]) -> plt.Figure:
    """Weight divergence per round (mean over seeds) and layer-wise divergence (mean over rounds)."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.8))
    for lab in ("fedavg", "fedimpro"):
        s = hist[hist.label == lab].groupby("round")["weight_divergence"].mean()
        axes[0].plot(s.index, s.values, color=COLORS[lab], label=NAMES[lab])
    axes[0].set(xlabel="round", ylabel="(1/|S|) Σ ||θ̄ − θ_i||", title="weight divergence")
    axes[0].legend(frameon=False)
    lw = hist.groupby("label")[layer_cols].mean().T.loc[:, ["fedavg", "fedimpro"]]
    lw.index = [c.replace("layer:", "").replace("blocks.", "") for c in lw.index]
    x = np.arange(len(lw))
    axes[1].bar(x - 0.2, lw["fedavg"], 0.4, color=COLORS["fedavg"], label="FedAvg")
    axes[1].bar(x + 0.2, lw["fedimpro"], 0.4, color=COLORS["fedimpro"], label="FedImpro")
    axes[1].set(xticks=x, ylabel="mean ||θ̄_l − θ_i,l|| / ||θ̄_l||", title="layer-wise divergence")
    axes[1].set_xticklabels(lw.index, rotation=45, ha="right", fontsize=8)
    axes[1].legend(frameon=False)
    fig.tight_layout()
    return fig


def ablation_bars(summ: pd.DataFrame, groups: dict[str, list[str]], baseline: float | None = None) -> plt.Figure:
    """Best accuracy per ablation variant (mean over seeds, dots = seeds), one panel per group."""
    fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups), 3.6), squeeze=False)
    for ax, (title, labels) in zip(axes[0], groups.items()):
        d = summ[summ.label.isin(labels)]
        means = d.groupby("label")["best_acc"].mean().reindex(labels)
        ax.bar(range(len(labels)), 100 * means.values, color=COLORS["fedimpro"], alpha=0.7)
        for i, lab in enumerate(labels):
            pts = d[d.label == lab]["best_acc"]
            ax.plot([i] * len(pts), 100 * pts, "k.", ms=5)
        if baseline is not None:
            ax.axhline(100 * baseline, color=COLORS["fedavg"], ls="--", label="FedAvg")
            ax.legend(frameon=False, fontsize=8)
        ax.set(xticks=range(len(labels)), title=title, ylabel="best test accuracy (%)")
        ax.set_xticklabels([lab.split(":", 1)[-1] for lab in labels], rotation=20)
        lo = 100 * d["best_acc"].min()
        ax.set_ylim(max(0, lo - 5), min(100, 100 * d["best_acc"].max() + 3))
    fig.tight_layout()
    return fig
