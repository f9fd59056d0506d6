"""The phase models (eqs. 1-7) and the alpha-beta communication model."""

from __future__ import annotations

import pytest

from reprobook.fabric import model as M
from reprobook.fabric.queues import UnstableQueueError


def test_example_cluster1_c1_lambda209_from_its_inputs():
    # Table 1: lambda = 209, mu = 780, c = 1, fitted beta = 29.3380 Mbps -> T^e model 0.3354 s
    lat = M.execute_latency(209.0, 780.0, 1, beta=29.3380)
    assert lat.total == pytest.approx(0.3354, abs=5e-4)
    assert lat.comm == pytest.approx(209 * 6 * 8 / 1024 / 29.3380)
    assert lat.comm / lat.total > 0.99  # communication dominates


def test_execute_throughput_is_linear_in_the_cores():
    for c in (1, 2, 4):
        assert M.execute_capacity(780.0, c) == c * 780.0
        assert M.execute_throughput(0.5 * c * 780.0, 780.0, c) == pytest.approx(0.5 * c * 780.0)
    with pytest.raises(UnstableQueueError):
        M.execute_latency(1600.0, 780.0, 2, beta=80.0)


def test_block_wait():
    assert M.block_wait(109.0, 50) == pytest.approx(50 / 218)  # 0.2294 s (Table 4)
    assert M.block_wait(109.0, 20) == pytest.approx(20 / 218)  # 0.0917 s (Table 3)
    assert M.block_wait(10.0, 50) == 0.5  # BatchTimeout-bound: BatchTimeout / 2
    assert M.block_wait(0.0, 50) == 0.5
    with pytest.raises(ValueError):
        M.block_wait(10.0, 0)


def test_order_latency_reproduces_table4_row():
    # Table 4, k = 3, lambda = 109: c2l avg BW 117.2577, l2f avg BW 52.9649, T_q = 0 -> 0.3504 s
    lat = M.order_latency(109.0, 370.0, 3, beta_c2l=117.2577, beta_l2f=52.9649, batch_size=50,
                          tq=0.0)
    assert lat.total == pytest.approx(0.3504, abs=2e-4)
    assert lat.wait == pytest.approx(0.2294, abs=1e-4)
    with pytest.raises(ValueError, match="odd"):
        M.order_latency(109.0, 370.0, 4, 100.0, 50.0, 50)


def test_alpha_beta_round_trip():
    t = M.comm_latency(300.0, 6.0, 42.0, alpha=0.01, hops=2)
    assert M.effective_bandwidth(300.0, 6.0, t, alpha=0.01, hops=2) == pytest.approx(42.0)
    assert M.fit_bandwidth([100, 200], [t, t], 6.0, method="lsq") > 0
    with pytest.raises(ValueError):
        M.effective_bandwidth(300.0, 6.0, 0.015, alpha=0.01, hops=2)
    with pytest.raises(ValueError):
        M.fit_bandwidth([1.0], [0.1], 3.0, method="median")


def test_fit_bandwidth_mean_is_the_tables_average():
    lams, t = [100.0, 200.0], [0.2, 0.3]
    per_row = [M.effective_bandwidth(a, 6.0, b) for a, b in zip(lams, t)]
    assert M.fit_bandwidth(lams, t, 6.0) == pytest.approx(sum(per_row) / 2)


def test_disk_model():
    assert M.disk_rate(1490.0) == pytest.approx(1490.0)  # SSD: no seek
    assert M.disk_rate(63.0, w_seek=0.008) == pytest.approx(1 / (0.008 + 1 / 63))
    assert M.validate_service_rate(d_kb=60.0, r_disk=4.25) == pytest.approx(85.0)
    assert M.validate_throughput(65.0, 85.0) == pytest.approx(65.0)


def test_quorum():
    assert [M.quorum_size(k) for k in (1, 3, 5, 15)] == [1, 2, 3, 8]
    assert [M.follower_acks_needed(k) for k in (1, 3, 5, 15)] == [0, 1, 2, 7]


def test_mape():
    assert M.mape([1.1, 0.9], [1.0, 1.0]) == pytest.approx(10.0)
    with pytest.raises(ValueError):
        M.mape([1.0], [0.0])
