"""Shared helpers: random small scheduling problems (seeded), tiny models."""

from __future__ import annotations

import numpy as np
import pytest

from reprobook.fusionai.dag import UnitCosts
from reprobook.fusionai.scheduler import Device, Job


def random_costs(rng: np.random.Generator, n_blocks: int) -> UnitCosts:
    L = n_blocks + 2
    names = ("embed", *[f"block{i}" for i in range(n_blocks)], "head")
    flops = rng.uniform(1e9, 1e10, L)
    flops[0] = 0.0
    params = rng.uniform(1e6, 1e7, L)
    act = rng.uniform(1e5, 1e6, L)
    boundary = rng.uniform(1e4, 1e6, L)
    boundary[-1] = 0.0
    inp = np.concatenate([[0.0], boundary[:-1]])
    return UnitCosts(names, flops, params, act, boundary, inp, params.copy(), np.zeros(L), 128, 2)


def random_devices(rng: np.random.Generator, n: int, costs: UnitCosts, tight: float = 0.6
                   ) -> list[Device]:
    total = 16 * costs.params.sum()
    return [Device(f"d{i}", "x", float(rng.uniform(1e12, 1e14)),
                   float(rng.uniform(0.2, tight) * total), 1e11,
                   float(rng.choice([1e7, 1e8, 1e9])), float(rng.uniform(0, 0.01)))
            for i in range(n)]


def random_job(rng: np.random.Generator, n_blocks: int) -> Job:
    return Job(random_costs(rng, n_blocks), "train", b=int(rng.integers(1, 4)),
               m=int(rng.integers(1, 6)), recompute=bool(rng.integers(2)))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20230903)
