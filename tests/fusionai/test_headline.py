"""The headline analysis (how many RTX 3080s match 4 H100s): bounds and monotonicity that any
correct fleet model must respect, and the 'smallest N' search on known curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reprobook.fusionai import constants as K
from reprobook.fusionai import headline as H

N_MAX = 40


@pytest.fixture(scope="module")
def costs():
    return H.model_costs("llama2-7b", 2048)


def test_n_to_match_is_the_first_fleet_at_or_above_the_target():
    cur = H.FleetCurve(np.array([0.0, 1.0, 1.0, 2.5, 3.0]))
    assert H.n_to_match(cur, 2.5) == 3
    assert H.n_to_match(cur, 1.0) == 1
    assert math.isinf(H.n_to_match(cur, 3.5))


def test_prefill_never_beats_the_peak_compute_bound(costs):
    """Tokens/s of N GPUs <= N eta F s / F_seq (F_seq: forward FLOPs of one sequence of s
    tokens): the makespan is at least m times the slowest stage's compute."""
    w = H.WORKLOADS["prefill"]
    g = K.GPUS["rtx3080"]
    cur = H.fleet_curve(w, "rtx3080", N_MAX, 1e15, 0.0)
    bound = np.arange(N_MAX + 1) * K.ETA * g.flops * costs.seq_len / costs.flops.sum()
    assert np.all(cur.throughput <= bound * (1 + 1e-9))
    assert cur.throughput[N_MAX] > 0.5 * bound[N_MAX]  # and a fast network gets near it


def test_decode_never_beats_the_memory_bandwidth_bound(costs):
    """A micro-batch of b sequences reads its stage's weights once per step, so a round of m
    micro-batches takes at least m 2 P_dense / (K eta_mem BW): tokens/s <= N b eta_mem BW /
    (2 P_dense)."""
    w = H.WORKLOADS["decode"]
    g = K.GPUS["rtx3080"]
    cur = H.fleet_curve(w, "rtx3080", N_MAX, 1e15, 0.0)
    per_token_bytes = 2 * costs.dense_params.sum()  # fp16 weights, ignoring the KV cache
    bound = np.arange(N_MAX + 1) * K.ETA_MEM * g.mem_bw * max(w.b_grid) / per_token_bytes
    assert np.all(cur.throughput <= bound * (1 + 1e-9))


@pytest.mark.parametrize("name", ["training", "prefill", "decode"])
def test_more_bandwidth_never_lowers_throughput(name):
    w = H.WORKLOADS[name]
    slow = H.fleet_curve(w, "rtx3080", N_MAX, 0.1 * K.GBPS, 0.01)
    fast = H.fleet_curve(w, "rtx3080", N_MAX, 10 * K.GBPS, 0.01)
    assert np.all(fast.throughput >= slow.throughput * (1 - 1e-12))
    assert fast.throughput[N_MAX] > slow.throughput[N_MAX]


def test_a_fleet_that_cannot_hold_the_model_has_zero_throughput():
    """Training state of Llama-2-7B is ~108 GB: a handful of 10 GB cards cannot hold it."""
    cur = H.fleet_curve(H.WORKLOADS["training"], "rtx3080", 8, 1 * K.GBPS, 0.01)
    assert np.all(cur.throughput == 0) and all(c is None for c in cur.config)


def test_the_h100_server_beats_as_many_3080s():
    for w in H.WORKLOADS.values():
        base, cfg = H.baseline_throughput(w)
        four = H.fleet_curve(w, "rtx3080", 4, 1 * K.GBPS, 0.01).throughput[4]
        assert base > 0 and cfg is not None
        assert four < base
