"""Collective-communication benchmark: bus bandwidth vs message size (the paper's Sec. 6).

The paper measures all-reduce, all-gather and reduce-scatter across 8 GPUs with NCCL. This module
is the same benchmark through ``torch.distributed``: launched by ``torchrun`` (NCCL on GPUs, gloo
on the CPU), each rank times every collective at every message size (median of ``iters`` after
``warmup``, with a barrier before each), and rank 0 writes the results as JSON.

Bandwidths follow nccl-tests' definitions: algorithm bandwidth ``algbw = size / time`` and bus
bandwidth ``busbw = algbw * 2(n-1)/n`` for all-reduce and ``algbw * (n-1)/n`` for all-gather and
reduce-scatter (``size`` = the gathered output, resp. the input to be scattered), which makes
busbw comparable to the link's peak. The alpha-beta model ``t(m) = alpha + beta m`` is fitted to
each collective (Hockney 1994): ``alpha`` the latency, ``1/beta`` the bandwidth.

Run a worker by hand: ``torchrun --standalone --nproc_per_node 2 -m reprobook.llmbench.collectives
--backend gloo --out /tmp/coll.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

OPS = ("all_reduce", "all_gather", "reduce_scatter")


def bus_factor(op: str, n: int) -> float:
    """nccl-tests' factor from algorithm to bus bandwidth for ``n`` ranks."""
    if op not in OPS:
        raise ValueError(f"collective {op!r} is not one of {OPS}")
    if n < 1:
        raise ValueError(f"number of ranks must be >= 1, got {n}")
    return 2 * (n - 1) / n if op == "all_reduce" else (n - 1) / n


def bus_bandwidth(op: str, size_bytes: float, seconds: float, n: int) -> float:
    """Bus bandwidth (bytes/s) of one collective of ``size_bytes`` that took ``seconds``."""
    return size_bytes / seconds * bus_factor(op, n)


def fit_alpha_beta(sizes: list[float], seconds: list[float]) -> dict[str, float]:
    """``t = alpha + beta m`` with ``alpha, beta >= 0``, fitted on relative errors (so that the
    latency-bound small messages weigh as much as the large ones): non-negative least squares
    of ``alpha / t + beta m / t = 1``. Returns alpha (s), beta (s/byte), the bandwidth
    ``1/beta`` and the largest relative error of the fit."""
    import numpy as np
    from scipy.optimize import nnls

    if len(sizes) < 3 or len(sizes) != len(seconds):
        raise ValueError(f"an alpha-beta fit needs >= 3 (size, time) pairs, got "
                         f"{len(sizes)} sizes and {len(seconds)} times")
    m, t = np.asarray(sizes, float), np.asarray(seconds, float)
    if (t <= 0).any():
        raise ValueError("collective times must be positive")
    (alpha, beta), _ = nnls(np.stack([1 / t, m / t], axis=1), np.ones_like(t))
    rel = np.abs(alpha + beta * m - t) / t
    return {"alpha_s": float(alpha), "beta_s_per_byte": float(beta),
            "bandwidth_Bps": float(1 / beta) if beta > 0 else float("inf"),
            "max_rel_err": float(rel.max())}


# ------------------------------------------------------------------------------ the worker


def _time_op(op: str, numel: int, iters: int, warmup: int, device: Any) -> float:
    import torch
    import torch.distributed as dist

    n = dist.get_world_size()
    if op == "all_reduce":
        x = torch.ones(numel, device=device)
        call = lambda: dist.all_reduce(x)  # noqa: E731
    elif op == "all_gather":
        out, x = torch.empty(numel, device=device), torch.ones(numel // n, device=device)
        call = lambda: dist.all_gather_into_tensor(out, x)  # noqa: E731
    else:
        x, out = torch.ones(numel, device=device), torch.empty(numel // n, device=device)
        call = lambda: dist.reduce_scatter_tensor(out, x)  # noqa: E731
    times = []
    for k in range(warmup + iters):
        dist.barrier()
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        call()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    t = torch.tensor([statistics.median(times)], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)  # the slowest rank's time is the collective's
    return float(t.item())


def worker(backend: str, sizes: list[int], iters: int, warmup: int, out: str) -> None:
    """One rank of the benchmark (started by torchrun)."""
    import torch
    import torch.distributed as dist

    dist.init_process_group(backend)
    rank, n = dist.get_rank(), dist.get_world_size()
    if backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(1)
    rows = []
    for op in OPS:
        for size in sizes:
            numel = max(n, size // 4 // n * n)  # float32 elements, divisible by n
            sec = _time_op(op, numel, iters, warmup, device)
            nbytes = numel * 4
            rows.append({"op": op, "bytes": nbytes, "seconds": sec, "ranks": n,
                         "backend": backend, "algbw_GBps": nbytes / sec / 1e9,
                         "busbw_GBps": bus_bandwidth(op, nbytes, sec, n) / 1e9})
    if rank == 0:
        Path(out).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    dist.barrier()
    dist.destroy_process_group()


def run(nproc: int = 2, backend: str = "gloo", sizes: list[int] | None = None, iters: int = 5,
        warmup: int = 2, out: str | Path | None = None, timeout: float = 600.0) -> list[dict]:
    """Launch :func:`worker` on ``nproc`` ranks through ``torchrun``; returns its rows.

    A failed launch raises ``RuntimeError`` with the workers' last output.
    """
    import tempfile

    from reprobook.core.procs import kill_tree

    sizes = sizes or [4 ** k * 1024 for k in range(1, 8)]
    if nproc < 2:
        raise ValueError(f"a collective needs >= 2 ranks, got nproc={nproc}")
    with tempfile.TemporaryDirectory(prefix="llmbench-coll-") as tmp:
        path = Path(out) if out else Path(tmp) / "collectives.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "reprobook.llmbench.collectives",
               "--backend", backend, "--iters", str(iters), "--warmup", str(warmup),
               "--out", str(path), "--sizes", *map(str, sizes)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            raise RuntimeError(f"collective benchmark did not finish in {timeout:g} s")
        if proc.returncode != 0 or not path.is_file():
            tail = "\n".join(log.strip().splitlines()[-15:])
            raise RuntimeError(f"torchrun {backend} x{nproc} failed (exit {proc.returncode}):\n"
                               f"{tail}")
        return json.loads(path.read_text(encoding="utf-8"))


def fits(rows: list[dict]) -> list[dict]:
    """The alpha-beta fit of every collective in ``rows``, with its asymptotic bus bandwidth."""
    out = []
    for op in OPS:
        sel = [r for r in rows if r["op"] == op]
        if len(sel) < 3:
            continue
        f = fit_alpha_beta([r["bytes"] for r in sel], [r["seconds"] for r in sel])
        n = sel[0]["ranks"]
        out.append({"op": op, "ranks": n, "backend": sel[0]["backend"],
                    "alpha_us": f["alpha_s"] * 1e6,
                    "fit_busbw_GBps": f["bandwidth_Bps"] * bus_factor(op, n) / 1e9,
                    "peak_measured_busbw_GBps": max(r["busbw_GBps"] for r in sel),
                    "max_rel_err": f["max_rel_err"]})
    return out


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="gloo", choices=("gloo", "nccl"))
    p.add_argument("--sizes", type=int, nargs="+", default=[4 ** k * 1024 for k in range(1, 8)])
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    worker(a.backend, a.sizes, a.iters, a.warmup, a.out)


if __name__ == "__main__":
    _main()
