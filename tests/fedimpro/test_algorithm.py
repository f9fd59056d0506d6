"""Unit tests of FedImpro's building blocks (the brief's list)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reprobook.fedimpro import features as fe
from reprobook.fedimpro import metrics, model as mo, partition as pa
from reprobook.fedimpro.federation import weighted_average
from reprobook.fedimpro.methods import ImproConfig, code_fake_weight, fedimpro_loss


# ---- partition ---------------------------------------------------------------------------------

def labels(n_per_class: int = 100, n_classes: int = 10) -> np.ndarray:
    return np.repeat(np.arange(n_classes), n_per_class)


def test_partition_disjoint_covering_min_size_and_seeded():
    y = labels()
    parts = pa.dirichlet_partition(y, 10, 0.1, seed=3)
    allidx = np.concatenate(parts)
    assert len(allidx) == len(y) and len(np.unique(allidx)) == len(y)  # disjoint and covering
    assert min(len(p) for p in parts) >= 10
    again = pa.dirichlet_partition(y, 10, 0.1, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    other = pa.dirichlet_partition(y, 10, 0.1, seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other))


def test_label_entropy_falls_with_concentration():
    y = labels(200)
    ent = {a: np.mean([pa.mean_label_entropy(pa.label_histogram(y, pa.dirichlet_partition(
        y, 10, a, seed=s), 10)) for s in range(5)]) for a in (0.05, 0.5, 100.0)}
    assert ent[0.05] < ent[0.5] < ent[100.0]
    assert ent[100.0] > 0.95 * np.log(10)  # near-uniform labels per client


@pytest.mark.parametrize("kwargs, match", [
    ({"n_clients": 10, "alpha": 0.0}, "concentration a must be > 0"),
    ({"n_clients": 10, "alpha": -1.0}, "concentration a must be > 0"),
    ({"n_clients": 2000, "alpha": 0.5}, "more clients"),
    ({"n_clients": 200, "alpha": 0.5}, "samples needed"),
])
def test_partition_rejects_bad_requests(kwargs, match):
    with pytest.raises(pa.PartitionError, match=match):
        pa.dirichlet_partition(labels(), seed=0, **kwargs)


# ---- aggregation ---------------------------------------------------------------------------------

def test_fedavg_is_the_weighted_mean_and_ignores_order():
    g = torch.Generator().manual_seed(0)
    states = [{"w": torch.randn(3, 4, generator=g), "n": torch.tensor(5)} for _ in range(4)]
    weights = [10.0, 30.0, 20.0, 40.0]
    avg = weighted_average(states, weights)
    expect = sum(w * s["w"] for s, w in zip(states, weights)) / sum(weights)
    torch.testing.assert_close(avg["w"], expect)
    perm = [2, 0, 3, 1]
    avg2 = weighted_average([states[i] for i in perm], [weights[i] for i in perm])
    torch.testing.assert_close(avg["w"], avg2["w"], rtol=0, atol=1e-7)


def test_pooled_variance_equals_variance_of_concatenated_data():
    g = torch.Generator().manual_seed(1)
    chunks = [torch.randn(n, 6, generator=g, dtype=torch.float64) * s + m
              for n, s, m in ((50, 1.0, 0.0), (120, 2.0, 3.0), (30, 0.5, -1.0))]
    ups = [fe.FeatureDistribution(c.mean(0, keepdim=True), c.var(0, unbiased=False, keepdim=True))
           for c in chunks]
    pooled = fe.aggregate_distributions(ups, [len(c) for c in chunks], None, pooled=True)
    allx = torch.cat(chunks)
    torch.testing.assert_close(pooled.mu[0], allx.mean(0))
    torch.testing.assert_close(pooled.var[0], allx.var(0, unbiased=False))
    eq7 = fe.aggregate_distributions(ups, [len(c) for c in chunks], None)  # mean of variances only
    assert (eq7.var[0] < pooled.var[0]).all()


def test_eq7_moving_average_and_presence_weights():
    prev = fe.FeatureDistribution(torch.zeros(2, 3), torch.ones(2, 3))
    up = fe.FeatureDistribution(torch.full((2, 3), 4.0), torch.full((2, 3), 3.0),
                                torch.tensor([True, False]))
    out = fe.aggregate_distributions([up], [1.0], prev, momentum=0.75)
    torch.testing.assert_close(out.mu, torch.full((2, 3), 1.0))
    out = fe.aggregate_distributions([up], [1.0], prev, momentum=0.0, presence=True)
    torch.testing.assert_close(out.mu[0], torch.full((3,), 4.0))
    torch.testing.assert_close(out.mu[1], prev.mu[1])  # nobody estimated class 1: unchanged


# ---- estimator and sampler -------------------------------------------------------------------------

def test_estimator_converges_to_true_moments_and_keeps_absent_classes():
    g = torch.Generator().manual_seed(2)
    mu = torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    sd = torch.tensor([[0.5, 1.0, 2.0], [1.5, 0.2, 0.7], [1.0, 1.0, 1.0]])
    init = fe.FeatureDistribution(torch.full((3, 3), 9.0), torch.full((3, 3), 9.0))
    est = fe.FeatureEstimator(init, momentum=0.9)
    for _ in range(400):
        y = torch.randint(0, 2, (256,), generator=g)  # class 2 never appears on this client
        h = mu[y] + sd[y] * torch.randn(256, 3, generator=g)
        est.update(h, y)
    torch.testing.assert_close(est.mu[:2], mu[:2], atol=0.08, rtol=0)
    torch.testing.assert_close(est.var[:2], sd[:2] ** 2, atol=0.15, rtol=0.05)
    assert torch.equal(est.mu[2], init.mu[2]) and torch.equal(est.var[2], init.var[2])
    assert est.seen.tolist() == [True, True, False]


def test_code_compat_estimator_overwrites_with_latest_batch_and_caps_sigma():
    init = fe.FeatureDistribution.empty(2, 2)
    est = fe.FeatureEstimator(init, momentum=0.9, code_compat=True)
    h = torch.tensor([[0.0, 0.0], [2.0, 0.1], [10.0, 10.0]])
    y = torch.tensor([0, 0, 1])
    est.update(h, y)
    torch.testing.assert_close(est.mu[0], torch.tensor([1.0, 0.05]))
    torch.testing.assert_close(est.var[0].sqrt(), torch.tensor([0.1, 0.05]))  # std 1.0 capped at 0.1
    torch.testing.assert_close(est.mu[1], torch.tensor([10.0, 10.0]))
    assert code_fake_weight(1000) == 2.0  # uncapped ramp


def test_sampler_is_class_balanced_detached_with_right_moments():
    g = torch.Generator().manual_seed(3)
    dist = fe.FeatureDistribution(torch.arange(20.0).reshape(5, 4), torch.full((5, 4), 4.0))
    dist.mu.requires_grad_(True)
    h, y = fe.sample_features(dist, 50_000, g)
    assert not h.requires_grad
    counts = torch.bincount(y, minlength=5)
    assert counts.max() - counts.min() <= 1
    for c in range(5):
        torch.testing.assert_close(h[y == c].mean(0), dist.mu[c].detach(), atol=0.05, rtol=0)
        torch.testing.assert_close(h[y == c].var(0), dist.var[c], atol=0.15, rtol=0)


def test_upload_noise_keeps_sigma_nonnegative():
    d = fe.FeatureDistribution(torch.zeros(3, 100), torch.zeros(3, 100))
    noisy = fe.add_upload_noise(d, 0.5, torch.Generator().manual_seed(0))
    assert (noisy.sigma >= 0).all() and not torch.equal(noisy.mu, d.mu)
    with pytest.raises(ValueError, match="sigma_eps"):
        fe.add_upload_noise(d, -0.1, torch.Generator())


# ---- model and loss ----------------------------------------------------------------------------------

@pytest.mark.parametrize("build, shape, split", [
    (lambda s: mo.small_cnn((1, 14, 14), 10, s, 4, 16), (1, 14, 14), 1),
    (lambda s: mo.small_cnn((1, 14, 14), 10, s, 4, 16), (1, 14, 14), 3),
    (lambda s: mo.resnet18_cifar(10, s), (3, 32, 32), 3),
])
def test_high_of_low_equals_the_full_model(build, shape, split):
    torch.manual_seed(0)
    m = build(split).eval()
    x = torch.randn(2, *shape)
    seq = x
    for b in m.blocks:
        seq = b(seq)
    torch.testing.assert_close(m.high(m.low(x)), seq)
    assert m.low(x).shape[1] == m.feature_dim


def test_sampled_feature_loss_sends_no_gradient_to_the_low_level():
    torch.manual_seed(0)
    m = mo.small_cnn((1, 14, 14), 10, 2, 4, 16)
    dist = fe.FeatureDistribution(torch.randn(10, m.feature_dim), torch.rand(10, m.feature_dim))
    x, y = torch.randn(8, 1, 14, 14), torch.randint(0, 10, (8,))
    gen = torch.Generator().manual_seed(0)
    loss, _ = fedimpro_loss(m, x, y, dist, ImproConfig(), 5, gen)
    g_full = torch.autograd.grad(loss, list(m.parameters()))
    real_only = F.cross_entropy(m(x), y)
    g_real = torch.autograd.grad(real_only, list(m.parameters()))
    low = m.low_parameter_names()
    for (n, _), a, b in zip(m.named_parameters(), g_full, g_real):
        if n in low:
            torch.testing.assert_close(a, b)  # the sampled term adds nothing below the split
    assert any(not torch.allclose(a, b) for (n, _), a, b in zip(m.named_parameters(), g_full, g_real)
               if n not in low)


# ---- metrics ---------------------------------------------------------------------------------------

def clients(n_clients=4, n=40, seed=0, same=False):
    g = torch.Generator().manual_seed(seed)
    x0, y0 = torch.randn(n, 1, 14, 14, generator=g), torch.randint(0, 10, (n,), generator=g)
    xs = [x0.clone() if same else torch.randn(n, 1, 14, 14, generator=g) for _ in range(n_clients)]
    ys = [y0.clone() if same else torch.randint(0, 2 * (i + 2), (n,), generator=g) for i in range(n_clients)]
    return xs, ys


def test_gradient_dissimilarity_splits_into_blocks_and_vanishes_for_identical_clients():
    torch.manual_seed(0)
    m = mo.small_cnn((1, 14, 14), 10, 2, 4, 16)
    xs, ys = clients()
    d = metrics.gradient_dissimilarity(m, xs, ys)
    assert d["low"] > 0 and d["high"] > 0
    assert d["low"] + d["high"] == pytest.approx(d["total"], rel=1e-9)
    xs, ys = clients(same=True)
    assert metrics.gradient_dissimilarity(m, xs, ys)["total"] == pytest.approx(0.0, abs=1e-20)


def test_shared_sampled_features_scale_high_level_dissimilarity_by_a_quarter():
    """Thm 4.2's N^2 / (N + N_hat)^2 with N_hat = N: exact when every client draws the same
    sampled features (equal client sizes)."""
    torch.manual_seed(0)
    m = mo.small_cnn((1, 14, 14), 10, 2, 4, 16)
    xs, ys = clients(n=32)
    dist = fe.FeatureDistribution(torch.randn(10, m.feature_dim).abs(), torch.rand(10, m.feature_dim))
    shared = fe.sample_features(dist, 32, torch.Generator().manual_seed(9))
    real = [metrics.client_gradient(m, x, y)[1] for x, y in zip(xs, ys)]
    mixed = [metrics.client_gradient(m, x, y, shared=shared)[1] for x, y in zip(xs, ys)]
    w = [1.0] * len(xs)
    assert metrics.dissimilarity(mixed, w) / metrics.dissimilarity(real, w) == pytest.approx(0.25, rel=1e-6)


def test_weight_divergence_is_zero_for_identical_clients():
    s = {"a": torch.randn(3, 3), "b": torch.randn(4)}
    assert metrics.weight_divergence(s, [s, s, s], ["a", "b"]) == 0.0
    assert all(v == 0.0 for v in metrics.layerwise_divergence(s, [s, s], ["a", "b"]).values())
    t = {"a": s["a"] + 1.0, "b": s["b"]}
    assert metrics.weight_divergence(s, [s, t], ["a", "b"]) == pytest.approx(0.5 * 3.0)


def test_w2_between_diagonal_gaussians_closed_form():
    mu1, mu2 = torch.tensor([0.0, 0.0]), torch.tensor([3.0, 4.0])
    v1, v2 = torch.tensor([1.0, 4.0]), torch.tensor([1.0, 1.0])
    assert float(metrics.w2_diag(mu1, v1, mu1, v1)) == 0.0
    assert float(metrics.w2_diag(mu1, v1, mu2, v2)) == pytest.approx(np.sqrt(25 + 1))


def test_mixture_moments_match_samples():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3000, 2, generator=g, dtype=torch.float64) * 2 + 1
    b = torch.randn(1000, 2, generator=g, dtype=torch.float64) * 0.5 - 3
    m, v = metrics.mix_moments(torch.tensor(3000.0), a.mean(0), a.var(0, unbiased=False),
                               torch.tensor(1000.0), b.mean(0), b.var(0, unbiased=False))
    allx = torch.cat([a, b])
    torch.testing.assert_close(m, allx.mean(0))
    torch.testing.assert_close(v, allx.var(0, unbiased=False))
