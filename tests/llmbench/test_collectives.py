"""Collective benchmark: bus-bandwidth definitions, the alpha-beta fit, gloo with 2 processes."""

from __future__ import annotations

import pytest

from reprobook.llmbench import collectives as C


def test_bus_factors_follow_nccl_tests():
    assert C.bus_factor("all_reduce", 8) == pytest.approx(1.75)
    assert C.bus_factor("all_gather", 8) == pytest.approx(0.875)
    assert C.bus_factor("reduce_scatter", 2) == 0.5
    with pytest.raises(ValueError, match="broadcast"):
        C.bus_factor("broadcast", 2)


def test_alpha_beta_fit_recovers_a_known_line():
    m = [4096 * 4**k for k in range(6)]
    f = C.fit_alpha_beta(m, [2e-5 + x / 5e9 for x in m])
    assert f["alpha_s"] == pytest.approx(2e-5, rel=1e-6)
    assert f["bandwidth_Bps"] == pytest.approx(5e9, rel=1e-6)
    with pytest.raises(ValueError, match=">= 3"):
        C.fit_alpha_beta([1, 2], [1, 2])


def test_gloo_collectives_with_two_processes():
    rows = C.run(2, "gloo", sizes=[4096, 65536, 1048576], iters=2, warmup=1)
    assert {r["op"] for r in rows} == set(C.OPS) and len(rows) == 9
    for r in rows:
        assert r["ranks"] == 2 and r["seconds"] > 0
        assert r["busbw_GBps"] == pytest.approx(
            r["bytes"] / r["seconds"] * C.bus_factor(r["op"], 2) / 1e9)
    assert len(C.fits(rows)) == 3


def test_one_process_is_an_error():
    with pytest.raises(ValueError, match=">= 2 ranks"):
        C.run(1)
