"""A rank's snapshot as named tensors, and its byte layout (paper Sec. 3: sharded snapshots).

A data-parallel rank r of D holds, after ``optimizer.step()``, everything the run needs to resume:
the parameters it owns (ZeroRedundancyOptimizer's partition), their Adam state (m, v, step), the
scheduler's counter, its RNG states (torch, NumPy, Python) and the data cursor. :func:`layout`
gives every tensor an offset in one flat buffer; :func:`pack_into` / :func:`unpack` copy the
tensors in and out of such a buffer (a shared-memory slot) without pickling.
"""

from __future__ import annotations

import hashlib
import pickle
import random
from typing import Any

import numpy as np
import torch

from .spec import TensorSpec, aligned, total_bytes  # noqa: F401  (total_bytes is part of this module's API)


def _dtype(name: str) -> torch.dtype:
    dt = getattr(torch, name.replace("torch.", ""), None)
    if not isinstance(dt, torch.dtype):
        raise ValueError(f"unknown tensor dtype {name!r} in a snapshot layout")
    return dt


def layout(tensors: dict[str, torch.Tensor]) -> list[TensorSpec]:
    """Offsets of ``tensors`` (in insertion order) in one buffer, each aligned to :data:`ALIGN`."""
    specs, off = [], 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.element_size()
        specs.append(TensorSpec(name, str(t.dtype), tuple(t.shape), off, nbytes))
        off += aligned(nbytes)
    return specs


def as_bytes(t: torch.Tensor) -> np.ndarray:
    """A tensor's bytes as a uint8 NumPy view (CPU, contiguous)."""
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    return t.contiguous().reshape(-1).view(torch.uint8).numpy()


def pack_into(buf: np.ndarray, tensors: dict[str, torch.Tensor], specs: list[TensorSpec],
              crc: int | None = None, chunk: int = 1 << 20) -> int | None:
    """Copy every tensor into ``buf`` (uint8) at its offset.

    With ``crc`` (the running CRC-32C of what precedes ``buf``), each chunk is checksummed right
    after it is copied, while it is still in the CPU's cache, and the padding between tensors is
    zeroed and checksummed too; the CRC-32C of ``buf[:total_bytes(specs)]`` is returned. One pass
    over memory instead of two (copy, then checksum).
    """
    if crc is None:
        for s in specs:
            buf[s.offset:s.offset + s.nbytes] = as_bytes(tensors[s.name])
        return None
    import crc32c

    pos = 0
    for s in specs:
        if s.offset > pos:
            buf[pos:s.offset] = 0
            crc = crc32c.crc32c(buf[pos:s.offset], crc)
        src, dst = as_bytes(tensors[s.name]), buf[s.offset:s.offset + s.nbytes]
        for i in range(0, s.nbytes, chunk):
            dst[i:i + chunk] = src[i:i + chunk]
            crc = crc32c.crc32c(dst[i:i + chunk], crc)
        pos = s.offset + s.nbytes
    return crc


def unpack(buf: np.ndarray, specs: list[TensorSpec]) -> dict[str, torch.Tensor]:
    """Fresh tensors (copies) from ``buf`` according to ``specs``."""
    out = {}
    for s in specs:
        raw = torch.from_numpy(np.array(buf[s.offset:s.offset + s.nbytes], dtype=np.uint8))
        out[s.name] = raw.view(_dtype(s.dtype)).reshape(s.shape) if s.nbytes else \
            torch.empty(s.shape, dtype=_dtype(s.dtype))
    return out


def sha256(t: torch.Tensor) -> str:
    """sha256 of a tensor's bytes (dtype and shape included, so a reinterpretation differs)."""
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(as_bytes(t).tobytes())
    return h.hexdigest()


def digest(tensors: dict[str, torch.Tensor]) -> dict[str, str]:
    """sha256 of every tensor of a state dict."""
    return {k: sha256(v) for k, v in tensors.items()}


def bytes_tensor(obj: Any) -> torch.Tensor:
    """Any picklable object as a uint8 tensor (RNG states, small metadata)."""
    return torch.frombuffer(bytearray(pickle.dumps(obj)), dtype=torch.uint8).clone()


def from_bytes_tensor(t: torch.Tensor) -> Any:
    """The object :func:`bytes_tensor` stored."""
    return pickle.loads(t.numpy().tobytes())


def rng_state() -> dict[str, torch.Tensor]:
    """The process's RNG states (torch CPU, CUDA when present, NumPy, Python) as tensors."""
    out = {"rng.torch": torch.get_rng_state(),
           "rng.numpy": bytes_tensor(np.random.get_state()),
           "rng.python": bytes_tensor(random.getstate())}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["rng.cuda"] = torch.cuda.get_rng_state()
    return out


def set_rng_state(tensors: dict[str, torch.Tensor]) -> None:
    """Restore the RNG states :func:`rng_state` took."""
    torch.set_rng_state(tensors["rng.torch"])
    np.random.set_state(from_bytes_tensor(tensors["rng.numpy"]))
    random.setstate(from_bytes_tensor(tensors["rng.python"]))
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
