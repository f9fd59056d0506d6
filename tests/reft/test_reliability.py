"""Reliability formulas: limits, orderings and agreement with the Monte-Carlo simulation."""

from __future__ import annotations

import math

import pytest

from reprobook.reft import reliability as R


def test_closed_forms_limits_and_order():
    assert R.survival_ec(0.01, 8, 4, 0) == pytest.approx(R.survival_smp(0.01, 8))
    assert R.survival_trainer(0.0, 0.02, 16, 8) == pytest.approx(R.survival_smp(0.02, 8))
    for p in (0.001, 0.01, 0.1):
        t = R.survival_trainer(0.01, p, 64, 8)
        s = R.survival_smp(p, 8)
        e = R.survival_ec(p, 8, 4, 1)
        assert t <= s <= e <= 1
    # RS(k, m) with n = m + 1 in one group survives unless all n nodes go
    assert R.survival_ec(0.3, 3, 3, 2) == pytest.approx(1 - 0.3 ** 3)
    assert R.young_daly(2.0, 3600.0) == pytest.approx(math.sqrt(2 * 2 * 3600))
    assert R.expected_lost_work(1.0, 10, 100, 5) == pytest.approx(10)
    with pytest.raises(ValueError, match="coding groups"):
        R.survival_ec(0.1, 10, 4, 1)


def test_monte_carlo_agrees_with_the_formulas():
    c = R.ClusterShape(N=16, ranks_per_node=4, n=4, m=1)
    p_s, p_n = 0.002, 0.03
    mc = R.monte_carlo(c, p_s, p_n, incidents=200_000, seed=0, i_snap=1.0, i_ckpt=30.0, t_restart=0.5)
    for scheme in R.SCHEMES:
        P = R.survival(scheme, p_s=p_s, p_n=p_n, R=c.R, N=c.N, n=c.n, m=c.m)
        assert abs(mc[scheme]["survival"] - P) < 5 * mc[scheme]["survival_se"] + 1e-4
        E = R.expected_lost_work(P, 1.0, 30.0, 0.5)
        assert mc[scheme]["lost_work"] == pytest.approx(E, rel=0.02)
