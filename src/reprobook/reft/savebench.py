"""The save-speed comparison as a real D-rank job (paper Sec. 5: REFT against checkpointing).

Every method saves the same sharded training state from the same D gloo processes, each rank its
ZeroRedundancyOptimizer shard (:func:`reprobook.reft.bench.zero_partition`), so no method gets a
single writer or a free network:

- ``torch.save (sharded)``: each rank writes its shard and fsyncs it;
- ``DCP save`` / ``DCP async_save``: ``torch.distributed.checkpoint`` across the process group,
  each rank writing its own items; ``async_save`` returns after staging and writes in the background;
- ``CheckFreq``: each rank snapshots its shard in its own memory, then persists it in a thread;
- ``REFT``: each rank copies its shard into a shared-memory slot (what the trainer does);
  ``REFT + XOR`` then computes the parity of each node's coding group, reading the other nodes'
  regions over the network.

Storage and network are emulated per node: the ranks of a node share its storage bandwidth
(``mbps``, MB/s) and its network bandwidth (``network_gbps``); a write or a transfer ends no
earlier than its bytes at that bandwidth. Every method's *blocking* time is measured the same way:
from the call to when the rank could continue training; *saved* is until the state is safe
(persisted and fsynced, or committed to memory with its parity). A save is safe when the slowest
rank's is, so each row is the maximum over ranks. Methods run in a rotated order in every repeat.

Run by :func:`run` (one process per rank, ``python -m reprobook.reft.savebench <spec.json>``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

METHODS = ("torch.save (sharded)", "DCP save", "DCP async_save", "CheckFreq", "REFT", "REFT + XOR")


def _throttle(nbytes: int, bytes_per_s: float, started: float) -> None:
    if bytes_per_s > 0:
        left = nbytes / bytes_per_s - (time.perf_counter() - started)
        if left > 0:
            time.sleep(left)


def _fsync_files(paths: list[Path]) -> int:
    total = 0
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        total += p.stat().st_size
    return total


class _Rank:
    """One rank's side of the benchmark (runs inside the rank's process)."""

    def __init__(self, spec: dict[str, Any], rank: int, world: int) -> None:
        import torch.distributed as dist

        from .bench import training_state, zero_partition
        from .config import GPTConfig

        self.dist, self.spec, self.rank, self.world = dist, spec, rank, world
        self.rpn = int(spec["ranks_per_node"])
        self.node = rank // self.rpn
        self.n_nodes = world // self.rpn
        state = training_state(GPTConfig(**spec["gpt"]), seed=int(spec["seed"]))
        self.shard = zero_partition(state, world)[rank]
        self.root = Path(spec["workdir"])
        self.shm = Path(spec["shm"])
        self.net = float(spec["network_gbps"]) * 1e9 / 8 / self.rpn  # bytes/s per rank

    # -- persistent methods -------------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def torch_save(self, bw: float, tag: str) -> tuple[float, float]:
        import torch

        t0 = time.perf_counter()
        path = self._dir(tag) / f"rank{self.rank}.pt"
        with open(path, "wb") as f:
            torch.save(self.shard, f)
            f.flush()
            os.fsync(f.fileno())
        _throttle(path.stat().st_size, bw, t0)
        s = time.perf_counter() - t0
        return s, s

    def _dcp_files(self, d: Path) -> list[Path]:
        return [p for p in d.glob(f"__{self.rank}_*.distcp")] + \
            ([d / ".metadata"] if self.rank == 0 and (d / ".metadata").exists() else [])

    def dcp_save(self, bw: float, tag: str) -> tuple[float, float]:
        import torch.distributed.checkpoint as dcp

        d = self._dir(tag)
        t0 = time.perf_counter()
        dcp.save({"state": self.shard}, checkpoint_id=str(d))
        _throttle(_fsync_files(self._dcp_files(d)), bw, t0)
        s = time.perf_counter() - t0
        return s, s

    def dcp_async(self, bw: float, tag: str) -> tuple[float, float]:
        import torch.distributed.checkpoint as dcp

        d = self._dir(tag)
        t0 = time.perf_counter()
        fut = dcp.async_save({"state": self.shard}, checkpoint_id=str(d))
        blocking = time.perf_counter() - t0
        fut.result()
        _throttle(_fsync_files(self._dcp_files(d)), bw, t0 + blocking)
        return blocking, time.perf_counter() - t0

    def checkfreq(self, bw: float, tag: str) -> tuple[float, float]:
        import torch

        t0 = time.perf_counter()
        snap = {k: v.detach().clone() for k, v in self.shard.items()}  # training would change it
        blocking = time.perf_counter() - t0
        path = self._dir(tag) / f"rank{self.rank}.pt"
        done: dict[str, float] = {}

        def persist() -> None:
            with open(path, "wb") as f:
                torch.save(snap, f)
                f.flush()
                os.fsync(f.fileno())
            _throttle(path.stat().st_size, bw, t0 + blocking)
            done["t"] = time.perf_counter()

        th = threading.Thread(target=persist)
        th.start()
        th.join()
        return blocking, done["t"] - t0

    # -- REFT -----------------------------------------------------------------------------------
    def reft(self, parity: bool) -> tuple[float, float]:
        """The trainer's snapshot: the shard's small tensors are prepared on the calling thread,
        the copy and the commit run on a background thread; with ``parity``, every node then
        encodes its XOR parity block from its coding group's regions (the SMP's work)."""
        from . import coding
        from . import slots as S
        from .state import layout

        t0 = time.perf_counter()
        shard = dict(self.shard)
        slot = S.Slot(self.shm / f"rank{self.rank}")
        result: dict[str, float] = {}

        def copy() -> None:
            slot.write(1, shard, layout(shard))
            result["t"] = time.perf_counter()

        th = threading.Thread(target=copy)
        th.start()
        blocking = time.perf_counter() - t0
        th.join()
        slot.close()
        saved = result["t"] - t0
        if not parity:
            return blocking, saved
        self.dist.barrier()  # every rank's snapshot is committed: the SMPs encode
        t1 = time.perf_counter()
        if self.rank % self.rpn == 0:  # this node's SMP
            regions = {}
            for q in range(self.n_nodes):
                parts = []
                for r in range(q * self.rpn, (q + 1) * self.rpn):
                    with S.Slot(self.shm / f"rank{r}") as sl:
                        parts.append(sl.raw())
                regions[q] = np.concatenate(parts)
            received = sum(len(v) for q, v in regions.items() if q != self.node)
            lay = coding.Layout(self.n_nodes, 1)
            size = coding.chunk_size([len(v) for v in regions.values()], lay.k)
            coding.node_parity(lay, self.node, regions, "xor", size)
            _throttle(received, self.net * self.rpn, t1)  # the node's link carries the transfer
        self.dist.barrier()
        return blocking, saved + (time.perf_counter() - t1)

    def memcpy(self) -> float:
        """Seconds of a plain copy of the shard's bytes into a preallocated buffer (reference)."""
        from .state import as_bytes

        src = [as_bytes(v) for v in self.shard.values()]
        dst = [np.empty_like(s) for s in src]
        for s, d in zip(src, dst):  # warm the pages
            np.copyto(d, s)
        t0 = time.perf_counter()
        for s, d in zip(src, dst):
            np.copyto(d, s)
        return time.perf_counter() - t0

    def run(self) -> list[dict[str, Any]]:
        from . import slots as S
        from .state import layout, total_bytes

        spec = self.spec
        S.create(self.shm / f"rank{self.rank}", total_bytes(layout(self.shard)))
        nbytes = sum(v.numel() * v.element_size() for v in self.shard.values())
        fns: dict[str, Callable[[float, str], tuple[float, float]]] = {
            "torch.save (sharded)": self.torch_save, "DCP save": self.dcp_save,
            "DCP async_save": self.dcp_async, "CheckFreq": self.checkfreq,
            "REFT": lambda bw, tag: self.reft(False), "REFT + XOR": lambda bw, tag: self.reft(True)}
        methods = [m for m in spec["methods"]]
        rows = []
        self.dist.barrier()
        for mbps in spec["bandwidths"]:
            bw = float(mbps) * 1e6 / self.rpn  # the node's storage, shared by its ranks
            for rep in range(int(spec["repeats"])):
                order = methods[rep % len(methods):] + methods[:rep % len(methods)]
                for m in order:
                    tag = f"{uuid.uuid4().hex[:8]}"
                    self.dist.barrier()
                    blocking, saved = fns[m](bw, tag)
                    got: list[Any] = [None] * self.world
                    self.dist.all_gather_object(got, (blocking, saved))
                    if self.rank == 0:
                        rows.append({"method": m, "mbps": float(mbps), "repeat": rep,
                                     "blocking_s": max(g[0] for g in got),
                                     "saved_s": max(g[1] for g in got)})
                        shutil.rmtree(self.root / tag, ignore_errors=True)
                    self.dist.barrier()
        mc: list[Any] = [None] * self.world
        self.dist.all_gather_object(mc, (self.memcpy(), nbytes))
        if self.rank == 0:
            worst = max(mc, key=lambda x: x[0])
            rows.append({"method": "memcpy of the shard", "mbps": float("nan"), "repeat": 0,
                         "blocking_s": worst[0], "saved_s": worst[0]})
            for r in rows:
                r["shard_bytes"] = max(x[1] for x in mc)
        return rows


def _rank_main(spec_path: str) -> int:
    import torch
    import torch.distributed as dist

    from .trainer import LAUNCHER_ENV, watch_launcher

    spec = json.loads(Path(spec_path).read_text())
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if os.environ.get(LAUNCHER_ENV):
        watch_launcher(int(os.environ[LAUNCHER_ENV]))
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=FutureWarning)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        rows = _Rank(spec, rank, world).run()
        if rank == 0:
            Path(spec["out"]).write_text(json.dumps(rows))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


def run(gpt: Any, *, D: int, ranks_per_node: int, bandwidths: list[float], repeats: int,
        network_gbps: float, seed: int = 0, methods: tuple[str, ...] = METHODS,
        timeout: float = 600.0, python: str = sys.executable) -> pd.DataFrame:
    """Every method at every storage bandwidth, ``repeats`` times, from D rank processes; one row
    per (method, bandwidth, repeat) with the slowest rank's blocking and saved seconds, plus a
    ``memcpy of the shard`` reference row."""
    from dataclasses import asdict

    from .cluster import free_port
    from .trainer import LAUNCHER_ENV

    bad = sorted(set(methods) - set(METHODS))
    if bad:
        raise ValueError(f"unknown save method(s) {bad}; known: {list(METHODS)}")
    if D % ranks_per_node:
        raise ValueError(f"D = {D} ranks do not fill nodes of {ranks_per_node} ranks")
    if "REFT + XOR" in methods and D // ranks_per_node < 2:
        raise ValueError("XOR parity needs at least 2 nodes")
    work = Path(tempfile.mkdtemp(prefix="reft-savebench-"))
    shm = Path("/dev/shm") / f"reft-savebench-{uuid.uuid4().hex[:10]}"
    spec = {"gpt": asdict(gpt), "ranks_per_node": ranks_per_node, "bandwidths": list(bandwidths),
            "repeats": repeats, "network_gbps": network_gbps, "seed": seed,
            "methods": list(methods), "workdir": str(work / "ckpt"), "shm": str(shm),
            "out": str(work / "rows.json")}
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec))
    port = str(free_port())
    procs = []
    try:
        for r in range(D):
            env = {**os.environ, "RANK": str(r), "WORLD_SIZE": str(D), "MASTER_ADDR": "127.0.0.1",
                   "MASTER_PORT": port, "OMP_NUM_THREADS": "1", LAUNCHER_ENV: str(os.getpid())}
            procs.append(subprocess.Popen([python, "-m", "reprobook.reft.savebench", str(spec_path)],
                                          env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + timeout
        outs = []
        for p in procs:
            out, _ = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            outs.append(out.decode(errors="replace"))
        failed = [(i, o) for i, (p, o) in enumerate(zip(procs, outs)) if p.returncode != 0]
        if failed:
            i, o = failed[0]
            raise RuntimeError(f"save benchmark rank {i} failed:\n" + "\n".join(o.splitlines()[-15:]))
        return pd.DataFrame(json.loads((work / "rows.json").read_text()))
    finally:
        from reprobook.core.procs import kill_tree

        for p in procs:
            if p.poll() is None:
                kill_tree(p.pid, timeout=5)
        shutil.rmtree(work, ignore_errors=True)
        from .slots import remove_tree

        remove_tree(shm)


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Median blocking and saved seconds per (method, bandwidth) over the repeats."""
    r = rows[rows["method"] != "memcpy of the shard"]
    return (r.groupby(["mbps", "method"], sort=False)[["blocking_s", "saved_s"]].median()
            .reset_index())


def speedups(rows: pd.DataFrame, baseline: str = "DCP async_save",
             method: str = "REFT + XOR") -> pd.DataFrame:
    """Per bandwidth and repeat, baseline saved seconds / method saved seconds (paired)."""
    r = rows.set_index(["mbps", "repeat", "method"])["saved_s"].unstack("method")
    out = (r[baseline] / r[method]).rename("speedup").reset_index()
    return out


def crossover(sp: pd.DataFrame) -> float | None:
    """The storage bandwidth (MB/s, log-interpolated) where the median speed-up falls to 1; None
    if it never does in the swept range."""
    med = sp.groupby("mbps")["speedup"].median().sort_index()
    x, y = np.log(med.index.to_numpy(float)), np.log(med.to_numpy(float))
    for i in range(len(y) - 1):
        if y[i] >= 0 > y[i + 1]:
            return float(np.exp(x[i] + (x[i + 1] - x[i]) * y[i] / (y[i] - y[i + 1])))
    return None


if __name__ == "__main__":
    code = _rank_main(sys.argv[1])
    sys.stdout.flush()
    os._exit(code)
