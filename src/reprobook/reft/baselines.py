"""Persistent checkpointing baselines under an emulated storage bandwidth (paper Sec. 2, 5).

This machine writes to a local disk about as fast as to RAM, which would flatter every disk-based
method. A real training cluster checkpoints to shared storage (NFS, a parallel file system, object
storage) at a few hundred MB/s per node. So each persistent write here is *throttled*: after the
real write + fsync, the writer sleeps until ``nbytes / bandwidth`` has passed (never less than the
real time). ``mbps = 0`` disables the emulation. The bandwidth is a parameter of every benchmark.

Methods (one state dict: model + optimizer; blocking = how long training stops; saved = how long
until the state is safe):

- ``torch.save``: serialise, write, fsync, all blocking.
- DCP ``save``: ``torch.distributed.checkpoint.save``, blocking.
- DCP ``async_save``: stages the state in memory (blocking), writes in the background.
- CheckFreq-style (Mohan et al., FAST'21): snapshot to CPU memory (blocking), persist in a thread.
- REFT: copy the rank's 1/D shard into its SMP's shared memory (overlapped with the next
  iteration in the trainer; blocking only if it outlasts it), optionally plus erasure coding.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@contextlib.contextmanager
def _single_process_dcp():
    """DCP warns that it assumes one process when no process group exists: that is the intent."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def dir_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def throttle(nbytes: int, mbps: float, started: float) -> None:
    """Sleep until ``nbytes`` at ``mbps`` MB/s would have been written since ``started``."""
    if mbps > 0:
        left = nbytes / (mbps * 1e6) - (time.perf_counter() - started)
        if left > 0:
            time.sleep(left)


def fsync_tree(path: Path) -> None:
    """fsync a file, or every file under a folder (the data is on the device, not in the page
    cache).
    """
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def throttled_save(obj: Any, path: Path, mbps: float) -> float:
    """``torch.save`` + fsync at the emulated bandwidth; returns the seconds it took."""
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    throttle(Path(path).stat().st_size, mbps, t0)
    return time.perf_counter() - t0


def throttled_load(path: Path, mbps: float) -> tuple[Any, float]:
    """``torch.load`` at the emulated bandwidth; returns the object and the seconds it took."""
    t0 = time.perf_counter()
    if Path(path).is_dir():
        raise ValueError(f"{path}: a folder; use the DCP loader")
    obj = torch.load(path)
    throttle(Path(path).stat().st_size, mbps, t0)
    return obj, time.perf_counter() - t0


@dataclass
class SaveTiming:
    """One save of one method: seconds blocked, seconds until safe, bytes written."""
    method: str
    blocking_s: float   # training is stopped this long
    saved_s: float      # until the state is safe (persisted / committed)
    nbytes: int


def clone_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A copy of a state dict in CPU memory (the snapshot phase of CheckFreq)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def save_torch(state: dict[str, torch.Tensor], path: Path, mbps: float) -> SaveTiming:
    """``torch.save`` + fsync of the whole state, blocking, at the emulated bandwidth."""
    s = throttled_save(state, path, mbps)
    return SaveTiming("torch.save + fsync", s, s, dir_bytes(path))


def save_dcp(state: dict[str, torch.Tensor], path: Path, mbps: float) -> SaveTiming:
    """DCP ``save`` of the whole state from one process, blocking, at the emulated bandwidth."""
    import torch.distributed.checkpoint as dcp

    t0 = time.perf_counter()
    with _single_process_dcp():
        dcp.save({"state": state}, checkpoint_id=str(path))
    fsync_tree(Path(path))
    n = dir_bytes(path)
    throttle(n, mbps, t0)
    s = time.perf_counter() - t0
    return SaveTiming("DCP save", s, s, n)


def save_dcp_async(state: dict[str, torch.Tensor], path: Path, mbps: float) -> SaveTiming:
    """DCP ``async_save``: blocking while it stages, safe when the background write is fsynced."""
    import torch.distributed.checkpoint as dcp

    t0 = time.perf_counter()
    with _single_process_dcp():
        fut: Future = dcp.async_save({"state": state}, checkpoint_id=str(path))
        blocking = time.perf_counter() - t0
        fut.result()
    fsync_tree(Path(path))
    n = dir_bytes(path)
    throttle(n, mbps, t0)
    return SaveTiming("DCP async_save", blocking, time.perf_counter() - t0, n)


def save_checkfreq(state: dict[str, torch.Tensor], path: Path, mbps: float) -> SaveTiming:
    """CheckFreq: snapshot in memory (blocking), then persist on a thread at the emulated bandwidth.
    """
    t0 = time.perf_counter()
    snap = clone_state(state)  # the snapshot phase (blocking: the next step would change the state)
    blocking = time.perf_counter() - t0
    done: dict[str, float] = {}

    def persist() -> None:
        throttled_save(snap, path, 0.0)
        throttle(Path(path).stat().st_size, mbps, t0 + blocking)
        done["t"] = time.perf_counter()

    th = threading.Thread(target=persist)
    th.start()
    th.join()
    return SaveTiming("CheckFreq (snapshot, then persist)", blocking, done["t"] - t0, dir_bytes(path))


def load_dcp(template: dict[str, torch.Tensor], path: Path, mbps: float) -> tuple[dict[str, torch.Tensor], float]:
    """Load a DCP checkpoint into tensors shaped like ``template`` at the emulated bandwidth."""
    import torch.distributed.checkpoint as dcp

    t0 = time.perf_counter()
    out = {"state": {k: torch.empty_like(v) for k, v in template.items()}}
    with _single_process_dcp():
        dcp.load(out, checkpoint_id=str(path))
    throttle(dir_bytes(path), mbps, t0)
    return out["state"], time.perf_counter() - t0
