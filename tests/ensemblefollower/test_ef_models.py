"""IDM and Gipps against values computed by hand; the NumPy MLP against its torch original."""

import math

import numpy as np
import pytest
import torch

from reprobook.ensemblefollower.learned import MLPNet, Trained, to_numpy_mlp
from reprobook.ensemblefollower.models import IDM, Gipps, features


def test_idm_hand_value():
    # s* = 2 + 10*1.5 + 10*2 / (2 sqrt(1*1.5)) = 25.16496580927726
    # a  = 1 - (10/30)^4 - (25.16496580927726/20)^2 = -0.5955344394675795
    m = IDM(a_max=1.0, b=1.5, v0=30.0, T=1.5, s0=2.0)
    assert m.accel(20.0, 10.0, 8.0) == pytest.approx(-0.5955344394675795, abs=1e-12)


def test_idm_free_road_and_standstill():
    m = IDM(a_max=1.2, b=1.5, v0=30.0, T=1.5, s0=2.0)
    # far away and standing: full acceleration a_max (interaction term (2/1e6)^2 ~ 0)
    assert m.accel(1e6, 0.0, 0.0) == pytest.approx(1.2, rel=1e-9)
    # at the desired speed with an infinite gap: zero acceleration
    assert m.free_road(1e6, 30.0, 30.0) == pytest.approx(0.0, abs=1e-12)
    # the brief's s* has no floor; Treiber-Kesting's floor changes a fast-leader case only
    fast = IDM(s_star_floor=True).accel(20.0, 10.0, 25.0)
    plain = IDM().accel(20.0, 10.0, 25.0)
    assert fast > plain


def test_gipps_braking_branch_hand_value():
    # v_acc = 10 + 2.5*2*1*(2/3)*sqrt(0.025 + 1/3) = 11.9953649995...
    # disc = 9 + 3*(2*18 - 10 + 64/3) = 151 ; v_dec = -3 + sqrt(151) -> a = sqrt(151) - 13
    m = Gipps(a=2.0, b=-3.0, V=30.0, tau=1.0, s0=2.0)
    assert m.accel(20.0, 10.0, 8.0) == pytest.approx(math.sqrt(151) - 13, abs=1e-12)
    assert m.accel(20.0, 10.0, 8.0) == pytest.approx(-0.7117942725554924, abs=1e-12)


def test_gipps_free_branch_and_emergency():
    m = Gipps(a=2.0, b=-3.0, V=30.0, tau=1.0, s0=2.0)
    assert m.accel(60.0, 10.0, 8.0) == pytest.approx(1.9953649995631079, abs=1e-12)
    # no safe speed exists (disc = 9 - 36 < 0): stop within one reaction time
    assert m.accel(1.0, 10.0, 0.0) == pytest.approx(-10.0)


def test_models_broadcast_over_candidates_and_events():
    m = IDM(a_max=np.array([[1.0], [2.0]]))
    out = m.accel(np.full((2, 5), 20.0), np.full((2, 5), 10.0), np.full(5, 8.0))
    assert out.shape == (2, 5)
    assert np.allclose(out[0], IDM(a_max=1.0).accel(20.0, 10.0, 8.0))


def test_numpy_mlp_matches_torch():
    torch.manual_seed(0)
    net = MLPNet(8)
    mlp = to_numpy_mlp(Trained("MLP", net, 0.0, 0.0, {"hidden": 8}))
    s, v, vl = np.array([10.0, 25.0]), np.array([5.0, 14.0]), np.array([6.0, 12.0])
    x = torch.from_numpy(features(s, v, vl).astype(np.float32))[:, None, :]
    with torch.no_grad():
        ref = net(x).numpy() * 3.0
    assert np.allclose(mlp.accel(s, v, vl), ref, atol=1e-5)
    assert isinstance(mlp.accel(10.0, 5.0, 6.0), float)
