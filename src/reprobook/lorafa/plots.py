"""Figures of the LoRA-FA chapter."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .methods import LABELS

MIB = 2**20


def layer_memory(df: pd.DataFrame) -> plt.Figure:
    """Per-layer saved bytes: formula (lines) vs measurement (markers) across b*s and r."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, (x, sub) in zip(axes, (("tokens", df[df["sweep"] == "tokens"]),
                                   ("r", df[df["sweep"] == "rank"]))):
        for method, g in sub.groupby("method", sort=False):
            g = g.sort_values(x)
            line, = ax.plot(g[x], g["formula"] / MIB, label=f"{method} formula")
            ax.plot(g[x], g["measured"] / MIB, "o", color=line.get_color(), label=f"{method} measured")
        ax.set(xlabel="tokens b*s" if x == "tokens" else "rank r", ylabel="saved for backward (MiB)",
               xscale="log", yscale="log")
    axes[0].set_title("one layer d = o = 1024, r = 8")
    axes[1].set_title("one layer d = o = 1024, b*s = 2048")
    axes[1].legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    return fig


def model_memory(df: pd.DataFrame) -> plt.Figure:
    """Whole-model saved activations per method across sequence length (measured) and the
    formula's prediction for LoRA and LoRA-FA."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for method, g in df.groupby("method", sort=False):
        g = g.sort_values("seq")
        line, = ax.plot(g["seq"], g["measured"] / MIB, marker="o", label=f"{method} (measured)")
        if g["predicted"].notna().any():
            ax.plot(g["seq"], g["predicted"] / MIB, "x--", color=line.get_color(),
                    label=f"{method} (formula)")
    ax.set(xlabel="sequence length s", ylabel="activations saved (MiB)",
           title="all-MiniLM-L6-v2, whole model")
    ax.legend(fontsize="small")
    return fig


def accuracy(df: pd.DataFrame) -> plt.Figure:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    d = df.assign(label=df["variant"].str.replace(" optimizer", "\noptimizer").str.replace(", r=", "\nr="))
    sns.barplot(data=d, x="label", y="accuracy", ax=a1, errorbar="sd", color="0.8")
    sns.stripplot(data=d, x="label", y="accuracy", ax=a1, hue="seed", palette="dark", size=5)
    a1.set(xlabel="", ylabel="test accuracy", title="Fine-tuning accuracy (seeds as dots)")
    a1.tick_params(axis="x", labelsize="x-small")
    a1.legend(title="seed", fontsize="x-small")
    mem = d.groupby("label", sort=False)[["activation_bytes", "state_bytes"]].mean() / MIB
    mem.plot.bar(stacked=True, ax=a2, color=["C0", "C1"])
    a2.set(xlabel="", ylabel="MiB", title="Training memory: activations + weights/grads/AdamW")
    a2.legend(["activations (measured)", "weights, grads, AdamW (counted)"], fontsize="x-small")
    a2.tick_params(axis="x", rotation=0, labelsize="x-small")
    fig.tight_layout()
    return fig


def residuals(df: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 3.8))
    sns.barplot(data=df, x="layer_index", y="residual", hue="method", ax=ax)
    ax.set(yscale="log", xlabel="adapted layer", ylabel="||(I - P_A0) dW|| / ||dW||",
           title="Weight change outside the span of the initial A")
    ax.tick_params(axis="x", rotation=90, labelsize=6)
    ax.legend(loc="center right", fontsize="small")
    return fig


def label(method: str, r: int) -> str:
    return f"{LABELS.get(method, method)}, r={r}"
