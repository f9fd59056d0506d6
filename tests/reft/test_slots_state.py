"""Snapshot layout and shared-memory slots: bitwise round trips, torn writes, corruption."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from reprobook.reft import slots as S
from reprobook.reft.state import digest, layout, pack_into, rng_state, set_rng_state, total_bytes, unpack


@pytest.fixture
def shm():
    root = Path("/dev/shm") / f"reft-test-{uuid.uuid4().hex[:8]}"
    yield root
    S.remove_tree(root)


def _tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(33, 7, generator=g), "b16": torch.randn(5, generator=g).bfloat16(),
            "i": torch.randint(0, 9, (4, 3), generator=g), "u8": torch.arange(10, dtype=torch.uint8),
            "scalar": torch.tensor(3.5), "empty": torch.empty(0, 4), "f64": torch.randn(3, generator=g).double()}


def _write(slot: S.Slot, tensors: dict[str, torch.Tensor], step: int) -> None:
    specs = layout(tensors)
    pack_into(slot.begin(specs), tensors, specs)
    slot.commit(step, total_bytes(specs))


def test_layout_pack_unpack_is_bitwise():
    t = _tensors()
    specs = layout(t)
    buf = np.zeros(total_bytes(specs), dtype=np.uint8)
    pack_into(buf, t, specs)
    back = unpack(buf, specs)
    assert digest(back) == digest(t)
    assert all(s.offset % 64 == 0 for s in specs)


def test_slot_round_trip_and_two_alternating_slots(shm):
    for i in (0, 1):
        S.create(shm / f"s{i}", 1 << 16)
    a, b = _tensors(1), _tensors(2)
    with S.Slot(shm / "s0") as s0, S.Slot(shm / "s1") as s1:
        _write(s0, a, 4)
        _write(s1, b, 8)
        i0, i1 = s0.info(), s1.info()
        assert (i0.step, i1.step) == (4, 8)
        assert digest(unpack(s0.payload, i0.specs)) == digest(a)
        assert digest(unpack(s1.payload, i1.specs)) == digest(b)
    assert S.slot_index(8, 4) != S.slot_index(12, 4) and S.slot_index(8, 4) == S.slot_index(16, 4)


def test_torn_write_and_corruption_are_refused(shm):
    S.create(shm / "s", 1 << 16)
    with S.Slot(shm / "s") as s:
        _write(s, _tensors(), 3)
        assert s.info() is not None
        s.begin(layout(_tensors(5)))  # a writer that died before commit
        assert s.info() is None
        _write(s, _tensors(), 3)
        s.payload[17] ^= 0xFF  # one flipped byte
        assert s.info(verify=True) is None
        assert s.info(verify=False) is not None  # the header alone cannot tell


def test_raw_region_rebuilds_a_slot(shm):
    S.create(shm / "a", 1 << 16)
    S.create(shm / "b", 1 << 16)
    with S.Slot(shm / "a") as a, S.Slot(shm / "b") as b:
        _write(a, _tensors(3), 7)
        b.write_raw(a.raw())
        info = b.info()
        assert info.step == 7 and digest(unpack(b.payload, info.specs)) == digest(_tensors(3))


def test_errors_name_the_slot(shm):
    with pytest.raises(S.SlotError, match="does not exist"):
        S.Slot(shm / "missing")
    S.create(shm / "small", 100)
    with S.Slot(shm / "small") as s, pytest.raises(S.SlotError, match="small.*needs"):
        s.begin(layout(_tensors()))


def test_rng_states_round_trip():
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    st = {k: v.clone() for k, v in rng_state().items()}
    first = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(st)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1]) and first[2] == again[2]


def test_the_gpu_smoke_snapshot_runs_on_the_cpu():
    """The GPU smoke check's code path with CPU tensors (the same check runs on CUDA at gpu-smoke)."""
    from reprobook.reft.gpu_smoke import cuda_snapshot

    out = cuda_snapshot("cpu", tiny=True)
    assert out["bitwise_equal"] and out["bytes"] == 8 << 20 and not out["pinned"]
    assert out["snapshot_GBps"] > 0


def test_streamed_checksum_equals_the_checksum_of_the_written_bytes(shm):
    """pack_into's streamed CRC-32C (padding zeroed) is the CRC of the payload as written."""
    import torch

    from reprobook.reft import slots as S
    from reprobook.reft.state import layout, pack_into, total_bytes

    tensors = {"a": torch.arange(7, dtype=torch.int8), "b": torch.randn(1000), "c": torch.ones(3)}
    specs = layout(tensors)
    buf = np.full(total_bytes(specs), 255, dtype=np.uint8)  # dirty padding must not matter
    crc = pack_into(buf, tensors, specs, crc=0, chunk=256)
    assert crc == S.checksum(buf)
