"""Figures of the LoRA-FA chapter."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

MIB = 2**20
PARTS = ("parameters", "gradients", "optimizer", "activations")
PART_LABELS = {"parameters": "weights", "gradients": "gradients", "optimizer": "AdamW state",
               "activations": "activations (measured)"}
METHOD_LABELS = {"full": "full FT", "lora": "LoRA", "lorafa": "LoRA-FA"}


def layer_memory(df: pd.DataFrame, d: int) -> plt.Figure:
    """Per-layer saved bytes: formula (lines) vs measurement (markers) across b*s and r."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, (x, sub) in zip(axes, (("tokens", df[df["sweep"] == "tokens"]),
                                   ("r", df[df["sweep"] == "rank"]))):
        for method, g in sub.groupby("method", sort=False):
            g = g.sort_values(x)
            name = METHOD_LABELS.get(method, method)
            full = method == "full"  # under LoRA's line: drawn wider and dashed to stay visible
            line, = ax.plot(g[x], g["formula"] / MIB, label=f"{name} formula",
                            ls="--" if full else "-", lw=4 if full else 1.5,
                            alpha=0.6 if full else 1)
            ax.plot(g[x], g["measured"] / MIB, "o", color=line.get_color(), ms=9 if full else 5,
                    label=f"{name} measured")
        ax.set(xlabel="tokens b*s" if x == "tokens" else "rank r",
               ylabel="saved for backward (MiB)", xscale="log", yscale="log")
        ticks = sorted(sub[x].unique())
        ax.set_xticks(ticks, [str(int(t)) for t in ticks])
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
    r = int(df[df["sweep"] == "tokens"]["r"].iloc[0])
    n = int(df[df["sweep"] == "rank"]["tokens"].iloc[0])
    axes[0].set_title(f"one layer d = o = {d}, r = {r}")
    axes[1].set_title(f"one layer d = o = {d}, b*s = {n}")
    axes[1].legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    return fig


def model_memory(df: pd.DataFrame, r_ref: int) -> plt.Figure:
    """Left: whole-model saved activations per method across sequence length (measured) and the
    formula's prediction. Right: overall training memory at the largest sequence length."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.3, 1]})
    at = df[df["r"].isna() | (df["r"] == r_ref)]
    lora_r = df[df["method"] == "lora"].dropna(subset=["predicted"])
    for method, g in at.groupby("method", sort=False):
        g = g.sort_values("seq")
        full = method == "full"  # LoRA's line lies on it: drawn wider to stay visible
        line, = ax.plot(g["seq"], g["measured"] / MIB, marker="o", lw=5 if full else 1.5,
                        alpha=0.5 if full else 1, ms=10 if full else 6,
                        label=f"{METHOD_LABELS[method]} (measured)")
        if method == "lora":
            p = lora_r[lora_r["r"] == r_ref].sort_values("seq")
            ax.plot(p["seq"], p["predicted"] / MIB, "x--", color=line.get_color(),
                    label="LoRA (formula)")
    ax.set(xlabel="sequence length s", ylabel="activations saved (MiB)",
           title=f"all-MiniLM-L6-v2, whole model, r = {r_ref}")
    ax.legend(fontsize="small")
    top = at[at["seq"] == at["seq"].max()].set_index("method")
    parts = top.loc[["full", "lora", "lorafa"], [f"{p}_bytes" for p in PARTS]] / MIB
    parts.index = [METHOD_LABELS[m] for m in parts.index]
    parts.columns = [PART_LABELS[p] for p in PARTS]
    parts.plot.bar(stacked=True, ax=bx, rot=0, color=["0.75", "C3", "C1", "C0"])
    bx.set(ylabel="MiB", title=f"overall training memory, s = {int(at['seq'].max())}")
    bx.legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def accuracy(df: pd.DataFrame) -> plt.Figure:
    """Test accuracy per variant over seeds, and training memory per variant."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    d = df.assign(label=df["label"].str.replace(" optimizer", "\noptimizer")
                  .str.replace(", r=", "\nr=").str.replace(" (control)", "\n(control)"))
    sns.barplot(data=d, x="label", y="accuracy", ax=a1, errorbar="sd", color="0.8")
    sns.stripplot(data=d, x="label", y="accuracy", ax=a1, hue="seed", palette="dark", size=5)
    a1.set(xlabel="", ylabel="test accuracy", title="Fine-tuning accuracy (seeds as dots)")
    a1.tick_params(axis="x", labelsize="x-small")
    a1.legend(title="seed", fontsize="x-small")
    mem = d.groupby("label", sort=False)[["activation_bytes", "state_bytes"]].mean() / MIB
    mem.plot.bar(stacked=True, ax=a2, color=["C0", "C1"])
    a2.set(xlabel="", ylabel="MiB", title="Training memory: activations + weights/grads/AdamW")
    a2.legend(["activations (measured)", "weights, grads, AdamW (measured)"],
              fontsize="x-small")
    a2.tick_params(axis="x", rotation=0, labelsize="x-small")
    fig.tight_layout()
    return fig


def residuals(df: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 3.8))
    df = df.assign(method=df["method"].map(METHOD_LABELS))
    sns.barplot(data=df, x="layer_index", y="residual", hue="method", ax=ax)
    ax.set(yscale="log", xlabel="adapted layer", ylabel="||(I - P_A0) dW|| / ||dW||",
           title="Weight change outside the span of the initial A")
    ax.tick_params(axis="x", rotation=90, labelsize=6)
    ax.legend(loc="center right", fontsize="small")
    return fig
