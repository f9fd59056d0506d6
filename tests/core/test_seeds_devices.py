from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from reprobook.core import devices
from reprobook.core.devices import pick
from reprobook.core.seeds import derive_seed, seed_everything


def draw() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_same_seed_same_draws_other_seed_other_draws():
    seed_everything(7, threads=1)
    a = draw()
    seed_everything(7, threads=1)
    assert draw() == a
    seed_everything(8, threads=1)
    assert draw() != a
    assert torch.get_num_threads() == 1
    assert torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_seed_must_be_a_non_negative_int(bad):
    with pytest.raises(ValueError):
        seed_everything(bad)


def test_derive_seed_is_stable_and_distinct():
    assert derive_seed(0, "client", 3) == derive_seed(0, "client", 3)
    seeds = {derive_seed(0, "client", i) for i in range(1000)}
    assert len(seeds) == 1000
    assert derive_seed(1, "client", 3) != derive_seed(0, "client", 3)


def test_pick_cpu_and_auto(monkeypatch):
    c = pick("cpu", "32-true")
    assert c.device == "cpu" and c.precision == "32-true" and not c.is_cuda
    # "auto" on a CPU: bf16 autocast only where bf16 matrix products are native
    for native, expected in ((True, "bf16-mixed"), (False, "32-true")):
        monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda n=native: n)
        assert pick("cpu").precision == expected
    monkeypatch.undo()
    assert pick("cpu").precision == ("bf16-mixed" if devices.cpu_has_native_bf16() else "32-true")
    auto = pick("auto")
    assert auto.device == ("cuda:0" if torch.cuda.is_available() else "cpu")


def test_pick_rejects_bad_values():
    with pytest.raises(ValueError, match="precision"):
        pick("cpu", "fp8")
    with pytest.raises(ValueError, match="not 'auto'"):
        pick("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error path")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no CUDA device"):
        pick("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pick_cuda():
    c = pick("cuda")
    assert c.device == "cuda:0" and c.precision in ("bf16-mixed", "16-mixed")
    with pytest.raises(RuntimeError, match="only"):
        pick(f"cuda:{torch.cuda.device_count()}")
