"""The REFT chapter's GPU smoke check (ARCHITECTURE §7): snapshots of CUDA tensors.

The trainer's GPU path, on its own: a shard of device tensors is copied into pinned host staging
buffers allocated once (page-locked, so the copy is a DMA transfer), on one copy stream reused for
every snapshot, then into a shared-memory slot with its CRC-32C; the slot is read back and compared
bitwise with the device tensors. Returns the device-to-host and end-to-end bandwidths.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import torch

from . import slots as S
from .state import layout, total_bytes, unpack


def cuda_snapshot(device: str, tiny: bool) -> dict:
    """Snapshots of device tensors through pinned staging buffers into a slot, read back bitwise."""
    dev = torch.device(device)
    g = torch.Generator(device=dev).manual_seed(0)
    mb = 8 if tiny else 512
    shard = {f"t{i}": torch.randn(mb * (1 << 20) // 16, generator=g, device=dev)
             for i in range(4)}  # four tensors of mb/4 MB each
    cuda = dev.type == "cuda"
    staging = {k: torch.empty(v.shape, dtype=v.dtype, pin_memory=cuda) for k, v in shard.items()}
    stream = torch.cuda.Stream(dev) if cuda else None
    shm = Path("/dev/shm") / f"reft-gpu-smoke-{uuid.uuid4().hex[:8]}"
    nbytes = sum(v.numel() * v.element_size() for v in shard.values())
    times = {"d2h": [], "snapshot": []}
    try:
        S.create(shm / "slot", total_bytes(layout(staging)))
        with S.Slot(shm / "slot") as slot:
            for _ in range(3):
                t0 = time.perf_counter()
                if cuda:
                    stream.wait_stream(torch.cuda.current_stream(dev))
                    with torch.cuda.stream(stream):
                        for k, v in shard.items():
                            staging[k].copy_(v, non_blocking=True)
                    stream.synchronize()
                else:
                    for k, v in shard.items():
                        staging[k].copy_(v)
                t1 = time.perf_counter()
                slot.write(1, staging, layout(staging))
                t2 = time.perf_counter()
                times["d2h"].append(t1 - t0)
                times["snapshot"].append(t2 - t0)
            info = slot.info(verify=True)
            if info is None:
                raise RuntimeError("the slot written from device tensors does not verify")
            back = unpack(slot.payload, info.specs)
        equal = all(torch.equal(back[k], v.cpu()) for k, v in shard.items())
        if not equal:
            raise RuntimeError("the snapshot read back differs from the device tensors")
    finally:
        S.remove_tree(shm)
    best = {k: min(v) for k, v in times.items()}
    return {"bytes": nbytes, "pinned": cuda, "d2h_GBps": nbytes / best["d2h"] / 1e9,
            "snapshot_GBps": nbytes / best["snapshot"] / 1e9, "bitwise_equal": equal}


CHECKS = [cuda_snapshot]
