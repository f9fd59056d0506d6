"""The byte layout of a snapshot, without torch (the SMPs import only this, NumPy and zfec)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

ALIGN = 64  # bytes; every tensor starts on a cache line


@dataclass(frozen=True)
class TensorSpec:
    """Where one tensor lives in a snapshot: name, dtype, shape, offset and bytes."""
    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int


def aligned(n: int) -> int:
    """``n`` rounded up to :data:`ALIGN`."""
    return -(-n // ALIGN) * ALIGN


def total_bytes(specs: list[TensorSpec]) -> int:
    """Bytes a layout spans."""
    return max((s.offset + s.nbytes for s in specs), default=0)


def layout_json(specs: list[TensorSpec]) -> bytes:
    """A layout as JSON bytes (stored in the slot's header)."""
    return json.dumps([asdict(s) for s in specs]).encode()


def layout_from_json(raw: bytes) -> list[TensorSpec]:
    """A layout from :func:`layout_json`'s bytes."""
    return [TensorSpec(d["name"], d["dtype"], tuple(d["shape"]), d["offset"], d["nbytes"])
            for d in json.loads(raw.decode())]


def byte_specs(sizes: dict[str, int]) -> list[TensorSpec]:
    """Specs of named uint8 buffers laid out one after another (aligned)."""
    specs, off = [], 0
    for name, n in sizes.items():
        specs.append(TensorSpec(name, "torch.uint8", (n,), off, n))
        off += aligned(n)
    return specs
