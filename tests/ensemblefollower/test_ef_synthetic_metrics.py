"""The synthetic population, the metrics, and the claims' nulls."""

import numpy as np
import pandas as pd
import pytest

from reprobook.core import claims as core_claims
from reprobook.ensemblefollower import claims, metrics
from reprobook.ensemblefollower.constants import HISTORY, J_MAX
from reprobook.ensemblefollower.simulate import Batch, Rollout
from reprobook.ensemblefollower.synthetic import Population, population


def test_population_is_valid_labelled_and_seeded():
    a, dropped = population(Population(drivers=3), seed=5)
    b, _ = population(Population(drivers=3), seed=5)
    c, _ = population(Population(drivers=3), seed=6)
    assert a and all(e.synthetic and e.regime is not None for e in a)
    assert all(e.run.startswith("synthetic") for e in a)
    assert np.array_equal(a[0].s, b[0].s) and not np.array_equal(a[0].s, c[0].s)
    both = np.concatenate([e.regime for e in a])
    assert 0 < both.mean() < 1  # both regimes occur
    assert dropped >= 0


def test_metrics_count_collisions_negative_gaps_jerk_and_ttc(simple_events):
    batch = Batch.from_events(simple_events)
    s = batch.s.copy()
    s[0, 50:55] = -1.0  # event 0 collides for five samples
    a = batch.a.copy()
    a[1, 30] += 1.0  # a jerk spike of +-10 m/s^3 in event 1
    ro = Rollout(batch=batch, s=s, v=batch.v, x=batch.x, a=a, k0=HISTORY - 1)
    pe = metrics.per_event(ro, "m")
    assert pe["collision"].tolist() == [True, False, False]
    assert pe["negative_gap_samples"].tolist() == [5, 0, 0]
    assert pe.loc[1, "jerk_over_share"] == pytest.approx(2 / (len(simple_events[1]) - HISTORY))
    assert pe.loc[0, "ttc_low_share"] >= 5 / pe.loc[0, "samples"]
    summ = metrics.summarise(pe)
    assert summ["collision_events"] == 1 and summ["collision_per_mille"] == pytest.approx(1000 / 3)
    assert np.abs(metrics.jerk_values(ro)).max() > J_MAX


def test_oracle_picks_the_best_method_per_event():
    t1 = pd.DataFrame({"method": "a", "event": ["x", "y"], "spacing_mse": [1.0, 4.0]})
    t2 = pd.DataFrame({"method": "b", "event": ["x", "y"], "spacing_mse": [2.0, 3.0]})
    o = metrics.oracle([t1, t2])
    assert o["chosen"].tolist() == ["a", "b"] and o["spacing_mse"].tolist() == [1.0, 3.0]


class FakeRun:
    """Records claims the way ``core.session.Run`` does (judging the null too)."""

    def __init__(self):
        self.rows = []

    def claim(self, **kw):
        self.rows.append(core_claims.evaluate(chapter="t", profile="t", **kw))
        return self.rows[-1]

    def sanity(self, **kw):
        self.rows.append(core_claims.check(chapter="t", profile="t", **kw))
        return self.rows[-1]


def test_claims_judge_measurements_and_reject_their_nulls():
    run = FakeRun()
    single = {"IDM (calibrated)": 5.0, "Gipps (calibrated)": 4.7, "MLP": 5.2}
    nulls = {"uniform weights": 4.9, "random selection": 4.8}
    claims.record_accuracy(run, {"weight": [4.0, 4.1, 4.05], "select": [4.8, 4.9, 4.75]},
                           single, nulls, oracle=3.5)
    v = {c.id: c.verdict for c in run.rows}
    assert v["more-human-like-weight"] == "reproduced"
    assert v["more-human-like-select"] == "not reproduced"
    assert v["combines-effectively-weight"] == "reproduced"  # closes ~61% of 4.9 -> 3.5
    assert v["combines-effectively-select"] == "not reproduced"
    claims.record_safety(run, 0, 100, blind=0, data_driven={"MLP": 0, "LSTM": 0})
    claims.record_safety(run, 2, 100, blind=40, data_driven={"MLP": 1, "LSTM": 0})
    got = {c.id: c.verdict for c in run.rows}
    assert got["no-collisions"] == "not reproduced" and got["data-driven-collide"] == "reproduced"
    # an agent better than every single model only because averaging is: the second row says so
    claims.record_holdout(run, [4.0, 4.02, 3.98], single, "r", uniform=3.99)
    got = {c.id: c.verdict for c in run.rows}
    assert got["holdout-run"] == "reproduced" and got["holdout-run-learned"] == "not reproduced"
    assert all(c.null_verdict in ("not reproduced", "not testable at this profile")
               for c in run.rows)
    assert core_claims.verify(run.rows) == []


def test_jerk_gain_is_zero_without_effect_and_positive_when_the_bound_helps():
    rng = np.random.default_rng(0)
    human = np.abs(rng.normal(0, 0.3, 2000))
    wild = np.abs(rng.normal(0, 5.0, 2000))
    assert claims.jerk_gain(human, wild, wild) == 0.0
    assert claims.jerk_gain(human, np.minimum(wild, 0.5), wild) > 0
