"""Queueing formulas against closed forms, limits and bad input."""

from __future__ import annotations

import math

import pytest

from reprobook.fabric import queues as Q


@pytest.mark.parametrize("lam,mu", [(1.0, 2.0), (209.0, 780.0), (770.0, 780.0)])
def test_mm1_closed_form(lam, mu):
    # W_q = lambda / (mu (mu - lambda)); the sojourn time is 1 / (mu - lambda)
    assert Q.mm1_wait(lam, mu) == pytest.approx(lam / (mu * (mu - lam)), rel=1e-12)
    assert Q.mm1_wait(lam, mu) + 1 / mu == pytest.approx(1 / (mu - lam), rel=1e-12)


@pytest.mark.parametrize("lam,mu", [(1.0, 2.0), (300.0, 780.0), (0.0, 5.0)])
def test_pollaczek_khinchine(lam, mu):
    rho = lam / mu
    assert Q.md1_wait(lam, mu) == pytest.approx(rho / (2 * mu * (1 - rho)), abs=1e-15)
    assert Q.mg1_wait(lam, mu, 1.0) == pytest.approx(Q.mm1_wait(lam, mu), abs=1e-15)
    erlang4 = (1 + 1 / 4) / 2 * Q.mm1_wait(lam, mu)
    assert Q.mer1_wait(lam, mu, 4) == pytest.approx(erlang4, abs=1e-15)


def _erlang_c_sum(c: int, a: float) -> float:
    top = a ** c / math.factorial(c) / (1 - a / c)
    return top / (sum(a ** k / math.factorial(k) for k in range(c)) + top)


@pytest.mark.parametrize("c,a", [(1, 0.3), (2, 1.0), (4, 3.1), (8, 7.5), (20, 12.0)])
def test_erlang_c_against_its_sum_formula(c, a):
    assert Q.erlang_c(c, a) == pytest.approx(_erlang_c_sum(c, a), rel=1e-10)


def test_erlang_c_known_values():
    assert Q.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert Q.erlang_c(1, 0.4) == pytest.approx(0.4)  # one server: P(wait) = rho


def test_mmc_and_mdc_reduce_to_one_server():
    assert Q.mmc_wait(300.0, 780.0, 1) == pytest.approx(Q.mm1_wait(300.0, 780.0))
    assert Q.cosmetatos_f(1) == 0.0
    assert Q.mdc_wait(300.0, 780.0, 1) == pytest.approx(Q.md1_wait(300.0, 780.0))


def test_cosmetatos_correction_values():
    # f(2) = (sqrt(14) - 2) / 32; the correction is above 1 and vanishes as rho -> 1
    assert Q.cosmetatos_f(2) == pytest.approx((math.sqrt(14) - 2) / 32)
    lam, mu = 1478.0, 780.0
    half = 0.5 * Q.mmc_wait(lam, mu, 2)
    assert half < Q.mdc_wait(lam, mu, 2) < 1.01 * half


def test_table1_queueing_latencies():
    # Table 1: c = 2, lambda = 852 gives T_q = 0.0003 s; c = 2, lambda = 1478 gives 0.0056 s
    assert round(Q.mdc_wait(852.0, 780.0, 2), 4) == 0.0003
    assert round(Q.mdc_wait(1478.0, 780.0, 2), 4) == 0.0056


def test_kingman_limits():
    assert Q.kingman_wait(100.0, 200.0, 0.0, 0.0) == 0.0  # D/D/1: no waiting
    assert Q.kingman_wait(100.0, 200.0, 1.0, 1.0) == pytest.approx(Q.mm1_wait(100.0, 200.0))
    assert Q.kingman_wait(100.0, 200.0, 1.0, 0.0) == pytest.approx(Q.md1_wait(100.0, 200.0))
    w = Q.kingman_wait(150.0, 200.0, 2.5, 0.3)
    assert Q.kingman_factor(w, 150.0, 200.0) == pytest.approx(1.4)


def test_batch_poisson_reduces_to_md1_and_grows_with_the_batch():
    assert Q.mxd1_wait(300.0, 780.0, 1) == pytest.approx(Q.md1_wait(300.0, 780.0))
    assert Q.mxd1_wait(300.0, 780.0, 10) > 10 * Q.md1_wait(300.0, 780.0)


@pytest.mark.parametrize("call", [
    lambda: Q.mm1_wait(780.0, 780.0), lambda: Q.md1_wait(800.0, 780.0),
    lambda: Q.mdc_wait(1600.0, 780.0, 2), lambda: Q.mmc_wait(3200.0, 780.0, 4),
    lambda: Q.kingman_wait(200.0, 190.0, 1.0, 0.0), lambda: Q.erlang_c(2, 2.0),
    lambda: Q.mxd1_wait(780.0, 780.0, 5)])
def test_unstable_queue_is_an_error_not_a_number(call):
    with pytest.raises(Q.UnstableQueueError, match="unstable"):
        call()


def test_unstable_message_names_the_utilisation():
    with pytest.raises(Q.UnstableQueueError, match=r"rho = .*= 1\.0128 >= 1"):
        Q.mdc_wait(790.0, 780.0, 1)


@pytest.mark.parametrize("call,match", [
    (lambda: Q.mm1_wait(-1.0, 5.0), "arrival rate"), (lambda: Q.mm1_wait(1.0, 0.0), "service rate"),
    (lambda: Q.mmc_wait(1.0, 5.0, 0), "servers"), (lambda: Q.mg1_wait(1.0, 5.0, -0.1), "variation"),
    (lambda: Q.mer1_wait(1.0, 5.0, 0), "Erlang"), (lambda: Q.mxd1_wait(1.0, 5.0, 0), "batch")])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
