"""Shared-memory snapshot slots (paper Sec. 3: snapshots live in CPU memory owned by the SMPs).

A slot is one file under ``/dev/shm`` (tmpfs: RAM, no disk I/O), mapped with ``mmap``:

    [0, 64)            header: magic, step, payload bytes, layout bytes, crc32c, committed, writes
    [64, HEADER)       the layout (JSON list of :class:`reprobook.reft.state.TensorSpec`)
    [HEADER, ...)      the payload (the rank's tensors, packed)

Write protocol: clear ``committed``, write layout and payload, then step, sizes and checksum, and
set ``committed`` last. A reader accepts a slot only if ``committed`` is set and the CRC-32C of
layout and payload matches (the Castagnoli polynomial, computed with the CPU's CRC32 instruction by
the ``crc32c`` package: about as fast as a memory copy, where zlib's crc32 ran at a quarter of it); a torn write (the writer died half-way) or a flipped byte is thereby refused,
and the caller falls back to the other slot. Two slots per rank alternate (slot = (step // every)
mod 2), so the previous snapshot is intact while the next one is written.

Files, not ``multiprocessing.shared_memory``: on Python < 3.13 its resource tracker may unlink a
segment when an attaching process exits, which would delete a snapshot with the trainer that made it.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .spec import TensorSpec, layout_from_json, layout_json, total_bytes

MAGIC = np.frombuffer(b"REFTSLT1", dtype=np.int64)[0]
HEADER = 64 * 1024  # header (64 B) + layout JSON
_F_MAGIC, _F_STEP, _F_NBYTES, _F_LAYOUT, _F_CRC, _F_COMMITTED, _F_WRITES = range(7)


class SlotError(RuntimeError):
    """A slot that cannot hold or yield a snapshot (too small, absent, not committed, corrupt)."""


def checksum(*parts: np.ndarray | bytes) -> int:
    """CRC-32C of the concatenated ``parts`` (hardware-accelerated where the CPU has it)."""
    import crc32c

    crc = 0
    for p in parts:
        crc = crc32c.crc32c(memoryview(p).cast("B"), crc)
    return crc


def create(path: Path, capacity: int, prefault: bool = True) -> None:
    """Create a slot file of ``capacity`` payload bytes (zeroed, pages touched if ``prefault``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = HEADER + capacity
    with open(path, "wb") as f:
        f.truncate(size)
    if prefault:  # touch every page now, so the trainer's first snapshot pays no page faults
        with open(path, "r+b") as f, mmap.mmap(f.fileno(), size) as mm:
            step = mmap.PAGESIZE
            view = np.frombuffer(mm, dtype=np.uint8)
            view[::step] = 0
            del view


@dataclass(frozen=True)
class SlotInfo:
    """A committed snapshot's step, payload bytes and layout."""
    step: int
    nbytes: int
    specs: list[TensorSpec]


class Slot:
    """One mapped slot file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.exists():
            raise SlotError(f"{self.path}: snapshot slot does not exist (its SMP is not running?)")
        self._f = open(self.path, "r+b")
        self._mm = mmap.mmap(self._f.fileno(), 0)
        self.buf = np.frombuffer(self._mm, dtype=np.uint8)
        self.head = self.buf[:64].view(np.int64)
        self.capacity = len(self.buf) - HEADER

    def close(self) -> None:
        # numpy views keep the mmap's buffer exported; drop them before closing
        """Unmap the slot and close its file."""
        self.head = self.buf = None  # type: ignore[assignment]
        try:
            self._mm.close()
        except BufferError:
            pass
        self._f.close()

    def __enter__(self) -> "Slot":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def payload(self) -> np.ndarray:
        """The payload region (after the header)."""
        return self.buf[HEADER:]

    def begin(self, specs: list[TensorSpec]) -> np.ndarray:
        """Start a write: clear the commit flag, store the layout; returns the payload buffer."""
        lay = layout_json(specs)
        need = total_bytes(specs)
        if len(lay) > HEADER - 64:
            raise SlotError(f"{self.path}: layout of {len(specs)} tensors needs {len(lay)} B, header holds {HEADER - 64}")
        if need > self.capacity:
            raise SlotError(f"{self.path}: snapshot needs {need} B, slot holds {self.capacity} B")
        self.head[_F_COMMITTED] = 0
        self.head[_F_WRITES] += 1
        self.buf[64:64 + len(lay)] = np.frombuffer(lay, dtype=np.uint8)
        self.head[_F_LAYOUT] = len(lay)
        return self.payload[:need]

    def layout_crc(self) -> int:
        """The CRC-32C of the layout written by :meth:`begin` (the start of the slot's checksum)."""
        return checksum(self.buf[64:64 + int(self.head[_F_LAYOUT])])

    def write(self, step: int, tensors: dict, specs: list[TensorSpec]) -> int:
        """A whole snapshot: begin, copy the tensors in with the checksum streamed along
        (:func:`reprobook.reft.state.pack_into`), commit; returns the payload bytes."""
        from .state import pack_into

        buf = self.begin(specs)
        crc = pack_into(buf, tensors, specs, crc=self.layout_crc())
        self.commit(step, len(buf), crc)
        return len(buf)

    def commit(self, step: int, nbytes: int, crc: int | None = None) -> None:
        """Finish a write: sizes, step and checksum, then the commit flag (last)."""
        lay_len = int(self.head[_F_LAYOUT])
        if crc is None:
            crc = checksum(self.buf[64:64 + lay_len], self.payload[:nbytes])
        self.head[_F_NBYTES] = nbytes
        self.head[_F_STEP] = step
        self.head[_F_CRC] = crc
        self.head[_F_MAGIC] = MAGIC
        self.head[_F_COMMITTED] = 1

    def info(self, verify: bool = True) -> SlotInfo | None:
        """The committed snapshot's step and layout, or None if absent, torn or corrupt."""
        h = self.head
        if h[_F_MAGIC] != MAGIC or h[_F_COMMITTED] != 1:
            return None
        nbytes, lay_len = int(h[_F_NBYTES]), int(h[_F_LAYOUT])
        if not (0 <= nbytes <= self.capacity and 0 < lay_len <= HEADER - 64):
            return None
        if verify and checksum(self.buf[64:64 + lay_len], self.payload[:nbytes]) != int(h[_F_CRC]):
            return None
        try:
            specs = layout_from_json(self.buf[64:64 + lay_len].tobytes())
        except (ValueError, KeyError):
            return None
        return SlotInfo(int(h[_F_STEP]), nbytes, specs)

    def used(self) -> int:
        """Bytes of the file a committed snapshot occupies (header region + payload)."""
        return HEADER + int(self.head[_F_NBYTES])

    def raw(self) -> np.ndarray:
        """The used region as a copy (what erasure coding protects)."""
        return np.array(self.buf[:self.used()])

    def write_raw(self, data: np.ndarray) -> None:
        """Overwrite the slot with a region produced by :meth:`raw` (a reconstruction)."""
        if len(data) > len(self.buf):
            raise SlotError(f"{self.path}: reconstructed region of {len(data)} B exceeds the slot")
        self.head[_F_COMMITTED] = 0
        self.buf[64:len(data)] = data[64:]
        head = np.array(data[:64]).view(np.int64)
        self.head[:_F_COMMITTED] = head[:_F_COMMITTED]
        self.head[_F_WRITES] = head[_F_WRITES]
        self.head[_F_COMMITTED] = head[_F_COMMITTED]


def slot_index(step: int, every: int) -> int:
    """Which of the two alternating slots holds the snapshot taken after ``step``."""
    return (step // every) % 2


def remove_tree(root: Path) -> None:
    """Remove a snapshot tree (files, then folders); missing is fine."""
    if not root.exists():
        return
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for f in filenames:
            try:
                os.unlink(os.path.join(dirpath, f))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(dirpath)
        except OSError:
            pass
