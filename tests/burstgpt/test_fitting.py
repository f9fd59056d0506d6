from __future__ import annotations

import numpy as np
import pytest

from reprobook.burstgpt import analysis, fitting


def test_zipf_mle_recovers_the_exponent():
    rng = np.random.default_rng(0)
    for s in (1.1, 1.5, 2.2):
        x = rng.zipf(s, 100_000)
        x = x[x <= 1024]
        fit = fitting.fit_zipf(x, 1, 1024)
        assert abs(fit.exponent - s) < 0.02



def test_zipf_vs_lognormal_by_likelihood_ratio():
    """powerlaw's comparison favours Zipf on Zipf data and the log-normal on log-normal data."""
    rng = np.random.default_rng(1)
    z = fitting.zipf_vs_lognormal(rng.zipf(1.8, 20_000))
    assert z["R"] > 0 and abs(z["alpha"] - 1.8) < 0.05
    ln = fitting.zipf_vs_lognormal(np.round(rng.lognormal(6, 0.5, 20_000)).astype(int))
    assert ln["R"] < 0 and ln["p"] < 0.01


def test_arrival_model_tests_on_known_data():
    rng = np.random.default_rng(2)
    bursty, poisson = rng.gamma(0.3, 1.0, 3000), rng.exponential(1.0, 3000)
    assert fitting.lr_nested(bursty)["p"] < 1e-6  # Gamma's shape 0.3 is not 1
    assert fitting.lr_nested(poisson)["p"] > 0.01  # shape 1: nothing to gain (seeded)
    assert fitting.gof_pvalue("exponential", bursty, n_mc=49) == 0.02  # the smallest possible
    assert fitting.gof_pvalue("gamma", bursty, n_mc=49) > 0.05
    v = fitting.vuong(bursty)
    assert v["R"] > 0  # Gamma data: Gamma over Weibull
    with np.testing.assert_raises(ValueError):
        fitting.gof_pvalue("pareto", bursty)


def test_gamma_fit_recovers_parameters_and_ranks_first():
    g = np.random.default_rng(2).gamma(0.3, 2.0, 50_000)
    table = fitting.fit_interarrivals(g).set_index("dist")
    assert abs(table.loc["gamma", "shape"] - 0.3) < 0.01
    assert abs(table.loc["gamma", "scale"] - 2.0) / 2.0 < 0.05
    assert table.loc["gamma", "loglik"] > table.loc["exponential", "loglik"]
    assert table.loc["exponential", "shape"] == 1.0


def test_exponential_data_gives_shape_near_one():
    g = np.random.default_rng(3).exponential(0.5, 50_000)
    table = fitting.fit_interarrivals(g).set_index("dist")
    assert abs(table.loc["gamma", "shape"] - 1) < 0.03
    assert abs(table.loc["weibull", "shape"] - 1) < 0.03


def test_zero_gaps_are_counted_and_survive_both_policies():
    rng = np.random.default_rng(4)
    t = np.floor(np.cumsum(rng.gamma(0.25, 0.8, 20_000)))  # integer timestamps: many ties
    pos = fitting.interarrival_gaps(t, "positive")
    jit = fitting.interarrival_gaps(t, "jitter", resolution=1.0, rng=rng)
    assert pos.n_zero == jit.n_zero == int(np.sum(np.diff(t) == 0)) > 1000
    assert np.all(pos.gaps > 0) and np.all(jit.gaps > 0)
    assert jit.gaps.size == t.size - 1  # jitter keeps every request
    for gaps in (pos.gaps, jit.gaps):
        assert np.isfinite(fitting.fit_interarrivals(gaps)["loglik"]).all()
    with pytest.raises(ValueError, match="zero_policy"):
        fitting.interarrival_gaps(t, "drop")
    with pytest.raises(ValueError, match="positive"):
        fitting.fit_interarrivals(np.diff(t))


def test_windowed_gamma_reports_sparse_windows():
    t = np.concatenate([np.random.default_rng(5).uniform(0, 100, 500), [150.0]])
    w = fitting.windowed_gamma(t, 100, min_arrivals=20)
    assert list(w["arrivals"]) == [500, 1]
    assert np.isfinite(w.loc[0, "alpha"]) and np.isnan(w.loc[1, "alpha"])


def test_burstiness_poisson_vs_bursty():
    rng = np.random.default_rng(6)
    poisson = np.cumsum(rng.exponential(0.2, 200_000))
    bursty = np.cumsum(rng.gamma(0.1, 2.0, 20_000))  # same mean gap 0.2
    bp = analysis.burstiness(poisson, (60, 300)).set_index("window_s")
    bb = analysis.burstiness(bursty, (60, 300)).set_index("window_s")
    assert np.allclose(bp["dispersion"], 1.0, atol=0.15)
    assert np.allclose(bp["cv"], bp["cv_poisson"], rtol=0.1)
    assert (bb["dispersion"] > 3).all()


def test_counts_per_window_complete_windows_only():
    c = analysis.counts_per_window(np.array([0.1, 0.2, 1.5, 2.9, 3.5]), 1.0, duration=3.6)
    assert list(c) == [2, 1, 1]


def test_failure_tables_on_known_counts():
    import pandas as pd

    df = pd.DataFrame({"time": [0.0, 10.0, 3700.0, 3800.0], "model": ["ChatGPT"] * 3 + ["GPT-4"],
                       "log_type": ["API"] * 4, "failed": [True, False, False, True]})
    t = analysis.failure_table(df).set_index("model")
    assert t.loc["ChatGPT", "failure_rate"] == pytest.approx(1 / 3) and t.loc["GPT-4", "failures"] == 1
    w = analysis.failures_vs_load(df, 3600)
    assert w["requests"].tolist() == [2, 2] and w["failure_rate"].tolist() == [0.5, 0.5]
