"""The gymnasium environment: API conformance, action checks, agreement with the batched
simulator, collision termination."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from reprobook.ensemblefollower import mdp
from reprobook.ensemblefollower.env import CarFollowingEnv
from reprobook.ensemblefollower.models import IDM, Gipps
from reprobook.ensemblefollower.simulate import Batch, EnsembleController, simulate

from .conftest import make_event

LOWS = [IDM(a_max=1.2, b=1.5, v0=20.0, T=1.2, s0=2.0), Gipps(a=1.5, b=-2.0, V=20.0, tau=0.8)]


@pytest.mark.parametrize("mode", ["select", "weight", "accel"])
def test_check_env_passes(simple_events, mode):
    env = CarFollowingEnv(simple_events, LOWS, mode)
    check_env(env, skip_render_check=True)


@pytest.mark.parametrize("mode,bad", [("select", 2), ("select", -1),
                                      ("weight", np.zeros(3, np.float32)),
                                      ("weight", np.full(2, 9.0, np.float32)),
                                      ("accel", np.array([1.5], np.float32))])
def test_action_outside_the_space_raises(simple_events, mode, bad):
    env = CarFollowingEnv(simple_events, LOWS, mode)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(bad)


@pytest.mark.parametrize("mode,policy", [
    ("select", lambda obs: (obs[:, 9] > 0.9).astype(int)),  # state-dependent choice
    ("weight", lambda obs: np.stack([obs[:, 9] * 3, -obs[:, 19]], axis=-1).astype(np.float32)),
])
def test_env_episode_equals_batched_simulation(simple_events, mode, policy):
    ro = simulate(Batch.from_events(simple_events), EnsembleController(policy, LOWS, mode))
    env = CarFollowingEnv(simple_events, LOWS, mode)
    for i in range(len(simple_events)):
        obs, _ = env.reset(options={"event": i})
        gaps, done, ret = [], False, 0.0
        while not done:
            act = policy(obs[None, :])[0]
            obs, r, term, trunc, info = env.step(act)
            gaps.append(env._s[env._t])
            done, ret = term or trunc, ret + r
        k0 = ro.k0
        assert np.allclose(gaps, ro.s[i, k0 + 1:len(simple_events[i])], atol=1e-9)
        assert info["steps"] == len(simple_events[i]) - k0 - 1 and not info["collision"]
        assert -mdp.WORST * info["steps"] <= ret <= 0.0


def test_collision_terminates_with_the_worst_cost_for_every_step_left():
    n = 60
    ev = make_event(np.full(n, 1.2), np.full(n, 10.0), np.full(n, 10.0))  # 1.2 m behind
    # the leader brakes hard from step 10: a follower commanded to keep accelerating collides
    vl = np.concatenate([np.full(10, 10.0), np.maximum(10.0 - 0.8 * np.arange(1, n - 9), 0)])
    ev = make_event(np.full(n, 1.2) + np.concatenate([[0], np.cumsum(vl[1:] - 10.0) * 0.1]),
                    np.full(n, 10.0), vl)
    env = CarFollowingEnv([ev], [], "accel")
    env.reset(seed=0)
    term, steps = False, 0
    while not term:
        _, r, term, trunc, info = env.step(np.array([1.0], np.float32))
        steps += 1
        assert not trunc
    assert info["collision"]
    left = n - 1 - (env.k - 1 + steps)
    assert r == pytest.approx(mdp.collision_penalty(left))
    assert r <= -mdp.WORST * (left + 1) + 1e-9


def test_sequential_reset_walks_through_events(simple_events):
    env = CarFollowingEnv(simple_events, LOWS, "select", sequential=True)
    ids = [env.reset()[1]["event"] for _ in range(4)]
    assert ids == ["ev0", "ev1", "ev2", "ev0"]
