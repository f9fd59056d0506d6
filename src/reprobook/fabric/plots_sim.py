"""Figures of notebooks 3-4: the simulation against the model and the measurements."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import constants as K
from .plots import PALETTE


def des_vs_model(rows: pd.DataFrame) -> plt.Figure:
    """Per table, latency against lambda: measured, the model and the simulation."""
    fig, axes = plt.subplots(2, 4, figsize=(12, 6))
    knob = {"execute": "c", "order": "k", "validate": "batch_size"}
    for ax, (t, g) in zip(axes.flat, rows.groupby("table")):
        key = knob[g["phase"].iloc[0]]
        for i, (v, h) in enumerate(g.groupby(key)):
            col = f"C{i}"
            name = "BatchSize" if key == "batch_size" else key
            ax.plot(h["lam"], h["T_meas"], "o", color=col, ms=4, label=f"{name} = {v}")
            ax.plot(h["lam"], h["model"], "-", color=col, lw=1)
            ax.plot(h["lam"], h["DES"], "x", color=col, ms=5)
        ax.set_title(f"Table {t}: {g['phase'].iloc[0]}", fontsize="small")
        ax.set_xlabel("$\\lambda$ (tps)", fontsize="small")
        ax.legend(fontsize="xx-small", loc="best", framealpha=0.6)
    axes[0, 0].set_ylabel("latency (s)")
    axes[1, 0].set_ylabel("latency (s)")
    fig.text(0.5, 0.005, "dots: measured; lines: model; crosses: simulation", ha="center",
             fontsize="small")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return fig


def cores(sim: pd.DataFrame, capacity: pd.DataFrame) -> plt.Figure:
    """Endorser throughput against cores: simulated saturation and the measured served loads."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.plot(sim["c"], sim["DES throughput (tps)"], "s-", color=PALETTE["des"],
            label="simulation, saturated (mu = 780)")
    for t, g in capacity.groupby("table"):
        ax.plot(g["c"], g["max served lambda (tps)"], "o--", label=f"Table {t}: highest served")
    cs = np.array([1, 2, 4])
    ax.plot(cs, cs * K.MU[1], "k:", lw=1, label="c x 780")
    ax.set_xticks(cs)
    ax.set_xlabel("CPU cores c")
    ax.set_ylabel("throughput (tps)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def replication(df: pd.DataFrame) -> plt.Figure:
    """Per-transaction vs per-block replication: (a) the Raft time a transaction pays against the
    OSN count; (b) the paper's order and validate phases, where that time shows up."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, lam in enumerate(sorted(df["lambda"].unique())):
        for mode, style in (("transaction", "o-"), ("block", "s--")):
            g = df[(df["lambda"] == lam) & (df["replication"] == mode)]
            a.plot(g["k"], g["Raft consensus (ms)"], style, color=f"C{i}",
                   label=f"{mode}, $\\lambda$ = {lam:g}")
            b.plot(g["k"], g["validate phase T^v (ms)"], style, color=f"C{i}",
                   label=f"{mode}, $\\lambda$ = {lam:g}")
    a.set_xlabel("OSNs k")
    a.set_ylabel("Raft consensus per transaction (ms)")
    a.set_title("(a) entry replicated, majority acknowledged", fontsize="small")
    b.set_xlabel("OSNs k")
    b.set_ylabel("validate phase $T^v$ = committed - created (ms)")
    b.set_title("(b) block replication lands in the paper's validate phase", fontsize="small")
    a.legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def batch_size(df: pd.DataFrame, lam: float) -> plt.Figure:
    """Block waiting and order latency against BatchSize at one arrival rate."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.errorbar(df["BatchSize"], df["DES waiting (s)"], yerr=2 * df["waiting se"], fmt="s",
                color=PALETTE["des"], label="simulated waiting")
    ax.plot(df["BatchSize"], df["model min(BT/2, BS/2lambda) (s)"], "-", color=PALETTE["model"],
            label="model min(BT/2, BS/2$\\lambda$)")
    ax.plot(df["BatchSize"], df["DES T_r (s)"], "o-", color="black", label="simulated $T^r$")
    ax.set_xscale("log")
    ax.set_xlabel("BatchSize")
    ax.set_ylabel("seconds")
    ax.set_title(f"$\\lambda$ = {lam:g} tps, BatchTimeout 1 s (Table 4, k = 3 parameters)",
                 fontsize="small")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def rho(df: pd.DataFrame) -> plt.Figure:
    """The M/D/c approximation against the simulation as rho -> 1."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (c, g) in enumerate(df.groupby("c")):
        col = f"C{i}"
        a.errorbar(g["rho"], g["DES W_q (ms)"], yerr=2 * g["DES se (ms)"], fmt="o", color=col,
                   label=f"c = {c}: simulation", ms=4)
        a.plot(g["rho"], g["M/D/c model (ms)"], "-", color=col, lw=1)
        b.plot(g["rho"], g["model error (%)"], "o-", color=col, label=f"c = {c}")
    a.set_yscale("log")
    a.set_xlabel("$\\rho$")
    a.set_ylabel("$W_q$ (ms); lines: M/D/c model")
    a.legend(fontsize="small")
    b.axhline(0, color="grey", lw=0.8)
    b.set_xlabel("$\\rho$")
    b.set_ylabel("model / simulation - 1 (%)")
    b.legend(fontsize="small")
    fig.tight_layout()
    return fig


def bursts(df: pd.DataFrame, links: pd.DataFrame) -> plt.Figure:
    """(a) endorser waiting under bursty clients; (b) communication over a shared link."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    x = np.arange(len(df))
    a.bar(x - 0.27, df["DES W_q (ms)"], 0.27, color=PALETTE["des"], label="simulation")
    a.bar(x, df["paper's M/D/1 (ms)"], 0.27, color=PALETTE["model"], label="paper's M/D/1")
    a.bar(x + 0.27, df["law's formula (ms)"], 0.27, color=PALETTE["mm1"],
          label="formula for the arrival law")
    a.set_xticks(x, df["arrivals"], rotation=30, ha="right", fontsize="small")
    a.set_yscale("log")
    a.set_ylabel("$W_q$ (ms)")
    a.legend(fontsize="small", ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    for n, g in links.groupby("burst size"):
        b.plot(g["lambda"], g["DES T_comm (ms)"], "o-", label=f"bursts of {n}")
    b.set_xlabel("$\\lambda$ (tps)")
    b.set_ylabel("simulated $T^e_{comm}$ (ms)")
    b.legend(fontsize="small")
    fig.tight_layout()
    return fig


def timeout(df: pd.DataFrame, batch_size: int) -> plt.Figure:
    """Block waiting across the BatchTimeout-bound regime."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.errorbar(df["lambda"], df["DES waiting (s)"], yerr=2 * df["se"], fmt="s",
                color=PALETTE["des"], label="simulation")
    ax.plot(df["lambda"], df["model (s)"], "-", color=PALETTE["model"], label="model")
    ax.axvline(batch_size / K.BATCH_TIMEOUT_S, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("$\\lambda$ (tps); dashed: BatchSize / BatchTimeout")
    ax.set_ylabel("mean block waiting (s)")
    ax.set_title(f"BatchSize {batch_size}, BatchTimeout 1 s", fontsize="small")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
