"""Restoring from torch.save, DCP and a REFT slot gives the same state, bit for bit."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import torch

from reprobook.reft import baselines as B
from reprobook.reft import bench
from reprobook.reft import slots as S
from reprobook.reft.model import GPTConfig
from reprobook.reft.state import digest, layout, pack_into, total_bytes, unpack

TINY = GPTConfig(n_layer=1, n_head=2, d_model=32, seq_len=16)


@pytest.mark.filterwarnings("ignore:torch.distributed is disabled")
def test_three_restores_are_identical(tmp_path):
    state = bench.training_state(TINY, steps=2)
    want = digest(state)
    B.save_torch(state, tmp_path / "a.pt", 0.0)
    assert digest(B.throttled_load(tmp_path / "a.pt", 0.0)[0]) == want
    B.save_dcp(state, tmp_path / "dcp", 0.0)
    assert digest(B.load_dcp(state, tmp_path / "dcp", 0.0)[0]) == want
    B.save_dcp_async(state, tmp_path / "dcp-async", 0.0)
    assert digest(B.load_dcp(state, tmp_path / "dcp-async", 0.0)[0]) == want
    shm = Path("/dev/shm") / f"reft-test-{uuid.uuid4().hex[:8]}"
    try:
        specs = layout(state)
        S.create(shm / "slot", total_bytes(specs))
        with S.Slot(shm / "slot") as s:
            pack_into(s.begin(specs), state, specs)
            s.commit(2, total_bytes(specs))
            assert digest(unpack(s.payload, s.info().specs)) == want
    finally:
        S.remove_tree(shm)


def test_zero_partition_covers_every_tensor_once():
    state = bench.training_state(TINY, steps=1)
    shards = bench.zero_partition(state, 3)
    keys = [k for s in shards for k in s]
    assert sorted(keys) == sorted(state) and len(keys) == len(set(keys))
    for s in shards:  # a parameter travels with its own Adam state
        for k in s:
            if k.startswith("adam."):
                assert "param." + k.split(".", 1)[1].rsplit(".", 1)[0] in s


def test_throttle_emulates_the_bandwidth(tmp_path):
    t = torch.zeros(250_000)  # 1 MB
    seconds = B.throttled_save(t, tmp_path / "t.pt", mbps=10.0)  # >= 0.1 s at 10 MB/s
    assert seconds >= (tmp_path / "t.pt").stat().st_size / 10e6
