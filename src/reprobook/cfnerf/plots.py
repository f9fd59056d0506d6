"""Figures of the CF-NeRF chapter (computing lives in the other modules; these only draw)."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .geometry import align_by_poses

COLOURS = {"CF-NeRF": "C0", "NeRFmm": "C3", "BARF": "C2", "GARF": "C4", "reference": "0.3"}


def image_grid(images: torch.Tensor, titles: list[str] | None = None, cols: int = 8, size: float = 1.4):
    n = len(images)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * 1.1), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i].clamp(0, 1).numpy(), interpolation="nearest")
            if titles:
                ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    return fig


def _frustums(ax, poses: torch.Tensor, colour: str, scale: float = 0.25, label: str | None = None,
              every: int = 1) -> None:
    P = poses.numpy()
    ax.plot(P[:, 0, 3], P[:, 1, 3], P[:, 2, 3], "-o", color=colour, ms=2.5, lw=1, label=label)
    for k in range(0, len(P), every):
        c, R = P[k, :3, 3], P[k, :3, :3]
        corners = [c + scale * (R @ np.array([x, y, 1.0])) for x, y in ((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5))]
        for a in corners:
            ax.plot(*zip(c, a), color=colour, lw=0.6)
        for a, b in zip(corners, corners[1:] + corners[:1]):
            ax.plot(*zip(a, b), color=colour, lw=0.6)


def trajectories_3d(seqs: dict[str, torch.Tensor], scale: float = 0.35, every: int = 1,
                    ref: torch.Tensor | None = None):
    """One 3-D panel per sequence of OpenCV c2w poses (world z up), with ``ref`` in grey."""
    fig = plt.figure(figsize=(5 * len(seqs), 4.2))
    for i, (name, P) in enumerate(seqs.items()):
        ax = fig.add_subplot(1, len(seqs), i + 1, projection="3d")
        if ref is not None:
            _frustums(ax, ref, COLOURS["reference"], scale, every=every)
        _frustums(ax, P, COLOURS.get(name.split(" ")[0], "C0"), scale, every=every)
        ax.scatter([0], [0], [0], color="k", s=12)
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_zlabel("z")
        pts = torch.cat([P[:, :3, 3], torch.zeros(1, 3)] + ([ref[:, :3, 3]] if ref is not None else []))
        mid = (pts.max(0).values + pts.min(0).values) / 2
        half = float((pts.max(0).values - pts.min(0).values).max()) / 2 + 0.3
        ax.set_xlim(float(mid[0]) - half, float(mid[0]) + half)
        ax.set_ylim(float(mid[1]) - half, float(mid[1]) + half)
        ax.set_zlim(float(mid[2]) - half, float(mid[2]) + half)
    fig.tight_layout()
    return fig


def aligned_topdown(ref: torch.Tensor, estimates: dict[str, torch.Tensor], ax=None, title: str = ""):
    """Camera centres (x-y plane) and viewing directions after the Sim(3) fitted on orientations and
    centres (:func:`.geometry.sim3_from_poses`)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 4))
    else:
        fig = ax.figure
    R = ref.numpy()
    ax.plot(R[:, 0, 3], R[:, 1, 3], "-", color=COLOURS["reference"], lw=2, label="reference")
    ax.quiver(R[:, 0, 3], R[:, 1, 3], R[:, 0, 2], R[:, 1, 2], color=COLOURS["reference"], scale=12, width=0.006)
    for name, est in estimates.items():
        a = align_by_poses(est.double(), ref.double()).numpy()
        col = COLOURS.get(name, None)
        ax.plot(a[:, 0, 3], a[:, 1, 3], "o-", ms=3, lw=1, color=col, label=name)
        ax.quiver(a[:, 0, 3], a[:, 1, 3], a[:, 0, 2], a[:, 1, 2], color=col, scale=12, width=0.004, alpha=0.8)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="best")
    return fig


def registration(reg: pd.DataFrame, inter_frame_deg: float):
    """Left: the new image's rotation to its predecessor before and after localization; right: the
    aligned rotation error of all registered poses as images are added."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    a.axhline(inter_frame_deg, color="0.5", ls=":", label="true inter-frame rotation")
    a.plot(reg.image, reg.rpe_before_deg, "o-", color="C3", label="error before localization")
    a.plot(reg.image, reg.rpe_after_deg, "o-", color="C0", label="error after localization")
    a.set_xlabel("image being registered")
    a.set_ylabel("relative rotation error to image k-1 (deg)")
    a.legend(fontsize=7)
    b.plot(reg.image, reg.registered_rot_deg_ra, "o-", color="C0",
           label="mean rotation error (orientations aligned)")
    b.plot(reg.image, reg.registered_rot_deg, "^:", color="C2",
           label="mean rotation error (centres aligned, paper)")
    b.plot(reg.image, reg.registered_rpe_rot_deg, "s--", color="C1", label="mean frame-to-frame RPE")
    b.set_xlabel("images registered (index of the newest)")
    b.set_ylabel("degrees")
    b.set_yscale("log")
    lo, hi = b.get_ylim()
    b.set_ylim(lo, hi * (hi / lo) ** 0.6)  # head room: the legend sits above the curves
    b.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def renders_vs_truth(truth: torch.Tensor, renders: dict[str, torch.Tensor], psnrs: dict[str, list[float]] | None = None):
    """Rows: ground truth, then each method's render of the held-out views."""
    rows = 1 + len(renders)
    n = len(truth)
    fig, axes = plt.subplots(rows, n, figsize=(1.6 * n, 1.7 * rows), squeeze=False)
    for j in range(n):
        axes[0, j].imshow(truth[j].numpy(), interpolation="nearest")
        axes[0, j].set_title(f"truth {j}", fontsize=7)
        for i, (name, imgs) in enumerate(renders.items(), 1):
            axes[i, j].imshow(imgs[j].clamp(0, 1).numpy(), interpolation="nearest")
            t = name if psnrs is None else f"{name} {psnrs[name][j]:.1f} dB"
            axes[i, j].set_title(t, fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def comparison_bars(df: pd.DataFrame, metrics: tuple[tuple[str, str], ...],
                    nulls: dict[str, dict[str, float]] | None = None):
    """Grouped bars: method x sequence, mean over seeds with the seeds as dots; ``nulls``
    [sequence][metric] draws what cameras that never rotate score, as a dashed line."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.3))
    seqs = list(dict.fromkeys(df.sequence))
    methods = list(dict.fromkeys(df.method))
    w = 0.8 / len(methods)
    for ax, (col, label) in zip(np.atleast_1d(axes), metrics):
        for i, m in enumerate(methods):
            for j, s in enumerate(seqs):
                v = df[(df.method == m) & (df.sequence == s)][col]
                x = j + (i - (len(methods) - 1) / 2) * w
                ax.bar(x, v.mean(), w * 0.9, color=COLOURS.get(m), label=m if j == 0 else None)
                ax.plot([x] * len(v), v, "k.", ms=4)
        for j, s in enumerate(seqs):
            ref = (nulls or {}).get(s, {}).get(col)
            if ref is not None:
                ax.hlines(ref, j - 0.45, j + 0.45, colors="0.3", linestyles="--",
                          label="no rotation" if j == 0 else None)
        ax.set_xticks(range(len(seqs)), seqs)
        ax.set_ylabel(label)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def ablation_bars(df: pd.DataFrame, group: str, metrics: tuple[tuple[str, str], ...]):
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2))
    for ax, (col, label) in zip(np.atleast_1d(axes), metrics):
        g = df.groupby(group, sort=False)[col]
        ax.bar(range(g.ngroups), g.mean().values, color="C0")
        for i, (_, v) in enumerate(g):
            ax.plot([i] * len(v), v.values, "k.", ms=4)
        ax.set_xticks(range(g.ngroups), [str(k) for k in g.mean().index], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(label)
    fig.tight_layout()
    return fig


def kernel_bench(times: pd.DataFrame, R: int):
    """Rays per second of each compositor, one dot per repeat, the median as a bar."""
    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    names = list(dict.fromkeys(times.implementation))
    for i, name in enumerate(names):
        v = R / times[times.implementation == name].seconds / 1e6
        ax.barh(i, v.median(), color="C0", alpha=0.6)
        ax.plot(v, [i] * len(v), "k.", ms=4)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("million rays/s (forward + backward; dots: repeats)")
    fig.tight_layout()
    return fig


def loss_curve(losses: list[dict[str, Any]]):
    df = pd.DataFrame(losses)
    fig, ax = plt.subplots(figsize=(7, 2.8))
    for kind, c in (("initialization", "k"), ("localization", "C3"), ("local_optimization", "C1"),
                    ("global_optimization", "C0")):
        d = df[df.kind == kind]
        ax.plot(d.t, d.loss, "o", ms=3, color=c, label=kind.replace("_", " "))
    ax.set_yscale("log")
    ax.set_xlabel("seconds")
    ax.set_ylabel("smooth-L1 (last pass)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
