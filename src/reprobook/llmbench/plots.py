"""Figures of the chapter (memory grid, throughput, breakdown, bandwidth curves)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .breakdown import CATEGORIES
from .collectives import OPS, bus_factor

PARTS = ("params", "grads", "optimizer", "activations", "loss gradient and recompute", "overhead")


def memory_grid(rows: list[dict[str, Any]], xmax: float = 160.0) -> Any:
    """Stacked predicted per-GPU memory per technique, one panel per model, 24/80 GB lines; a
    linear axis cut at ``xmax`` GB (longer bars are labelled with their total)."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 4.8), sharey=True)
    axes = np.atleast_1d(axes)
    colors = plt.cm.tab10(np.arange(len(PARTS)))
    for ax, model in zip(axes, models):
        sel = [r for r in rows if r["model"] == model]
        y = np.arange(len(sel))
        left = np.zeros(len(sel))
        for part, c in zip(PARTS, colors):
            v = np.array([r[part] for r in sel])
            ax.barh(y, v, left=left, color=c, label=part, height=0.7)
            left += v
        for yi, r in zip(y, sel):
            if r["total"] > xmax:
                ax.text(xmax * 0.98, yi, f"{r['total']:.0f} GB", ha="right", va="center",
                        fontsize=8, color="white", fontweight="bold")
        for cap, ls in ((24, ":"), (80, "--")):
            ax.axvline(cap, color="k", ls=ls, lw=1)
        ax.set_xlim(0, xmax)
        ax.set_yticks(y, [f"{r['technique']} (x{r['GPUs']})" for r in sel], fontsize=8)
        ax.set_xlabel("predicted GB per GPU")
        ax.set_title(model)
    axes[0].invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    for cap, ls in ((24, ":"), (80, "--")):
        handles.append(plt.Line2D([], [], color="k", ls=ls, lw=1))
        labels.append(f"{cap} GB card")
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def throughput(summary: list[dict[str, Any]]) -> Any:
    """Median step time and peak memory per technique on this device."""
    ok = [r for r in summary if r.get("status") == "ok"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    names = [r["technique"] for r in ok]
    a1.bar(names, [r["median_step_s"] * 1e3 for r in ok], color="C0")
    a1.set_ylabel("median step time (ms)")
    mem_key = next((k for k in ("peak_allocated_bytes", "peak_rss_above_baseline_bytes")
                    if ok and k in ok[0]), None)
    if mem_key:
        a2.bar(names, [r[mem_key] / 2**20 for r in ok], color="C1")
        a2.set_ylabel("peak MiB" + (" (RSS above baseline)" if "rss" in mem_key else ""))
    a2b = a2.twinx()
    a2b.plot(names, [r.get("activation_bytes", np.nan) / 2**20 for r in ok], "kD", ms=6,
             label="saved activations (measured)")
    a2b.set_ylabel("saved activations MiB")
    a2b.set_ylim(bottom=0)
    a2b.grid(False)
    a2b.legend(fontsize=8, loc="upper right")
    for ax in (a1, a2):
        ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


def breakdown(shares: dict[str, dict[str, float]]) -> Any:
    """One stacked bar per configuration: the step's share per category."""
    fig, ax = plt.subplots(figsize=(9, 4))
    names = list(shares)
    bottom = np.zeros(len(names))
    colors = plt.cm.tab20(np.linspace(0, 1, len(CATEGORIES)))
    for cat, c in zip(CATEGORIES, colors):
        v = np.array([shares[n][cat] for n in names])
        ax.bar(names, v, bottom=bottom, color=c, label=cat, width=0.6)
        bottom += v
    ax.set_ylabel("share of step time")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    return fig


def bandwidth(rows: list[dict[str, Any]], fits: list[dict[str, Any]]) -> Any:
    """Bus bandwidth vs message size per collective, measured (points) and alpha-beta (lines)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    fit = {f["op"]: f for f in fits}
    for k, op in enumerate(OPS):
        sel = sorted((r for r in rows if r["op"] == op), key=lambda r: r["bytes"])
        if not sel:
            continue
        m = np.array([r["bytes"] for r in sel], float)
        ax.plot(m, [r["busbw_GBps"] for r in sel], "o", color=f"C{k}", label=f"{op} measured")
        if op in fit:
            n, f = sel[0]["ranks"], fit[op]
            mm = np.geomspace(m.min(), m.max(), 50)
            t = f["alpha_us"] * 1e-6 + mm * bus_factor(op, n) / (f["fit_busbw_GBps"] * 1e9)
            ax.plot(mm, mm / t * bus_factor(op, n) / 1e9, "-", color=f"C{k}", alpha=0.7,
                    label=f"{op} alpha-beta fit")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("bus bandwidth (GB/s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
