"""Rays per second of the compositing implementations (forward + backward), for a chapter's
benchmark cell (timings belong in notebooks, never in tests)."""

from __future__ import annotations

import time

import pandas as pd
import torch

from . import composite


def random_rays(R: int, S: int, device: str = "cpu", seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    t = torch.sort(torch.rand(R, S, generator=g, dtype=dtype) * 6, dim=1).values
    deltas = torch.cat([t[:, 1:] - t[:, :-1], torch.full((R, 1), 1e3, dtype=dtype)], dim=1)
    sigma = torch.rand(R, S, generator=g, dtype=dtype) * 2
    rgb = torch.rand(R, S, 3, generator=g, dtype=dtype)
    return [x.to(device) for x in (sigma, rgb, deltas, t)]


def rays_per_second(impl: str, R: int = 4096, S: int = 128, repeats: int = 5, device: str = "cpu",
                    extra: dict | None = None) -> float:
    """Median rays/s of forward + backward (gradients for sigma and rgb) with ``impl``;
    ``extra={"fn": f}`` times another compositor ``f(sigma, rgb, deltas, t)`` instead."""
    sigma, rgb, deltas, t = random_rays(R, S, device)
    sigma.requires_grad_(True)
    rgb.requires_grad_(True)
    fn = (extra or {}).get("fn") or (lambda *a: composite(*a, impl=impl))
    times = []
    for i in range(repeats + 1):
        if device != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn(sigma, rgb, deltas, t)
        loss = out[0].sum() + out[1].sum()
        loss.backward()
        if device != "cpu":
            torch.cuda.synchronize()
        if i:  # the first call builds/loads and warms up
            times.append(time.perf_counter() - t0)
        sigma.grad = rgb.grad = None
    times.sort()
    return R / times[len(times) // 2]


def table(impls: list[str], R: int = 4096, S: int = 128, repeats: int = 5, threads: int | None = None,
          extra: dict | None = None) -> pd.DataFrame:
    """Rays/s of each implementation, then of each compositor in ``extra`` ({name: fn}), and the
    ratio to the reference."""
    if threads:
        torch.set_num_threads(threads)
    rows = [{"implementation": i, "rays/s": rays_per_second(i, R, S, repeats)} for i in impls]
    rows += [{"implementation": name, "rays/s": rays_per_second("reference", R, S, repeats, extra={"fn": fn})}
             for name, fn in (extra or {}).items()]
    df = pd.DataFrame(rows)
    ref = df.set_index("implementation")["rays/s"].get("reference")
    if ref:
        df["x reference"] = df["rays/s"] / ref
    return df
