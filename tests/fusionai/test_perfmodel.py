"""The performance model against closed forms and hand-computed values."""

from __future__ import annotations

import math

import pytest

from reprobook.fusionai import constants as K
from reprobook.fusionai import perfmodel as PM
from reprobook.fusionai.headline import peak_compute_ratio


def test_compute_time_is_six_p_b_s_over_eta_f():
    assert PM.compute_time(1e9, 2, 1024, 0.5, 100e12) == pytest.approx(6 * 1e9 * 2 * 1024 / 50e12)


def test_comm_time_counts_both_directions_and_fp16():
    c = PM.comm_time(b=1, s=2048, h=4096, B_k=125e6, latency=0.01)
    assert c == pytest.approx(2 * (0.01 + 2 * 2048 * 4096 / 125e6))


def test_makespan_of_equal_stages_is_m_plus_k_minus_one_stage_times():
    for K_, m in [(1, 1), (4, 8), (7, 3)]:
        assert PM.pipeline_makespan([3] * K_, [0] * K_, m) == (m + K_ - 1) * 3


def test_makespan_is_bounded_by_serial_and_steady_state():
    t, c, m = [2.0, 5.0, 1.0], [1.0, 0.5, 0.0], 6
    ms = PM.pipeline_makespan(t, c, m)
    assert ms <= m * sum(x + y for x, y in zip(t, c))  # never slower than no pipelining
    assert ms >= m * max(max(t), max(c))  # never faster than the bottleneck
    assert PM.pipeline_makespan(t, c, 1) == sum(t) + sum(c)


def test_ring_allreduce_limits():
    assert PM.ring_allreduce_time(1e9, 1, 1e9) == 0.0
    assert PM.ring_allreduce_time(1e9, 2, 1e9) == pytest.approx(2.0)  # 2 (1/2) 2P/B
    assert PM.ring_allreduce_time(1e9, 10**6, 1e9) == pytest.approx(4.0, rel=1e-5)  # -> 4P/B


def test_1f1b_memory_keeps_fewer_microbatches_downstream():
    mem = [PM.stage_memory_1f1b(1e6, 1e3, k, 4, 8) for k in range(4)]
    assert mem == [16e6 + 4e3, 16e6 + 3e3, 16e6 + 2e3, 16e6 + 1e3]
    assert PM.stage_memory_1f1b(1e6, 1e3, 0, 4, 2) == 16e6 + 2e3  # m < K caps it


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_bad_bandwidth_is_rejected(bad):
    with pytest.raises(ValueError, match="bandwidth"):
        PM.comm_time(1, 1, 1, bad, 0.0)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="latency"):
        PM.comm_time(1, 1, 1, 1e9, -0.1)
    with pytest.raises(ValueError, match="m"):
        PM.pipeline_makespan([1.0], [0.0], 0)
    with pytest.raises(ValueError, match="one entry per stage"):
        PM.pipeline_makespan([1.0, 2.0], [0.0], 2)


def test_peak_ratio_of_the_brief():
    assert peak_compute_ratio() == pytest.approx(50 * 59.5 / (4 * 756))
    assert K.PAPER_PEAK_RATIO == pytest.approx(0.984, abs=1e-3)


def test_decode_round_is_the_longer_of_round_trip_and_m_slots():
    assert PM.decode_round_time([1.0, 1.0], [0.5, 0.0], 1) == 2.5
    assert PM.decode_round_time([1.0, 1.0], [0.5, 0.0], 8) == 8.0
