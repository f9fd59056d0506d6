"""The snapshot-cost benchmark of notebook 1: every method saves the same training state.

The state is a :class:`reprobook.reft.model.GPT` with its AdamW state after a few steps (parameters,
m, v, step). Persistent methods write to a temporary folder at the emulated storage bandwidth
(:mod:`reprobook.reft.baselines`). REFT splits the state into D shards as ZeroRedundancyOptimizer
does (greedy by size) and copies each into a shared-memory slot; on a cluster the D ranks copy in
parallel, so the time to snapshot is the slowest shard's (measured here one shard after another on
this machine, whose two cores could not run D copies at once). Parity is computed from the node
regions as an SMP does. Recovery: the persistent methods load at the same bandwidth; REFT reads its
slot, and for a lost node first decodes it from the survivors.
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
from .state import layout, pack_into, total_bytes, unpack


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
    return sum(v.numel() * v.element_size() for v in state.values())


def _reft_copy(shard: dict[str, torch.Tensor], slot: S.Slot) -> float:
    t0 = time.perf_counter()
    specs = layout(shard)
    buf = slot.begin(specs)
    pack_into(buf, shard, specs)
    slot.commit(1, len(buf))
    return time.perf_counter() - t0


def benchmark(state: dict[str, torch.Tensor], *, mbps: float, D: int, n_nodes: int, m_rs: int,
              repeats: int = 3, workdir: Path | None = None) -> pd.DataFrame:
    """Median blocking and saving times of every method on ``state`` (one row each)."""
    tmp = Path(tempfile.mkdtemp(prefix="reft-bench-", dir=workdir))
    shm = Path("/dev/shm") / f"reft-bench-{uuid.uuid4().hex[:8]}"
    rows = []
    try:
        persistent = {"torch.save + fsync": B.save_torch, "DCP save": B.save_dcp,
                      "DCP async_save": B.save_dcp_async, "CheckFreq (snapshot, then persist)": B.save_checkfreq}
        for name, fn in persistent.items():
            ts = []
            for i in range(repeats):
                target = tmp / f"{name.split()[0]}-{i}"
                ts.append(fn(state, target, mbps))
                shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
            rows.append({"method": name, "blocking_s": statistics.median(t.blocking_s for t in ts),
                         "saved_s": statistics.median(t.saved_s for t in ts), "bytes_per_writer": ts[0].nbytes,
                         "writers": 1})
        shards = zero_partition(state, D)
        cap = max(total_bytes(layout(s)) for s in shards)
        paths = [shm / f"rank{r}" for r in range(D)]
        for p in paths:
            S.create(p, cap)
        slots_ = [S.Slot(p) for p in paths]
        fast = max(5, repeats)  # the in-memory paths take milliseconds: more repeats for a stable median
        copy = statistics.median(max(_reft_copy(s, sl) for s, sl in zip(shards, slots_)) for _ in range(fast))
        ranks_per_node = max(1, D // n_nodes)
        regions = [np.concatenate([slots_[r].raw() for r in range(q * ranks_per_node, (q + 1) * ranks_per_node)])
                   for q in range(n_nodes)]
        lay_x, lay_rs = coding.Layout(n_nodes, 1), coding.Layout(n_nodes, m_rs)
        enc = {}
        for label, lay, codec in (("XOR", lay_x, "xor"), (f"RS({n_nodes - m_rs},{m_rs})", lay_rs, "rs")):
            size = coding.chunk_size([len(r) for r in regions], lay.k)
            data = dict(enumerate(regions))
            enc[label] = statistics.median(
                max(_timed(coding.node_parity, lay, q, data, codec, size) for q in range(n_nodes))
                for _ in range(fast))
        shard_bytes = max(nbytes(s) for s in shards)
        rows.append({"method": "REFT (SMP memory, no coding)", "blocking_s": 0.0, "saved_s": copy,
                     "bytes_per_writer": shard_bytes, "writers": D})
        for label, e in enc.items():
            rows.append({"method": f"REFT + {label}", "blocking_s": 0.0, "saved_s": copy + e,
                         "bytes_per_writer": shard_bytes, "writers": D, "encode_s": e})
        # recovery: persistent load vs REFT slot read (and decode of one lost node)
        torch_path = tmp / "restore.pt"
        B.throttled_save(state, torch_path, 0.0)
        _, load_s = B.throttled_load(torch_path, mbps)
        t0 = time.perf_counter()
        for sl in slots_:
            info = sl.info(verify=True)
            assert info is not None
            unpack(sl.payload, info.specs)
        read_s = (time.perf_counter() - t0) / D
        parity, _ = coding.encode(regions, 1, "xor")
        survivors = {q: r for q, r in enumerate(regions) if q != 0}
        held = {k: v for k, v in parity.items() if lay_x.parity_nodes(k[0])[k[1]] != 0}
        t0 = time.perf_counter()
        rebuilt = coding.decode(n_nodes, 1, survivors, held, {q: len(r) for q, r in enumerate(regions)}, "xor")
        decode_s = time.perf_counter() - t0
        assert np.array_equal(rebuilt[0], regions[0])
        for sl in slots_:
            sl.close()
        recovery = {"torch.load": load_s, "REFT slot read": read_s, "REFT decode lost node + read": decode_s + read_s}
        out = pd.DataFrame(rows)
        out.attrs["recovery_s"] = recovery
        out.attrs["state_bytes"] = nbytes(state)
        return out
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
