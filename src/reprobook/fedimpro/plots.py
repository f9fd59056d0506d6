"""Figures of the FedImpro chapter (computing lives in ``experiments``; this only draws)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
import numpy as np
import pandas as pd
import seaborn as sns

from .paper import NAMES

COLORS = {"fedavg": "#4c72b0", "fedprox": "#55a868", "scaffold": "#c44e52", "fednova": "#8172b3",
          "fedimpro": "#dd8452"}


def _plain_log(ax: plt.Axes) -> None:
    """Log scale with plain tick labels (1, 2, 5 x 10^k) instead of mantissa notation."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())


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
    high-level ratio of Thm 4.2's objective to the real-data one at FedImpro's model."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    d = hist[hist.gd_total_real.notna()]
    curves = (("fedavg", "real", "-", "FedAvg (its loss: real data)"),
              ("fedimpro", "real", "--", "FedImpro model, real data only"),
              ("fedimpro", "impro", "-", "FedImpro (its loss: real + sampled)"))
    for ax, block in zip(axes[:2], ("low", "high")):
        for lab, obj, style, name in curves:
            col = f"gd_{block}_{obj}"
            if col not in d:
                continue
            s = d[d.label == lab].groupby("round")[col].mean().dropna()
            ax.plot(s.index, s.values, style, color=COLORS[lab], label=name, marker="o", ms=3)
        _plain_log(ax)
        ax.set(xlabel="round", title=f"{block}-level block", ylabel="gradient dissimilarity")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, frameon=False,
               fontsize=8)
    col = "gd_high_impro-mean"
    r = d[d.label == "fedimpro"].dropna(subset=[col]) if col in d else d.iloc[:0]
    top = 0.5
    if len(r):
        ratio = (r[col] / r.gd_high_real).groupby(r["round"])
        m = ratio.mean()
        axes[2].plot(m.index, m.values, "o-", color=COLORS["fedimpro"], label="measured")
        axes[2].fill_between(m.index, ratio.min().values, ratio.max().values, alpha=0.2,
                             color=COLORS["fedimpro"])
        top = max(0.5, 1.2 * float(ratio.max().max()))
    axes[2].axhline(0.25, color="k", ls=":", label="N²/(N+N̂)² = 1/4 (shared samples)")
    axes[2].set(xlabel="round", ylabel="D_high ratio (Thm 4.2 / real)",
                ylim=(0, top), title="high-level ratio at FedImpro's model")
    axes[2].legend(frameon=False, fontsize=8, loc="lower right")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def trained_pairs(final: pd.DataFrame) -> plt.Figure:
    """FedAvg against FedImpro per seed at the trained models (a line per seed): the
    high-level dissimilarity of each method's own loss, on real data, and the relative W2."""
    panels = (("gd_high_real", "gd_high_impro", "D_high, each method's training loss", True),
              ("gd_high_real", "gd_high_real", "D_high, real data", True),
              ("w2", "w2", "mean relative W2 between clients", False))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    fa = final[final.label == "fedavg"].set_index("seed")
    fi = final[final.label == "fedimpro"].set_index("seed")
    seeds = sorted(set(fa.index) & set(fi.index))
    for ax, (ca, ci, title, log) in zip(axes, panels):
        for s in seeds:
            ax.plot([0, 1], [fa.loc[s, ca], fi.loc[s, ci]], "o-", color="0.5", ms=4, lw=1)
        ax.set(xticks=[0, 1], xlim=(-0.3, 1.3), title=title)
        if log:
            _plain_log(ax)
        ax.set_xticklabels(["FedAvg", "FedImpro"])
    axes[0].set_ylabel("trained global model (one line per seed)")
    fig.tight_layout()
    return fig


def wasserstein_bars(pairs: pd.DataFrame) -> plt.Figure:
    """Mean pairwise relative W2 per class: real features under the FedAvg- and the
    FedImpro-trained low-level model, and what FedImpro's head trains on (real + shared H)."""
    fa = pairs[pairs.label == "fedavg"].groupby("class")["w2"].mean()
    fi = pairs[pairs.label == "fedimpro"].groupby("class")[["w2", "w2_mixed"]].mean()
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    x = np.arange(len(fi))
    ax.bar(x - 0.27, fa.reindex(fi.index), 0.27, label="FedAvg model, real", color=COLORS["fedavg"])
    ax.bar(x, fi["w2"], 0.27, label="FedImpro model, real", color=COLORS["fedimpro"])
    ax.bar(x + 0.27, fi["w2_mixed"], 0.27, label="FedImpro model, real + shared H",
           color=COLORS["fedimpro"], alpha=0.45)
    ax.set(xticks=x, xticklabels=fi.index, xlabel="class", ylabel="mean pairwise W2 / feature spread")
    ax.legend(frameon=False, fontsize=8)
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


def ablation_bars(summ: pd.DataFrame, groups: dict[str, list[str]],
                  baseline: float | None = None) -> plt.Figure:
    """Last-rounds accuracy per ablation variant (mean over seeds, dots = seeds), one panel per
    group; the dashed line is FedAvg."""
    fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups), 3.6), squeeze=False)
    for ax, (title, labels) in zip(axes[0], groups.items()):
        d = summ[summ.label.isin(labels)]
        means = d.groupby("label")["last_acc"].mean().reindex(labels)
        ax.bar(range(len(labels)), 100 * means.values, color=COLORS["fedimpro"], alpha=0.7)
        for i, lab in enumerate(labels):
            pts = d[d.label == lab]["last_acc"]
            ax.plot([i] * len(pts), 100 * pts, "k.", ms=5)
        if baseline is not None:
            ax.axhline(100 * baseline, color=COLORS["fedavg"], ls="--", label="FedAvg")
            ax.legend(frameon=False, fontsize=8)
        ax.set(xticks=range(len(labels)), title=title, ylabel="test accuracy, last rounds (%)")
        ax.set_xticklabels([lab.split(":", 1)[-1] for lab in labels], rotation=20)
        lo = min(100 * d["last_acc"].min(), 100 * (baseline or 1.0))
        ax.set_ylim(max(0, lo - 5), min(100, 100 * d["last_acc"].max() + 3))
    fig.tight_layout()
    return fig
