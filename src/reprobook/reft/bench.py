"""The training state the benchmarks save, its ZeRO shards, and two single-process measurements.

The state is a :class:`reprobook.reft.model.GPT` with its AdamW state after a few steps (parameters,
m, v, step), split into D shards as ZeroRedundancyOptimizer does (greedy by size). The save-speed
comparison itself runs as a D-rank job (:mod:`reprobook.reft.savebench`). Here:
:func:`snapshot_bandwidth` (a snapshot's GB/s against memcpy in the same process) and
:func:`recovery_times` (getting the state back from storage, from a slot, or by decoding a lost node).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import baselines as B
from . import coding
from . import slots as S
from .model import GPT, GPTConfig, batch
from .state import layout, total_bytes, unpack


def training_state(cfg: GPTConfig, steps: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """Flat {name: tensor} of a GPT and its AdamW state after ``steps`` steps on the text."""
    torch.manual_seed(seed)
    model = GPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for s in range(steps):
        x, y = batch(s, 0, 4, cfg.seq_len, seed)
        model(x, y).backward()
        opt.step()
        opt.zero_grad()
    out = {}
    for n, p in model.named_parameters():
        out[f"param.{n}"] = p.detach().clone()
        for k, v in opt.state[p].items():
            out[f"adam.{n}.{k}"] = v.detach().clone()
    return out


def zero_partition(state: dict[str, torch.Tensor], D: int) -> list[dict[str, torch.Tensor]]:
    """D shards, parameters (with their Adam state) assigned greedily by size to the lightest
    rank — ZeroRedundancyOptimizer's rule."""
    names = sorted({k.split(".", 1)[1] for k in state if k.startswith("param.")},
                   key=lambda n: -state[f"param.{n}"].numel())
    load, shards = [0] * D, [dict() for _ in range(D)]
    for n in names:
        r = int(np.argmin(load))
        load[r] += state[f"param.{n}"].numel()
        for k in [k for k in state if k == f"param.{n}" or k.startswith(f"adam.{n}.")]:
            shards[r][k] = state[k]
    return shards


def nbytes(state: dict[str, torch.Tensor]) -> int:
    """Bytes of the tensors of a state dict."""
    return sum(v.numel() * v.element_size() for v in state.values())


def snapshot_bandwidth(nbytes: int = 256 << 20, repeats: int = 5, seed: int = 0) -> pd.DataFrame:
    """GB/s of a REFT snapshot of one ``nbytes`` tensor into a shared-memory slot (begin, copy,
    CRC-32C, commit) against a plain memcpy of the same bytes, measured in the same process, with the
    checksums alone (CRC-32C and zlib's crc32) for reference; the median over ``repeats``."""
    shm = Path("/dev/shm") / f"reft-bw-{uuid.uuid4().hex[:8]}"
    t = torch.from_numpy(np.random.default_rng(seed).integers(0, 255, nbytes, dtype=np.uint8))
    shard = {"x": t}
    src = t.numpy()
    dst = np.empty_like(src)
    try:
        S.create(shm / "slot", total_bytes(layout(shard)))
        with S.Slot(shm / "slot") as slot:
            def snap() -> None:
                slot.write(1, shard, layout(shard))

            def crc_zlib() -> None:
                import zlib

                zlib.crc32(src)

            fns = {"memcpy": lambda: np.copyto(dst, src),
                   "REFT snapshot (copy with streamed CRC-32C, commit)": snap,
                   "CRC-32C alone": lambda: S.checksum(src), "zlib crc32 alone": crc_zlib}
            rows = []
            for name, fn in fns.items():
                fn()  # warm-up (page faults, caches)
                times = [_timed(fn) for _ in range(repeats)]
                rows.append({"operation": name, "GB/s": nbytes / statistics.median(times) / 1e9,
                             "seconds": statistics.median(times)})
    finally:
        S.remove_tree(shm)
    out = pd.DataFrame(rows)
    out["of memcpy"] = out["GB/s"] / out.loc[out.operation == "memcpy", "GB/s"].iloc[0]
    out.attrs["bytes"] = nbytes
    return out


def recovery_times(state: dict[str, torch.Tensor], *, mbps: float, D: int, n_nodes: int,
                   workdir: Path | None = None) -> dict[str, float]:
    """Seconds to get a rank's state back: ``torch.load`` of the whole state at the emulated storage
    bandwidth, a REFT slot read (per rank), and a lost node's snapshot decoded from the survivors'
    regions and XOR parity, then read."""
    tmp = Path(tempfile.mkdtemp(prefix="reft-recovery-", dir=workdir))
    shm = Path("/dev/shm") / f"reft-recovery-{uuid.uuid4().hex[:8]}"
    try:
        shards = zero_partition(state, D)
        cap = max(total_bytes(layout(s)) for s in shards)
        slots_ = []
        for r, sh in enumerate(shards):
            S.create(shm / f"rank{r}", cap)
            slots_.append(S.Slot(shm / f"rank{r}"))
            slots_[-1].write(1, sh, layout(sh))
        path = tmp / "restore.pt"
        B.throttled_save(state, path, 0.0)
        _, load_s = B.throttled_load(path, mbps)
        t0 = time.perf_counter()
        for sl in slots_:
            info = sl.info(verify=True)
            assert info is not None
            unpack(sl.payload, info.specs)
        read_s = (time.perf_counter() - t0) / D
        rpn = max(1, D // n_nodes)
        regions = [np.concatenate([slots_[r].raw() for r in range(q * rpn, (q + 1) * rpn)])
                   for q in range(n_nodes)]
        lay = coding.Layout(n_nodes, 1)
        parity, _ = coding.encode(regions, 1, "xor")
        survivors = {q: r for q, r in enumerate(regions) if q != 0}
        held = {k: v for k, v in parity.items() if lay.parity_nodes(k[0])[k[1]] != 0}
        t0 = time.perf_counter()
        rebuilt = coding.decode(n_nodes, 1, survivors, held,
                                {q: len(r) for q, r in enumerate(regions)}, "xor")
        decode_s = time.perf_counter() - t0
        if not np.array_equal(rebuilt[0], regions[0]):
            raise RuntimeError("XOR decoding did not rebuild the lost node's region")
        for sl in slots_:
            sl.close()
        return {"torch.load (whole state)": load_s, "REFT slot read (one rank)": read_s,
                "REFT decode lost node + read": decode_s + read_s}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        S.remove_tree(shm)


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def frequency_table(df: pd.DataFrame, budget_s: float) -> pd.DataFrame:
    """Saves that fit in ``budget_s`` seconds when each must finish before the next starts."""
    out = df[["method", "blocking_s", "saved_s"]].copy()
    out["max saves in budget"] = np.floor(budget_s / out["saved_s"]).astype(int)
    return out
