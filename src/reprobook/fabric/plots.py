"""Figures of notebooks 1-2: the authors' measurements and the model against them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import constants as K

PALETTE = {"comm": "#0173b2", "service": "#de8f05", "queue": "#029e73", "wait": "#cc78bc",
           "c2l": "#56b4e9", "l2f": "#0173b2", "measured": "black", "model": "#d55e00",
           "mm1": "#949494", "des": "#029e73"}


def execute_decomposition(tables: pd.DataFrame) -> plt.Figure:
    """Measured execute latency and its parts against lambda, per cluster and core count."""
    ex = tables[tables["phase"] == "execute"]
    fig, axes = plt.subplots(2, 3, figsize=(11, 6.2), sharey=True)
    for i, t in enumerate((1, 2)):
        for j, c in enumerate((1, 2, 4)):
            ax, g = axes[i, j], ex[(ex["table"] == t) & (ex["c"] == c)]
            ax.plot(g["lam"], g["T_meas"], "k-o", ms=3, label="measured $T^e$")
            ax.plot(g["lam"], g["Tcomm_meas"], "s", ms=3, color=PALETTE["comm"],
                    label="$T^e_{comm}$")
            ax.plot(g["lam"], g["Ts"], "^", ms=3, color=PALETTE["service"], label="$T^e_s$")
            q = g[g["Tq_model"] > 0]  # the tables print 0.0000 below 0.05 ms
            ax.plot(q["lam"], q["Tq_model"], "v", ms=3, color=PALETTE["queue"],
                    label="$T^e_q$ (model; 0.0000 not shown)")
            ax.set_yscale("log")
            ax.set_title(f"Table {t} ({K.TABLE_CLUSTER[t]}), c = {c}")
            if i == 1:
                ax.set_xlabel("arrival rate $\\lambda^e$ (tps)")
        axes[i, 0].set_ylabel("latency (s)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=4, fontsize="small")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def order_decomposition(tables: pd.DataFrame) -> plt.Figure:
    """Measured order latency split into its parts, per table (rows) and OSN count (columns)."""
    od = tables[tables["phase"] == "order"]
    fig, axes = plt.subplots(4, 3, figsize=(11, 11), sharex="row", sharey="row")
    parts = (("Tc2l", "c2l", "client->leader"), ("Tl2f", "l2f", "leader->followers"),
             ("Tw", "wait", "block waiting"), ("Tq_model", "queue", "queueing"),
             ("Ts", "service", "service"))
    for i, t in enumerate((3, 4, 5, 6)):
        for j, k in enumerate((3, 9, 15)):
            ax, g = axes[i, j], od[(od["table"] == t) & (od["k"] == k)]
            x, bottom = np.arange(len(g)), np.zeros(len(g))
            for col, colour, label in parts:
                ax.bar(x, g[col], bottom=bottom, color=PALETTE[colour], label=label, width=0.7)
                bottom += g[col].to_numpy()
            ax.plot(x, g["T_meas"], "k_", ms=14, mew=2, label="measured $T^r$")
            ax.set_xticks(x, [f"{v:g}" for v in g["lam"]], fontsize="small")
            ax.set_title(f"Table {t}: BatchSize {K.BATCH_SIZE[t]}, k = {k}", fontsize="small")
            if j == 0:
                ax.set_ylabel("latency (s)")
            if i == 3:
                ax.set_xlabel("$\\lambda^r$ (tps)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=6, fontsize="small")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def validate_decomposition(tables: pd.DataFrame) -> plt.Figure:
    """Measured validate latency split into communication, service and queueing."""
    v = tables[tables["phase"] == "validate"]
    groups = [(t, bs) for t in (7, 8) for bs in K.VALIDATE_BATCH_SIZES[t]]
    fig, axes = plt.subplots(1, 4, figsize=(11, 3.2))
    for ax, (t, bs) in zip(axes, groups):
        g = v[(v["table"] == t) & (v["batch_size"] == bs)]
        x, bottom = np.arange(len(g)), np.zeros(len(g))
        for col, colour, label in (("Tcomm_meas", "comm", "communication"),
                                   ("Ts", "service", "service"), ("Tq_model", "queue", "queueing")):
            ax.bar(x, g[col], bottom=bottom, color=PALETTE[colour], label=label, width=0.7)
            bottom += g[col].to_numpy()
        ax.set_xticks(x, [f"{v:g}" for v in g["lam"]])
        ax.set_title(f"Table {t}: BatchSize {bs}", fontsize="small")
        ax.set_xlabel("$\\lambda^v$ (tps)")
    axes[0].set_ylabel("latency (s)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize="small")
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig


def observations(capacity: pd.DataFrame, tables: pd.DataFrame) -> plt.Figure:
    """(a) the highest arrival rate each core count served; (b) T_l2f against the OSN count."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for t, g in capacity.groupby("table"):
        a.plot(g["c"], g["max served lambda (tps)"], "o-", label=f"Table {t}: highest served")
        a.plot(g["c"], g["c"] * K.MU[t], "--", color="grey")
    a.set_xticks([1, 2, 4])
    a.set_xlabel("CPU cores c")
    a.set_ylabel("arrival rate (tps)")
    a.set_title("(a) execute: served load vs c (dashed: c $\\mu^e$)")
    a.legend(fontsize="small")
    od = tables[tables["phase"] == "order"]
    med = od.groupby(["table", "k"])["Tl2f"].median().reset_index()
    for t, g in med.groupby("table"):
        b.plot(g["k"], g["Tl2f"], "o-", label=f"Table {t} (BatchSize {K.BATCH_SIZE[t]})")
    b.set_yscale("log")
    b.set_xticks([3, 9, 15])
    b.set_xlabel("OSNs k")
    b.set_ylabel("median $T^r_{l2f}$ over $\\lambda$ (s)")
    b.set_title("(b) order: leader->followers latency vs k")
    b.legend(fontsize="small")
    fig.tight_layout()
    return fig


def model_vs_measured(pred: pd.DataFrame) -> plt.Figure:
    """Predicted against measured latency per phase, the model and the M/M/1 baseline."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    for ax, phase in zip(axes, ("execute", "order", "validate")):
        g = pred[pred["phase"] == phase]
        base = g["M/M/1"].fillna(g["M/M/1 without waiting"])
        ax.loglog(g["T_meas"], base, "x", color=PALETTE["mm1"], label="M/M/1 baseline", ms=5)
        ax.loglog(g["T_meas"], g["model"], "o", color=PALETTE["model"], label="paper's model",
                  ms=4, mfc="none")
        lo, hi = 0.8 * g["T_meas"].min(), 1.25 * g["T_meas"].max()
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.set_title(phase)
        ax.set_xlabel("measured latency (s)")
    axes[0].set_ylabel("predicted latency (s)")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def mape_bars(table: pd.DataFrame) -> plt.Figure:
    """MAPE per table: the model, the M/M/1 baseline and the paper's stated values."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    x = np.arange(len(table))
    base = table["M/M/1"].fillna(table["M/M/1 without waiting"])
    ax.bar(x - 0.2, table["model"], 0.4, color=PALETTE["model"], label="model (this run)")
    ax.bar(x + 0.2, base, 0.4, color=PALETTE["mm1"],
           label="M/M/1 baseline (order: without waiting; this run)")
    ax.plot(x - 0.2, table["paper: model"], "k*", ms=10, label="paper: model")
    ax.plot(x + 0.2, table["paper: M/M/1"], "kx", ms=8, label="paper: M/M/1")
    ax.set_xticks(x, [f"Table {t}\n{p}\n{c}" for t, p, c in
                      zip(table["table"], table["phase"], table["cluster"])], fontsize="small")
    ax.set_ylabel("MAPE (%)")
    ax.legend(fontsize="small", ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    return fig


def implied_variability(df: pd.DataFrame) -> plt.Figure:
    """The (CV_a^2 + CV_s^2)/2 that the published G/G/1 queueing latencies imply."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for t, g in df.groupby("table"):
        ax.plot(g["rho"], g["(CV_a^2 + CV_s^2)/2"], "o", label=f"Table {t}", ms=4)
    rho = np.linspace(df["rho"].min(), df["rho"].max(), 100)
    ax.plot(rho, rho ** 2, "k-", lw=0.8, label="$\\rho^2$")
    ax.axhline(0.5, color="grey", ls="--", lw=0.8)
    ax.text(0.02, 0.52, "M/D/1 (Poisson arrivals, constant service)", fontsize="small",
            color="grey", transform=ax.get_yaxis_transform())
    ax.set_xlabel("utilisation $\\rho$")
    ax.set_ylabel("$(CV_a^2 + CV_s^2)/2$")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    return fig
