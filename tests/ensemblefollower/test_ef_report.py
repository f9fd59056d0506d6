"""Analysis and report tables: per-situation errors pool back to the overall RMSE, usage shares,
training-curve bins, collision tables; the experiment's data errors; the real OpenACC runs."""

import numpy as np
import pandas as pd
import pytest

from reprobook.core.errors import DataUnavailable
from reprobook.ensemblefollower import analysis, experiment as ex, metrics, report
from reprobook.ensemblefollower.models import IDM, Gipps
from reprobook.ensemblefollower.simulate import Batch, ModelController, replay, simulate
from reprobook.ensemblefollower.synthetic import Population, population


def _rollouts(events):
    b = Batch.from_events(events)
    return {"IDM": simulate(b, ModelController(IDM(v0=20.0))),
            "Gipps": simulate(b, ModelController(Gipps(V=20.0))), "replay": replay(b)}


@pytest.mark.parametrize("by", ["speed band", "phase"])
def test_situation_bins_cover_every_sample_and_pool_to_the_overall_rmse(simple_events, by):
    rolls = _rollouts(simple_events)
    table = analysis.errors_by_situation(rolls, by)
    n = rolls["IDM"].mask.sum()
    assert table["samples"].sum() == n
    for name in ("IDM", "Gipps"):
        pooled = np.sqrt((table[name] ** 2 * table["samples"]).sum() / n)
        expect = metrics.summarise(metrics.per_event(rolls[name]))["spacing_rmse"]
        assert pooled == pytest.approx(expect, rel=1e-9)
    assert np.allclose(table["replay"], 0.0, atol=1e-9)


def test_regime_bins_on_the_synthetic_population():
    ev, _ = population(Population(drivers=2), seed=1)
    b = Batch.from_events(ev)
    table = analysis.errors_by_situation({"IDM": simulate(b, ModelController(IDM()))}, "regime",
                                         regimes=ev)
    assert set(table.index) <= {"approach (Gipps-like)", "following (IDM-like)"}
    assert table["samples"].sum() == b.eval_mask().sum()


def test_choice_shares_curve_bins_and_worst_event():
    sel = analysis.choice_shares(np.array([[0, 0, 1], [2, 0, 1]]), ["a", "b", "c"], "select")
    assert sel.tolist() == pytest.approx([0.5, 1 / 3, 1 / 6])
    w = np.array([[[0.2, 0.8], [0.4, 0.6]]])
    assert analysis.choice_shares(w, ["a", "b"], "weight").tolist() == pytest.approx([0.3, 0.7])
    curve = pd.DataFrame({"timesteps": [10, 40, 60, 95], "spacing_rmse": [4.0, 2.0, 3.0, 1.0]})
    cb = analysis.curve_bins(curve, 100, bins=2)
    assert cb["timesteps"].tolist() == [25.0, 75.0]
    assert cb["spacing_rmse"].tolist() == [3.0, 2.0]
    # relative to a reference on the same event: an agent equal to the reference reads 0
    curve["event"] = ["a", "b", "a", "b"]
    rel = analysis.curve_bins(curve, 100, bins=2, reference={"a": 4.0, "b": 2.0})
    assert rel["spacing_rmse"].tolist() == [0.0, -1.0]
    pe = pd.DataFrame({"event": ["x", "y", "z"], "spacing_rmse": [1.0, 5.0, 2.0]})
    assert analysis.worst_event(pe) == "y"


def _pe(method, rmse_by_event, seed=None, collide=()):
    ev = [f"e{i}" for i in range(len(rmse_by_event))]
    r = np.asarray(rmse_by_event, float)
    df = pd.DataFrame({"method": method, "event": ev, "samples": 10, "spacing_sse": 10 * r ** 2,
                       "spacing_mse": r ** 2, "spacing_rmse": r, "speed_rmse": 0.5,
                       "collision": [e in collide for e in ev],
                       "negative_gap_samples": [3 if e in collide else 0 for e in ev],
                       "min_gap": [-0.5 if e in collide else 2.0 for e in ev],
                       "mean_abs_jerk": 0.3, "jerk_over_share": 0.0, "ttc_low_share": 0.1})
    return df if seed is None else df.assign(seed=seed)


def test_summary_tables_mean_and_std_over_seeds():
    rl = pd.concat([_pe("rl", [1.0, 1.0], seed=0), _pe("rl", [3.0, 3.0], seed=1,
                                                         collide=("e1",))])
    tables = {"IDM (calibrated)": _pe("IDM", [1.5, 1.5]), "rl": rl}
    summ = ex.summary_table(tables).set_index("method")
    assert summ.loc["rl", "spacing_rmse"] == pytest.approx(2.0)
    assert summ.loc["rl", "spacing_rmse_std"] == pytest.approx(np.sqrt(2.0))
    assert summ.loc["IDM (calibrated)", "seeds"] == 1
    assert report.rmse_per_seed(tables, "rl") == pytest.approx([1.0, 3.0])
    assert report.headline(summ.reset_index()).splitlines()[1].startswith("IDM (calibrated)")
    coll = report.collision_table(tables).set_index("method")
    assert coll.loc["rl", "events with a collision"] == 1
    assert coll.loc["rl", "negative-gap samples"] == 3 and coll.loc["rl", "event-runs"] == 4
    detail = report.collided_events(tables)
    assert detail[["method", "seed", "event"]].values.tolist() == [["rl", "1", "e1"]]
    human = metrics.summarise(_pe("human", [0.0, 0.0]))
    acc = report.accuracy_summary(tables, human)
    assert acc["method"].iloc[-1] == "human (observed)"
    shown = dict(zip(acc["method"], acc["spacing RMSE [m]"]))
    assert shown["rl"] == "2.000 ± 1.414" and shown["IDM (calibrated)"] == "1.500"


def test_experiment_rejects_unknown_or_incomplete_data_choices():
    with pytest.raises(ValueError, match="needs highd_dir"):
        ex.load_events(ex.Config(dataset="highd"))
    with pytest.raises(ValueError, match="is not 'openacc', 'highd' or 'synthetic'"):
        ex.load_events(ex.Config(dataset="ngsim"))
    ev, counts, label = ex.load_events(ex.Config(dataset="synthetic", synthetic_drivers=3,
                                                 max_events=5))
    assert len(ev) == 5 and "synthetic" in label and counts["events"].iloc[0] >= 5


def test_the_real_openacc_runs_through_the_data_layer():
    try:
        ev, counts, label = ex.load_events(ex.Config())
    except DataUnavailable as exc:
        pytest.skip(f"OpenACC not available here (set REPROBOOK_DATA_MIRROR): {exc}")
    assert {e.run for e in ev} == {"handling_part22", "handling_part26", "handling_part35",
                                   "handling_part40"}
    assert len({(e.run, e.pair) for e in ev}) == 24
    assert all(e.duration >= 15.0 - 0.1 - 1e-9 and not e.synthetic for e in ev)
    assert counts["events"].sum() == len(ev)
    sp = ex.split(ex.Config(), ev)
    assert sum(len(v) for v in sp.values()) == len(ev)
    assert not ({e.id for e in sp["train"]} & {e.id for e in sp["test"]})
