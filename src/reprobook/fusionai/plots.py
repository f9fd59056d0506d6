"""Figures of the FusionAI chapter (matplotlib; saved by ``run.figure``)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import networkx as nx
import numpy as np
import pandas as pd

from . import constants as K_
from .backend import RunTrace
from .scheduler import Plan

GPU_COLORS = {"rtx3060": "#9ecae1", "rtx3080": "#3182bd", "rtx3090": "#e6550d",
              "rtx4090": "#31a354", "cpu": "#756bb1"}


def headline(table: pd.DataFrame, claim_gbps: float) -> plt.Figure:
    """3080s needed to match 4 H100s against link bandwidth, one panel per workload; bandwidths
    where no fleet up to the largest searched matches are marked at the top as 'never'."""
    works = list(dict.fromkeys(table["workload"]))
    finite = table["3080s to match"].replace(math.inf, np.nan)
    top = max(2 * K_.PAPER_FLEET_N, float(np.nanmax(finite)) * 1.5 if finite.notna().any() else 0)
    fig, axes = plt.subplots(1, len(works), figsize=(4.2 * len(works), 3.8), sharey=True)
    for ax, w in zip(np.atleast_1d(axes), works):
        for i, (base, style) in enumerate((("h100_pcie", "-o"), ("h100_sxm", "--s"))):
            d = table[(table["workload"] == w) & (table["baseline"] == base)]
            d = d.sort_values("link Gbps")
            y = d["3080s to match"].replace(math.inf, np.nan)
            ax.plot(d["link Gbps"], y, style, ms=4, color=f"C{i}",
                    label=f"vs 4 x {K_.GPUS[base].name[:9]}")
            never = d["link Gbps"][y.isna()]
            ax.plot(never, [top * (0.93 - 0.07 * i)] * len(never), "x", color=f"C{i}", ms=6,
                    label="never matched" if i == 0 else None)
        ax.axhline(K_.PAPER_FLEET_N, color="k", lw=1, ls=":")
        ax.text(0.98, K_.PAPER_FLEET_N * 0.93, "paper: 50 x 3080", ha="right", va="top",
                transform=ax.get_yaxis_transform(), fontsize=8)
        ax.axvline(claim_gbps, color="0.6", lw=1)
        ax.set(xscale="log", yscale="log", title=w, xlabel="link bandwidth per 3080 (Gbit/s)",
               ylim=(1, top))
        ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    np.atleast_1d(axes)[0].set_ylabel("RTX 3080s to match 4 H100s")
    np.atleast_1d(axes)[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def curves(curves: dict[str, tuple[np.ndarray, float]], gbps: float) -> plt.Figure:
    """Fleet throughput against the number of 3080s, with the 4-H100 level."""
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6))
    for ax, (w, (tp, base)) in zip(np.atleast_1d(axes), curves.items()):
        n = np.arange(len(tp))
        ax.plot(n, tp, color="C0", label="N x RTX 3080")
        ax.axhline(base, color="C3", ls="--", label="4 x H100 PCIe")
        ax.plot([K_.PAPER_FLEET_N], [tp[K_.PAPER_FLEET_N]], "ko", ms=5)
        ax.annotate(f"50: {tp[K_.PAPER_FLEET_N] / base:.2f}x", (K_.PAPER_FLEET_N,
                    tp[K_.PAPER_FLEET_N]), textcoords="offset points", xytext=(6, -12),
                    fontsize=8)
        ax.set(title=f"{w} at {gbps:g} Gbit/s", xlabel="RTX 3080s (N)", ylabel="tokens/s")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def dag(G: nx.DiGraph, units: tuple[str, ...]) -> plt.Figure:
    """The operation graph of the units given (layered by topological generation)."""
    H = G.subgraph([n for n in G if G.nodes[n]["unit"] in units]).copy()
    for gen, nodes in enumerate(nx.topological_generations(H)):
        for n in nodes:
            H.nodes[n]["gen"] = gen
    pos = nx.multipartite_layout(H, subset_key="gen", align="horizontal", scale=1.0)
    pos = {n: (x, -y) for n, (x, y) in pos.items()}
    fig, ax = plt.subplots(figsize=(7.5, 7))
    ops = sorted({H.nodes[n]["op"] for n in H})
    cmap = dict(zip(ops, plt.cm.tab10.colors))
    nx.draw_networkx_edges(H, pos, ax=ax, arrows=True, arrowsize=8, edge_color="0.6")
    for op in ops:
        nodes = [n for n in H if H.nodes[n]["op"] == op]
        nx.draw_networkx_nodes(H, pos, nodelist=nodes, node_color=[cmap[op]], node_size=160,
                               ax=ax, label=op)
    labels = {n: n.split(".")[-1] for n in H}
    nx.draw_networkx_labels(H, {n: (x + 0.03, y) for n, (x, y) in pos.items()}, labels,
                            font_size=7, horizontalalignment="left", ax=ax)
    ax.legend(fontsize=7, loc="lower left", ncols=2)
    ax.set_title(f"operation DAG of units {', '.join(units)}")
    ax.axis("off")
    fig.tight_layout()
    return fig


def partitions(plans: dict[str, Plan]) -> plt.Figure:
    """Per device: the units it holds and its stage time, for each partition."""
    heights = [1.0 + 0.2 * len(p.stages) for p in plans.values()]
    fig, axes = plt.subplots(len(plans), 1, figsize=(9, 0.8 + sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (name, p) in zip(axes[:, 0], plans.items()):
        for k, s in enumerate(p.stages):
            ax.barh(k, s.stop - s.start, left=s.start, color=GPU_COLORS.get(s.device.gpu, "0.5"),
                    edgecolor="k", lw=0.5)
            ax.text(p.job.L + 0.5, k, f"{s.device.name} {s.device.gpu} {s.device.cluster}: "
                    f"t={s.t:.2f} s, c={s.c:.2f} s", va="center", fontsize=6.5)
        ax.set(xlim=(0, p.job.L * 1.9), ylim=(len(p.stages) - 0.5, -0.5), ylabel="stage",
               xlabel="units (embed, blocks, head)",
               title=f"{name}: makespan {p.makespan():.1f} s, slowest stage {p.bottleneck:.2f} s")
        ax.grid(False)
    gpus = sorted({s.device.gpu for p in plans.values() for s in p.stages})
    handles = [plt.Rectangle((0, 0), 1, 1, color=GPU_COLORS.get(g, "0.5")) for g in gpus]
    fig.legend(handles, gpus, fontsize=7, loc="upper center", ncols=len(gpus),
               bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def churn_timeline(traces: dict[str, RunTrace], window: float, title: str) -> plt.Figure:
    """Throughput over simulated time; the window widens to 1/100 of the longest run so that a
    long run shows a readable curve rather than one bar per iteration."""
    span = max((tr.iterations[-1].end for tr in traces.values() if tr.iterations), default=0.0)
    window = max(window, span / 100)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for i, (label, tr) in enumerate(traces.items()):
        x, y = tr.series(window)
        ax.step(x / 60, y, where="post", color=f"C{i}", label=f"{label} ({tr.done} iterations)")
    ax.set(xlabel="simulated time (min)", ylabel=f"tokens/s ({window:.3g} s windows)",
           title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def churn_sweep(df: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, (pol, d) in enumerate(df.groupby("policy")):
        g = d.groupby("quit per device per hour")["retained"]
        ax.errorbar(g.mean().index, g.mean(), yerr=g.std().fillna(0), fmt="-o", capsize=3,
                    color=f"C{i}", label=pol)
    ax.set(xlabel="quits per device per hour (joins balance them)",
           ylabel="throughput retained", ylim=(0, 1.05))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ray_vs_sim(rows: dict[str, pd.DataFrame]) -> plt.Figure:
    """Per-iteration time and loss of the Ray runs (and their SimPy replays)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (label, df) in enumerate(rows.items()):
        ls = "--" if "SimPy" in label else "-"
        a1.plot(df["end s"], df["seconds"], ls, marker="o", ms=3, color=f"C{i}", label=label)
        if df["loss"].notna().any():
            a2.plot(df["iteration"], df["loss"], ls, marker="o", ms=3, color=f"C{i}", label=label)
    a1.set(xlabel="time since start (s)", ylabel="iteration time (s)", yscale="log",
           title="iteration times (SimPy: calibrated compute + links)")
    a1.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    a1.yaxis.set_minor_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    a2.set(xlabel="iteration", ylabel="training loss (synthetic tokens)",
           title="losses (identical runs overlap)")
    a1.legend(fontsize=7, loc="best")
    a2.legend(fontsize=7)
    fig.tight_layout()
    return fig
