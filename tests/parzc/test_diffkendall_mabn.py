"""DiffKendall, the Bayesian layers and the MABN predictor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from reprobook.parzc.diffkendall import diff_kendall, kendall_tau
from reprobook.parzc.mabn import MABN, BayesianLinear, MABNConfig, mc_predict


def _pair(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(n, generator=g, dtype=torch.float64)
    y = 0.6 * p + torch.randn(n, generator=g, dtype=torch.float64)
    return p, y


def test_diffkendall_tends_to_scipys_kendall_tau():
    p, y = _pair()
    tau = kendalltau(p.numpy(), y.numpy())[0]
    assert math.isclose(kendall_tau(p, y), tau, abs_tol=1e-12)
    errs = [abs(float(diff_kendall(p, y, a=a)) - tau) for a in (0.5, 5.0, 50.0, 5000.0)]
    assert all(e2 < e1 for e1, e2 in zip(errs, errs[1:]))
    assert errs[-1] < 1e-3


def test_diffkendall_range_and_antisymmetry():
    for seed in range(5):
        p, y = _pair(seed=seed)
        for a in (0.1, 1.0, 100.0):
            v = float(diff_kendall(p, y, a=a))
            assert -1.0 <= v <= 1.0
            assert math.isclose(float(diff_kendall(-p, y, a=a)), -v, abs_tol=1e-12)
            assert math.isclose(float(diff_kendall(y, p, a=a)), v, abs_tol=1e-12)
    same = torch.arange(10.0)
    assert float(diff_kendall(same, same, a=1e4)) == pytest.approx(1.0)


def test_code_form_is_twice_the_paper_form_at_half_the_slope():
    p, y = _pair()
    code = float(diff_kendall(p, y, a=0.5, form="code"))
    assert code == pytest.approx(2 * float(diff_kendall(p, y, a=0.25, form="paper")), rel=1e-12)
    with pytest.raises(ValueError, match="form"):
        diff_kendall(p, y, form="sigmoid")
    with pytest.raises(ValueError, match="1-D"):
        diff_kendall(p[:, None], y)


def test_kl_is_nonnegative_and_zero_at_the_prior():
    torch.manual_seed(0)
    layer = BayesianLinear(6, 3)
    assert float(layer.kl(1.0).detach()) >= 0.0
    sp = 0.3
    with torch.no_grad():
        layer.mu.zero_()
        layer.rho.fill_(math.log(math.expm1(sp)))  # softplus(rho) = sp
    assert abs(float(layer.kl(sp).detach())) < 1e-9
    assert float(layer.kl(1.0).detach()) > 0.0
    assert float(layer.sigma.mean().detach()) == pytest.approx(sp)


def test_bayesian_layer_initial_sigma_and_sampling():
    torch.manual_seed(0)
    layer = BayesianLinear(4, 2)
    assert float(layer.sigma.max().detach()) == pytest.approx(math.log1p(math.exp(-5.0)), rel=1e-6)
    x = torch.randn(3, 4)
    assert not torch.equal(layer(x), layer(x))  # eps is redrawn every pass
    layer.sample = False
    assert torch.equal(layer(x), x @ layer.mu.T)


def test_permuting_tokens_changes_only_the_true_token_mixing_model():
    torch.manual_seed(0)
    tokens = torch.randn(2, 16, 32)
    perm = torch.randperm(16)
    for mixing, changes in (("true", True), ("code", False)):
        torch.manual_seed(0)
        m = MABN(MABNConfig(in_dim=12, dim=32, depth=2, mixing=mixing, bayesian=False)).eval()
        with torch.no_grad():
            a, b = m.from_tokens(tokens), m.from_tokens(tokens[:, perm])
        assert (not torch.allclose(a, b, atol=1e-6)) == changes, mixing


def test_mc_prediction_spread_and_shapes():
    torch.manual_seed(0)
    z = torch.rand(7, 30)
    bayes = MABN(MABNConfig(in_dim=30, dim=16, depth=1))
    with torch.no_grad():
        for layer in bayes.bayesian_layers():
            layer.rho.fill_(-1.0)
    mean, std = mc_predict(bayes, z, samples=8, seed=3)
    assert mean.shape == (7,) and std.shape == (7,) and bool((std > 0).all())
    again = mc_predict(bayes, z, samples=8, seed=3)
    assert torch.equal(mean, again[0])  # seeded
    det = MABN(MABNConfig(in_dim=30, dim=16, depth=1, bayesian=False))
    assert not det.bayesian_layers()
    assert float(mc_predict(det, z)[1].abs().max()) == 0.0
    with pytest.raises(ValueError, match="token mixing"):
        MABNConfig(in_dim=3, mixing="spatial")


def test_training_on_a_synthetic_linear_target_ranks_well():
    from reprobook.parzc import training

    rng = np.random.default_rng(0)
    z = rng.random((260, 24))
    y = z @ rng.normal(size=24)
    fitted = training.fit(z[:160], y[:160], MABNConfig(in_dim=24, dim=32, depth=1),
                          training.TrainConfig(epochs=25, lr=1e-3, mc_samples=4), seed=0)
    pred, _ = fitted.predict(z[160:])
    assert kendalltau(pred, y[160:])[0] > 0.8
    assert fitted.module.losses[-1] < fitted.module.losses[0]
    with pytest.raises(ValueError, match="unknown loss"):
        training.TrainConfig(loss="hinge")


def test_gpu_smoke_checks_run_tiny_on_the_cpu():
    from reprobook.parzc import gpu_smoke

    for check in gpu_smoke.CHECKS:
        out = check("cpu", True)
        assert out and all(isinstance(v, (int, float)) for v in out.values())
