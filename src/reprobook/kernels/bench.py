"""Timing the compositing implementations, for a chapter's benchmark cell (timings belong in
notebooks and ``timings.json``, never in tests).

What is timed is what a training step asks of the compositor: raw densities (ReLU fused), colours,
interval lengths scaled per ray, forward and backward with gradients for the densities, colours
and the per-ray scale, weights not materialised. Implementations are timed in turn within each
repeat (round-robin), so slow drifts of a shared machine hit them alike; the speed-up is computed
per repeat against the reference of the same repeat and reported as a median with its spread.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import pandas as pd
import torch

from . import composite

Compositor = Callable[..., tuple]


def random_rays(R: int, S: int, device: str = "cpu", seed: int = 0, dtype=torch.float32):
    """(raw sigma, rgb, deltas, t, scale) for R rays of S samples on [0, 6]."""
    g = torch.Generator().manual_seed(seed)
    t = torch.sort(torch.rand(R, S, generator=g, dtype=dtype) * 6, dim=1).values
    deltas = torch.cat([t[:, 1:] - t[:, :-1], torch.full((R, 1), 1e2, dtype=dtype)], dim=1)
    sigma = torch.randn(R, S, generator=g, dtype=dtype) * 2 + 1
    rgb = torch.rand(R, S, 3, generator=g, dtype=dtype)
    scale = 1 + 0.3 * torch.rand(R, generator=g, dtype=dtype)
    return [x.to(device) for x in (sigma, rgb, deltas, t, scale)]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def impl_fn(impl: str) -> Compositor:
    """``impl`` as a compositor of (raw sigma, rgb, deltas, t, scale), ReLU and scale fused."""
    def fn(sigma, rgb, deltas, t, scale):  # type: ignore[no-untyped-def]
        return composite(sigma, rgb, deltas, t, impl=impl, scale=scale, activation="relu",
                         need_weights=False)
    return fn


def time_once(fn: Compositor, inputs: list[torch.Tensor], device: str = "cpu") -> float:
    """Seconds of one forward + backward of ``fn(sigma, rgb, deltas, t, scale)``."""
    sigma, rgb, deltas, t, scale = inputs
    for x in (sigma, rgb, scale):
        x.grad = None
        x.requires_grad_(True)
    _sync(device)
    t0 = time.perf_counter()
    out = fn(sigma, rgb, deltas, t, scale)
    (out[0].sum() + out[2].sum()).backward()
    _sync(device)
    return time.perf_counter() - t0


def compare(fns: dict[str, Compositor], R: int = 4096, S: int = 128, repeats: int = 7,
            device: str = "cpu", reference: str = "reference") -> pd.DataFrame:
    """Seconds per call of each compositor, repeat by repeat (round-robin, after one warm-up)."""
    inputs = random_rays(R, S, device)
    for fn in fns.values():  # warm-up: builds/loads extensions, allocator
        time_once(fn, inputs, device)
    rows = []
    for rep in range(repeats):
        for name, fn in fns.items():
            rows.append({"repeat": rep, "implementation": name,
                         "seconds": time_once(fn, inputs, device)})
    df = pd.DataFrame(rows)
    ref = df[df.implementation == reference].set_index("repeat").seconds
    df["speed-up"] = [ref[r] / s for r, s in zip(df.repeat, df.seconds)]
    return df


def summarise(times: pd.DataFrame, R: int, threads: int) -> pd.DataFrame:
    """One row per implementation: median rays/s and speed-up over the repeats, with the spread
    (the lowest and highest per-repeat speed-up) and the thread count."""
    rows = []
    for name, g in times.groupby("implementation", sort=False):
        sp = sorted(g["speed-up"])
        rows.append({"implementation": name, "rays/s": R / statistics.median(g.seconds),
                     "x reference (median)": statistics.median(sp),
                     "x reference (min)": sp[0], "x reference (max)": sp[-1],
                     "repeats": len(sp), "threads": threads})
    return pd.DataFrame(rows)


def table(impls: list[str], R: int = 4096, S: int = 128, repeats: int = 7,
          threads: int | None = None, extra: dict[str, Compositor] | None = None,
          device: str = "cpu") -> pd.DataFrame:
    """:func:`summarise` of :func:`compare` over ``impls`` (``"reference"`` first) and the
    compositors in ``extra`` ({name: fn(sigma, rgb, deltas, t, scale)})."""
    if threads:
        torch.set_num_threads(threads)
    fns = {i: impl_fn(i) for i in dict.fromkeys(["reference", *impls])}
    fns.update(extra or {})
    return summarise(compare(fns, R, S, repeats, device), R, torch.get_num_threads())
