"""The stable-baselines3 runs: a short real training, closed-loop evaluation with and without the
jerk bound, configuration errors; the learned models (Lightning) on a known answer."""

import numpy as np
import pytest

from reprobook.ensemblefollower import agents, learned, mdp
from reprobook.ensemblefollower.constants import A_SCALE, HISTORY, J_MAX
from reprobook.ensemblefollower.kinematics import Limits
from reprobook.ensemblefollower.models import IDM, Gipps
from reprobook.ensemblefollower.simulate import Batch, simulate

from .conftest import idm_events

LOWS = (IDM(a_max=1.2, b=1.5, v0=20.0, T=1.2, s0=2.0), Gipps(a=1.5, b=-2.0, V=20.0, tau=0.8))
TINY = dict(steps=512, n_envs=2, n_steps=64, batch_size=64, n_epochs=1, net=(8,))


@pytest.mark.parametrize("algo,mode", [("PPO", "select"), ("PPO", "weight"), ("PPO", "accel")])
def test_short_run_trains_and_evaluates_every_test_event(simple_events, algo, mode):
    cfg = agents.AgentConfig(algo, mode, **TINY)
    job = agents.Job(config=cfg, seed=3, train=tuple(simple_events[:2]),
                     test=tuple(simple_events), lows=LOWS)
    res = agents._run_job(job)
    assert res.label == cfg.label and res.seed == 3
    assert list(res.per_event["event"]) == [e.id for e in simple_events]
    assert (res.per_event["seed"] == 3).all()
    assert len(res.curve) > 0 and (res.curve["timesteps"] <= cfg.steps).all()
    # the jerk bound holds on the bounded rollout (followers in these events never stop)
    assert res.jerk.max() <= J_MAX + 1e-9
    assert res.jerk_nojerk.size == res.jerk.size
    key = {"select": "selected", "weight": "weights", "accel": "action"}[mode]
    acts = res.rollout[key]
    assert acts.shape[:2] == (len(simple_events), Batch.from_events(simple_events).shape[1]
                              - HISTORY)
    if mode == "select":
        assert set(np.unique(acts)) <= {0, 1}
    if mode == "weight":
        assert np.allclose(acts.sum(-1), 1.0)


def test_training_is_reproducible_from_the_seed(simple_events):
    cfg = agents.AgentConfig("PPO", "weight", **TINY)
    job = agents.Job(config=cfg, seed=1, train=tuple(simple_events), test=tuple(simple_events),
                     lows=LOWS)
    a, b = agents._run_job(job), agents._run_job(job)
    assert np.array_equal(a.per_event["spacing_rmse"], b.per_event["spacing_rmse"])


def test_configuration_errors_are_named(simple_events):
    job = agents.Job(config=agents.AgentConfig("DQN", "weight", **TINY), seed=0,
                     train=tuple(simple_events), test=tuple(simple_events), lows=LOWS)
    with pytest.raises(ValueError, match="DQN needs the discrete selection mode"):
        agents.train_agent(job)
    with pytest.raises(ValueError, match="unknown algorithm"):
        agents.train_agent(agents.Job(config=agents.AgentConfig("SAC", "select", **TINY),
                                      seed=0, train=tuple(simple_events),
                                      test=tuple(simple_events), lows=LOWS))
    with pytest.raises(ValueError, match="is not one of"):
        mdp.action_space("steer", 2)


def test_jobs_for_pairs_every_config_with_every_seed(simple_events):
    sp = {"train": simple_events[:2], "test": simple_events[2:]}
    cfgs = [agents.AgentConfig("PPO", "select"), agents.AgentConfig("PPO", "weight")]
    jobs = agents.jobs_for(cfgs, [0, 1, 2], sp, LOWS, tag="x")
    assert [(j.config.mode, j.seed) for j in jobs] == [(m, s) for m in ("select", "weight")
                                                       for s in (0, 1, 2)]
    assert all(j.test == tuple(simple_events[2:]) and j.lim == Limits() for j in jobs)


def test_samples_align_the_window_with_the_next_step_acceleration(simple_events):
    x, y = learned.samples(simple_events[:1])
    e = simple_events[0]
    assert x.shape == (len(e) - HISTORY, HISTORY, 3)
    # the last sample of the first window is t = HISTORY - 1; its target a_t = (v_{t+1}-v_t)/dt
    assert x[0, -1, 0] == pytest.approx(e.s[HISTORY - 1] / 20.0)
    assert y[0] == pytest.approx(e.a[HISTORY - 1] / A_SCALE, rel=1e-5)


def test_mlp_learns_an_idm_driver_and_the_lstm_runs_in_closed_loop(simple_events):
    with pytest.raises(ValueError, match="unknown learned model"):
        learned.train("GRU", simple_events, simple_events, seed=0)
    drivers = idm_events(IDM(a_max=1.5, b=2.0, v0=25.0, T=1.2, s0=2.0), 4, 30.0, seed=2)
    mlp = learned.train("MLP", drivers[:3], drivers[3:], seed=0, epochs=40, lr=1e-2,
                        batch_size=64)
    _, y = learned.samples(drivers[3:])
    assert mlp.val_mse < 0.2 * float(np.var(y))  # far better than predicting the mean
    lstm = learned.train("LSTM", simple_events, simple_events, seed=0, epochs=1, hidden=4)
    ro = simulate(Batch.from_events(simple_events), learned.NetController(lstm.net, "LSTM"))
    n = len(learned.samples(simple_events)[1])
    assert np.isfinite(ro.s).all() and lstm.meta["samples"] == n
