from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reprobook.burstgpt import generator as G


@pytest.mark.parametrize("rate,shape", [(5.0, 1.0), (5.0, 0.25), (2.0, 0.1), (20.0, 4.0)])
def test_gamma_arrivals_hit_rate_and_shape(rate, shape):
    rng = np.random.default_rng(1)
    duration = 400_000 / rate  # ~400k arrivals
    t = G.gamma_arrivals(rate, shape, duration, rng)
    gaps = np.diff(t)
    assert abs(t.size / duration - rate) / rate < 0.02
    cv = gaps.std() / gaps.mean()
    assert abs(cv - 1 / np.sqrt(shape)) / (1 / np.sqrt(shape)) < 0.05  # CV = 1/sqrt(k)
    # method-of-moments shape estimate: mean^2 / var
    k_hat = gaps.mean() ** 2 / gaps.var()
    assert abs(k_hat - shape) / shape < 0.05
    assert t.min() >= 0 and t.max() < duration and np.all(gaps >= 0)


def test_same_seed_same_arrays():
    a = G.gamma_arrivals(3.0, 0.25, 1000, np.random.default_rng(7))
    b = G.gamma_arrivals(3.0, 0.25, 1000, np.random.default_rng(7))
    c = G.gamma_arrivals(3.0, 0.25, 1000, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_piecewise_follows_each_window():
    windows = pd.DataFrame({"start": [0.0, 10_000.0], "end": [10_000.0, 20_000.0],
                            "alpha": [1.0, 0.25], "beta": [1.0, 0.4],  # rates 1/(a b): 1, 10
                            "rate": [0.5, 3.0]})  # observed rates
    fitted = G.piecewise_gamma_arrivals(windows, np.random.default_rng(0), rate_scale=2.0,
                                        match_rate=False)
    first, second = fitted[fitted < 10_000], fitted[fitted >= 10_000]
    assert abs(first.size / 10_000 - 2.0) < 0.1
    assert abs(second.size / 10_000 - 20.0) < 0.6
    assert np.all(np.diff(fitted) >= 0)
    matched = G.piecewise_gamma_arrivals(windows, np.random.default_rng(0), rate_scale=2.0)
    first, second = matched[matched < 10_000], matched[matched >= 10_000]
    assert abs(first.size / 10_000 - 1.0) < 0.05
    assert abs(second.size / 10_000 - 6.0) < 0.3
    gaps = np.diff(second)
    assert abs(gaps.std() / gaps.mean() - 2.0) < 0.15  # shape 0.25 kept: CV = 1/sqrt(0.25)


def test_replay_scales_time():
    t = np.array([5.0, 6.0, 9.0])
    assert np.allclose(G.replay(t, 2.0), [0.0, 0.5, 2.0])
    with pytest.raises(ValueError):
        G.replay(t, 0)


def test_zipf_lengths_are_capped_by_redrawing():
    x = G.zipf_lengths(50_000, np.random.default_rng(0), exponent=1.1, max_tokens=1024)
    assert x.min() >= 1 and x.max() <= 1024
    z = np.sum(np.arange(1, 1025, dtype=float) ** -1.1)  # truncated law: P(k) = k^-1.1 / Z
    for k in (1, 2, 10):
        assert abs(np.mean(x == k) - k ** -1.1 / z) < 0.006


def test_bootstrap_keeps_pairs_and_respects_context():
    trace = pd.DataFrame({"request_tokens": [10, 3000, 50], "response_tokens": [5, 2000, 0],
                          "failed": [False, False, True]})
    req, res = G.bootstrap_lengths(trace, 1000, np.random.default_rng(0), max_total=4096)
    assert set(zip(req, res)) == {(10, 5)}  # failed and too-long pairs excluded


def test_bad_inputs():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        G.gamma_arrivals(0, 1, 10, rng)
    with pytest.raises(ValueError):
        G.zipf_lengths(3, rng, exponent=1.0)
    with pytest.raises(ValueError, match="sorted"):
        G.Workload("w", np.array([2.0, 1.0]), np.array([1, 1]), np.array([1, 1]))


def test_workloads_at_equal_rate_share_their_lengths():
    """Only the arrivals differ between Poisson and Gamma: the i-th request has the same lengths."""
    import pandas as pd

    from reprobook.burstgpt.experiment import arrival_workloads

    rng = np.random.default_rng(0)
    trace = pd.DataFrame({"time": np.sort(rng.uniform(0, 600, 500)),
                          "request_tokens": rng.integers(1, 3000, 500),
                          "response_tokens": rng.integers(1, 500, 500)})
    trace["failed"] = False
    ws = arrival_workloads(trace, 2.0, 300.0, [0.25, 0.1], seed=3, max_total=4096,
                           replay_trace=False)
    assert [w.name for w in ws] == ["Poisson", "Gamma k=0.25", "Gamma k=0.1"]
    n = min(w.n for w in ws)
    for w in ws[1:]:
        assert not np.array_equal(w.arrivals[:n], ws[0].arrivals[:n])
        assert np.array_equal(w.request_tokens[:n], ws[0].request_tokens[:n])
        assert np.array_equal(w.response_tokens[:n], ws[0].response_tokens[:n])
    assert all((w.request_tokens + w.response_tokens <= 4096).all() for w in ws)
