"""The DP partition against exact references, memory, the baseline, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reprobook.fusionai import oracle
from reprobook.fusionai import scheduler as S
from reprobook.fusionai.churn import random_fleet
from reprobook.fusionai.dag import llama_dag, unit_costs
from reprobook.fusionai.llama import named_config

from .conftest import random_devices, random_job


def _opt(fn, *a, **kw) -> float:
    try:
        return fn(*a, **kw)
    except S.InfeasibleError:
        return math.inf


def _dp(job, devs, **kw) -> float:
    return _opt(lambda: S.plan(job, devs, **kw).bottleneck)


def test_dp_equals_brute_force_on_random_small_cases(rng):
    n_feasible = 0
    for _ in range(60):
        job = random_job(rng, int(rng.integers(1, 5)))
        devs = random_devices(rng, int(rng.integers(1, 5)), job.costs, tight=1.0)
        dp, bf = _dp(job, devs), _opt(oracle.brute_force, job, devs)
        assert dp == pytest.approx(bf, rel=1e-12) or (math.isinf(dp) and math.isinf(bf))
        n_feasible += math.isfinite(dp)
    assert n_feasible >= 20  # the cases are not all infeasible


def test_dp_equals_the_integer_program_and_free_order_is_no_worse(rng):
    for _ in range(8):
        job = random_job(rng, int(rng.integers(2, 4)))
        devs = random_devices(rng, int(rng.integers(2, 4)), job.costs, tight=0.9)
        dp = _dp(job, devs)
        il = _opt(lambda: oracle.ilp(job, devs)[0])
        free = _opt(lambda: oracle.ilp(job, devs, ordered=False)[0])
        free_bf = _opt(oracle.brute_force, job, devs, ordered=False)
        assert dp == pytest.approx(il, rel=1e-7) or (math.isinf(dp) and math.isinf(il))
        assert free == pytest.approx(free_bf, rel=1e-7) or math.isinf(free_bf)
        assert free <= dp * (1 + 1e-9)


def test_no_stage_ever_exceeds_its_devices_memory(rng):
    """Property over random fleets and jobs: every plan fits, covers each unit once, and its
    reported bottleneck is the one evaluate() recomputes."""
    checked = 0
    for _ in range(150):
        job = random_job(rng, int(rng.integers(1, 9)))
        devs = random_devices(rng, int(rng.integers(1, 12)), job.costs)
        try:
            p = S.plan(job, devs)
        except S.InfeasibleError:
            continue
        checked += 1
        assert all(s.memory <= s.device.memory * (1 + 1e-12) for s in p.stages)
        assert p.coverage() == [1] * job.L
        again = S.evaluate(job, [(s.device, s.start, s.stop) for s in p.stages])
        assert again.bottleneck == p.bottleneck
        assert len(set(p.devices())) == len(p.stages)
    assert checked >= 50


def test_an_infeasible_fleet_raises_and_says_why(rng):
    job = random_job(rng, 4)
    small = [S.Device(f"s{i}", "x", 1e13, 1.0, 1e11, 1e9) for i in range(3)]
    with pytest.raises(S.InfeasibleError, match="no device can hold unit 'embed'.*'s0'"):
        S.plan(job, small)
    with pytest.raises(S.InfeasibleError, match="fleet is empty"):
        S.plan(job, [])
    c = unit_costs(llama_dag(named_config("llama2-70b"), 4096))
    fleet = random_fleet(12, 0)
    with pytest.raises(S.InfeasibleError, match="cannot hold the model: 12 devices"):
        S.plan(S.Job(c, "train", m=4, recompute=True), fleet)


@pytest.mark.parametrize("field,value", [("bandwidth", -1e9), ("memory", -5.0), ("flops", 0.0),
                                         ("bandwidth", float("nan"))])
def test_bad_device_values_name_the_device(field, value):
    kw = dict(name="gpu-7", gpu="x", flops=1e12, memory=1e9, mem_bw=1e9, bandwidth=1e9)
    kw[field] = value
    with pytest.raises(S.FleetError, match=f"device 'gpu-7': {field} = "):
        S.Device(**kw)
    with pytest.raises(S.FleetError, match="device 'gpu-8': latency"):
        S.Device("gpu-8", "x", 1e12, 1e9, 1e9, 1e9, latency=-1.0)


def test_duplicate_names_and_unknown_gpus_are_rejected():
    d = S.device("a", "rtx3080")
    with pytest.raises(S.FleetError, match="repeated: \\['a'\\]"):
        S.ordered([d, d])
    with pytest.raises(S.FleetError, match="device 'z': unknown GPU"):
        S.device("z", "rtx9999")


def test_homogeneous_plan_equals_the_dp_on_identical_fleets(rng):
    for _ in range(25):
        job = random_job(rng, int(rng.integers(1, 8)))
        d = random_devices(rng, 1, job.costs, tight=0.9)[0]
        K = int(rng.integers(1, 6))
        fleet = [S.Device(f"c{k}", d.gpu, d.flops, d.memory, d.mem_bw, d.bandwidth, d.latency)
                 for k in range(K)]
        a = _dp(job, fleet)
        b = _opt(lambda: S.homogeneous_plan(job, d, K).bottleneck)
        assert a == pytest.approx(b, rel=1e-12) or (math.isinf(a) and math.isinf(b))


def test_equal_partition_splits_blocks_evenly():
    c = unit_costs(llama_dag(named_config("llama2-7b"), 512))
    job = S.Job(c, "prefill", m=4)
    p = S.equal_partition(job, random_fleet(5, 1))
    blocks = [sum(1 for u in range(s.start, s.stop) if c.names[u].startswith("block"))
              for s in p.stages]
    assert blocks == [7, 7, 6, 6, 6] and p.coverage() == [1] * job.L


def test_dp_is_no_worse_than_equal_on_the_same_fleet(rng):
    c = unit_costs(llama_dag(named_config("llama2-7b"), 1024))
    job = S.Job(c, "train", m=8, recompute=True)
    for seed in range(4):
        fleet = random_fleet(24, seed)
        eq = S.equal_partition(job, fleet)
        if eq.feasible:
            assert S.plan(job, fleet).bottleneck <= eq.bottleneck * (1 + 1e-12)


def test_decode_memory_holds_the_kv_cache():
    c = unit_costs(llama_dag(named_config("llama2-7b"), 2048))
    d = S.device("h", "h100_sxm")
    job = S.Job(c, "decode", b=8, m=2)
    T, C, M0, M1 = job.terms(d)
    kv = 2 * 32 * 4096 * 2048 * 2 * 8 * 2  # K+V, layers, h, ctx, fp16, b, m
    assert M0[0, job.L] == pytest.approx(2 * c.params.sum() + kv)
    assert np.all(M1 == 0)
