"""Closed-loop calibration recovers the parameters of a known IDM from data it generated."""

import numpy as np
import pytest

from reprobook.ensemblefollower.calibration import calibrate, closed_loop_mse
from reprobook.ensemblefollower.models import IDM
from reprobook.ensemblefollower.simulate import Batch

from .conftest import idm_events


def test_generated_events_are_reproduced_exactly_by_their_model():
    true = IDM(a_max=1.4, b=2.0, v0=24.0, T=1.3, s0=2.5)
    events = idm_events(true, 4, 30.0, seed=1)
    assert closed_loop_mse(true, Batch.from_events(events))[0] < 1e-18


def test_calibration_recovers_known_idm_parameters():
    true = IDM(a_max=1.4, b=2.0, v0=24.0, T=1.3, s0=2.5)
    events = idm_events(true, 8, 40.0, seed=2)
    cal = calibrate("IDM", events, seed=0, popsize=12, maxiter=60, tol=1e-8)
    got = cal.model.params()
    assert cal.mse < 0.05  # m^2: the generating model reproduces these events exactly
    for k in ("a_max", "T", "s0"):
        assert got[k] == pytest.approx(getattr(true, k), rel=0.1), k
    for k in ("b", "v0"):  # weaker identified by spacing alone
        assert got[k] == pytest.approx(getattr(true, k), rel=0.25), k
    assert np.all(np.diff(cal.history) <= 1e-12)  # the best value never gets worse


def test_unknown_model_is_rejected(simple_events):
    with pytest.raises(ValueError, match="unknown model"):
        calibrate("OVM", simple_events, seed=0)
