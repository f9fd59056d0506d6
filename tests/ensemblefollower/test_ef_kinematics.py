"""The jerk-constrained kinematic model: bounds, non-negative speed, exact replay of the data."""

import numpy as np
import pytest

from reprobook.ensemblefollower.constants import DT
from reprobook.ensemblefollower.kinematics import Limits, advance, bound_accel, step
from reprobook.ensemblefollower.simulate import Batch, replay


def test_random_commands_never_break_the_bounds():
    lim = Limits(a_min=-6.0, a_max=2.5, j_max=2.0)
    rng = np.random.default_rng(0)
    x, v, a = np.zeros(64), rng.uniform(0, 20, 64), np.zeros(64)
    for _ in range(500):
        cmd = rng.normal(0, 20, 64)  # wild commands, far outside every bound
        a_cmd = bound_accel(cmd, a, lim)
        moving = v + a_cmd * DT > 0
        x2, v2, a2 = step(x, v, a, cmd, lim)
        assert np.all(v2 >= 0.0)
        assert np.all(a2 >= lim.a_min - 1e-12) and np.all(a2 <= lim.a_max + 1e-12)
        jerk = np.abs(a2 - a)[moving] / DT
        assert np.all(jerk <= lim.j_max + 1e-9)
        assert np.all(x2 >= x - 1e-12)  # never backwards
        x, v, a = x2, v2, a2


def test_without_jerk_bound_only_the_range_applies():
    lim = Limits(a_min=-6.0, a_max=2.5, jerk=False)
    assert bound_accel(2.4, -5.0, lim) == pytest.approx(2.4)
    assert bound_accel(9.0, 0.0, lim) == pytest.approx(2.5)
    assert bound_accel(9.0, 0.0, Limits(a_max=2.5, j_max=3.0)) == pytest.approx(0.3)


def test_stop_holds_speed_at_zero_and_position_is_trapezoid():
    x, v, a = advance(0.0, 0.5, -8.0)
    assert v == 0.0 and a == pytest.approx(-5.0)
    assert x == pytest.approx(0.5 * DT / 2)


def test_invalid_limits_raise():
    with pytest.raises(ValueError):
        Limits(a_min=1.0)


def test_replaying_observed_acceleration_reproduces_the_trajectory(simple_events):
    batch = Batch.from_events(simple_events)
    ro = replay(batch)
    m = ro.mask
    assert np.abs(ro.s - batch.s)[m].max() < 1e-9
    assert np.abs(ro.v - batch.v)[m].max() < 1e-9


def test_replay_with_the_chapters_bounds_also_reproduces_smooth_data(simple_events):
    # these followers stay well inside the jerk and acceleration bounds
    batch = Batch.from_events(simple_events)
    ro = replay(batch, Limits())
    assert np.abs(ro.s - batch.s)[ro.mask].max() < 1e-9
