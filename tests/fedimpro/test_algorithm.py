"""Unit tests of FedImpro's building blocks (the brief's list)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reprobook.fedimpro import features as fe
from reprobook.fedimpro import metrics, model as mo, partition as pa
from reprobook.fedimpro.federation import Server, normalized_average, weighted_average
from reprobook.fedimpro.methods import ImproConfig, code_fake_weight, fedimpro_loss, fednova_norm


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


def test_self_balancing_caps_client_sizes_as_the_official_code():
    """A client at >= N/M samples receives none of the next class, so no client ends above
    N/M + the largest class; without the rule some do; and the draw count is reported."""
    y = labels(100)
    cap = len(y) / 10 + 100
    for s in range(10):
        parts, tries = pa.dirichlet_draw(y, 10, 0.05, seed=s, self_balancing=True)
        assert max(len(p) for p in parts) <= cap and tries >= 1
    plain = [max(len(p) for p in pa.dirichlet_partition(y, 10, 0.05, seed=s)) for s in range(10)]
    assert max(plain) > cap


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


def test_fednova_normalised_averaging_by_hand():
    """x <- x - tau_eff sum_i p_i (x - y_i) / tau_i (plain SGD: ||a_i||_1 = tau_i)."""
    x = {"w": torch.tensor([1.0, 2.0]), "bn": torch.tensor([0.0])}
    ys = [{"w": torch.tensor([0.0, 2.0]), "bn": torch.tensor([1.0])},
          {"w": torch.tensor([1.0, -2.0]), "bn": torch.tensor([3.0])}]
    n, tau = [100.0, 300.0], [2, 10]
    out = normalized_average(x, ys, n, tau, ["w"])
    p = [0.25, 0.75]
    tau_eff = 0.25 * 2 + 0.75 * 10  # 8
    d = [(1.0 - 0.0) / 2 * p[0] + (1.0 - 1.0) / 10 * p[1], (2 - 2) / 2 * p[0] + (2 + 2) / 10 * p[1]]
    torch.testing.assert_close(out["w"], torch.tensor([1.0 - tau_eff * d[0], 2.0 - tau_eff * d[1]]))
    torch.testing.assert_close(out["bn"], torch.tensor([0.25 * 1 + 0.75 * 3]))  # buffers: FedAvg
    same = normalized_average(x, ys, n, [5, 5], ["w"])  # equal steps: FedAvg
    torch.testing.assert_close(same["w"], weighted_average(ys, n)["w"])
    assert fednova_norm(4, 0.0) == 4.0
    rho = 0.9
    assert fednova_norm(4, rho) == pytest.approx(sum((1 - rho ** (4 - k)) / (1 - rho) for k in range(4)))
    with pytest.raises(ValueError, match="step counts"):
        normalized_average(x, ys, n, [1], ["w"])


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
    init = fe.FeatureDistribution.unknown(2, 2)
    est = fe.FeatureEstimator(init, momentum=0.9, code_compat=True)
    h = torch.tensor([[0.0, 0.0], [2.0, 0.1], [10.0, 10.0]])
    y = torch.tensor([0, 0, 1])
    est.update(h, y)
    torch.testing.assert_close(est.mu[0], torch.tensor([1.0, 0.05]))
    # unbiased std (sqrt 2, 0.0707): the first is capped at 0.1
    torch.testing.assert_close(est.var[0].sqrt(), torch.tensor([0.1, 0.1 / 2 ** 0.5]))
    torch.testing.assert_close(est.mu[1], torch.tensor([10.0, 10.0]))
    assert code_fake_weight(1000) == 2.0  # uncapped ramp


def test_a_class_without_estimate_starts_from_its_first_batch_not_a_placeholder():
    est = fe.FeatureEstimator(fe.FeatureDistribution.unknown(3, 2), momentum=0.9)
    h = torch.tensor([[1.0, 2.0], [3.0, 2.0], [5.0, 5.0]])
    est.update(h, torch.tensor([0, 0, 1]))
    torch.testing.assert_close(est.mu[0], torch.tensor([2.0, 2.0]))  # not 0.1 x the mean
    torch.testing.assert_close(est.var[0], torch.tensor([2.0, 0.0]))  # unbiased
    est.update(torch.tensor([[4.0, 2.0], [6.0, 2.0]]), torch.tensor([0, 0]))
    torch.testing.assert_close(est.mu[0], torch.tensor([0.9 * 2 + 0.1 * 5, 2.0]))  # then Eq. 6
    assert est.distribution().seen.tolist() == [True, True, False]


def test_singleton_class_gets_the_pooled_within_class_variance_not_zero():
    g = torch.Generator().manual_seed(4)
    h = torch.randn(9, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2])  # class 2 appears once
    count, mean, var = fe.class_moments(h, y, 4)
    assert count.tolist() == [4, 4, 1, 0]
    torch.testing.assert_close(var[0], h[:4].var(0, unbiased=True))
    pooled = (3 * h[:4].var(0) + 3 * h[4:8].var(0)) / 6
    torch.testing.assert_close(var[2], pooled)
    assert (var[2] > 0).all()
    _, _, v = fe.class_moments(h[[0, 4, 8]], torch.tensor([0, 1, 2]), 3)  # all singletons
    torch.testing.assert_close(v[0], h[[0, 4, 8]].var(0, unbiased=True))


def test_round_one_aggregation_uses_only_the_classes_each_client_saw():
    """No shared distribution yet: a class is averaged over the clients that saw it (weights:
    their sample counts), placeholders of the others never enter, a class nobody saw stays
    unknown and is never sampled."""
    a = fe.FeatureDistribution(torch.tensor([[1.0], [2.0], [99.0]]), torch.tensor([[1.0], [1.0], [99.0]]),
                               torch.tensor([True, True, False]))
    b = fe.FeatureDistribution(torch.tensor([[99.0], [5.0], [99.0]]), torch.tensor([[99.0], [4.0], [99.0]]),
                               torch.tensor([False, True, False]))
    g = fe.aggregate_distributions([a, b], [100.0, 300.0], None, momentum=0.5)
    torch.testing.assert_close(g.mu[:2], torch.tensor([[1.0], [0.25 * 2 + 0.75 * 5]]))
    torch.testing.assert_close(g.var[:2], torch.tensor([[1.0], [0.25 * 1 + 0.75 * 4]]))
    assert g.seen.tolist() == [True, True, False]
    _, ys = fe.sample_features(g, 1000, torch.Generator().manual_seed(0))
    assert set(ys.tolist()) == {0, 1}
    # round 2, the paper's Eq. 7: known classes by sample count over every upload (a client that
    # did not see class 0 uploads the broadcast value), a newly seen class by presence
    a2 = fe.FeatureDistribution(torch.tensor([[3.0], [2.0], [7.0]]), torch.ones(3, 1),
                                torch.tensor([True, False, True]))
    b2 = fe.FeatureDistribution(torch.tensor([[1.0], [4.0], [0.0]]), torch.ones(3, 1),
                                torch.tensor([False, True, False]))
    g2 = fe.aggregate_distributions([a2, b2], [100.0, 300.0], g, momentum=0.0)
    torch.testing.assert_close(g2.mu, torch.tensor([[0.25 * 3 + 0.75 * 1], [0.25 * 2 + 0.75 * 4], [7.0]]))
    assert g2.seen.all()


def test_server_round_one_holds_no_placeholder():
    """End to end: two clients that see disjoint classes; after the first aggregation every class
    mean is the mean of real features of clients holding it."""
    from reprobook.fedimpro.federation import FedConfig, run_client

    torch.manual_seed(0)
    m = mo.small_cnn((1, 14, 14), 10, 1, 4, 16)
    cfg = FedConfig(method="fedimpro", rounds=1, batch_size=64, lr=1e-9, weight_decay=0.0)
    server = Server(m, cfg, 2)
    bc = server.broadcast()
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(40, 1, 14, 14, generator=g) for _ in range(2)]
    ys = [torch.tensor([0, 1] * 20), torch.tensor([1, 2] * 20)]
    res = [run_client(m, bc, x, y, cfg, seed=0, client=i, n_classes=10) for i, (x, y) in
           enumerate(zip(xs, ys))]
    server.aggregate(res)
    m.load_state_dict(bc.model)
    with torch.no_grad():
        h = [m.low(x) for x in xs]
    torch.testing.assert_close(server.dist.mu[0], h[0][ys[0] == 0].mean(0), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(server.dist.mu[2], h[1][ys[1] == 2].mean(0), atol=1e-5, rtol=1e-4)
    both = 0.5 * h[0][ys[0] == 1].mean(0) + 0.5 * h[1][ys[1] == 1].mean(0)
    torch.testing.assert_close(server.dist.mu[1], both, atol=1e-5, rtol=1e-4)
    assert server.dist.seen.tolist() == [True, True, True] + [False] * 7


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
    sampled features (equal client sizes), for the mean over N + N_hat features."""
    torch.manual_seed(0)
    m = mo.small_cnn((1, 14, 14), 10, 2, 4, 16)
    xs, ys = clients(n=32)
    dist = fe.FeatureDistribution(torch.randn(10, m.feature_dim).abs(), torch.rand(10, m.feature_dim))
    shared = fe.sample_features(dist, 32, torch.Generator().manual_seed(9))
    real = [metrics.client_gradient(m, x, y, batch_size=8) for x, y in zip(xs, ys)]
    mixed = [metrics.client_gradient(m, x, y, "impro-mean", shared=shared, batch_size=8)
             for x, y in zip(xs, ys)]
    w = [1.0] * len(xs)
    for block in (0, 1):  # low: the sampled features send no gradient there; high: Thm 4.2
        ratio = metrics.dissimilarity([g[block] for g in mixed], w) / metrics.dissimilarity(
            [g[block] for g in real], w)
        assert ratio == pytest.approx(0.25, rel=1e-6)


def test_batched_gradient_equals_the_full_batch_gradient():
    torch.manual_seed(0)
    m = mo.small_cnn((1, 14, 14), 10, 2, 4, 16).double()  # float64: only the batching differs
    x, y = torch.randn(37, 1, 14, 14, dtype=torch.float64), torch.randint(0, 10, (37,))
    full = metrics.client_gradient(m, x, y, batch_size=1000)
    for b in (1, 5, 16):
        for a, c in zip(metrics.client_gradient(m, x, y, batch_size=b), full):
            torch.testing.assert_close(a, c, rtol=1e-9, atol=1e-9)


def test_impro_objective_is_the_gradient_of_the_training_loss():
    """One batch: the measured FedImpro gradient is the autograd gradient of fedimpro_loss with
    the same sampled features (same generator stream)."""
    torch.manual_seed(0)
    m = mo.small_cnn((1, 14, 14), 10, 2, 4, 16)
    dist = fe.FeatureDistribution(torch.rand(10, m.feature_dim), torch.rand(10, m.feature_dim))
    x, y = torch.randn(12, 1, 14, 14), torch.randint(0, 10, (12,))
    low, high = metrics.client_gradient(m, x, y, "impro", dist, batch_size=12,
                                        generator=torch.Generator().manual_seed(3))
    loss, _ = fedimpro_loss(m, x, y, dist, ImproConfig(), 5, torch.Generator().manual_seed(3))
    g = torch.autograd.grad(loss, list(m.parameters()))
    names = m.low_parameter_names()
    ref_low = torch.cat([t.reshape(-1) for (n, _), t in zip(m.named_parameters(), g) if n in names])
    ref_high = torch.cat([t.reshape(-1) for (n, _), t in zip(m.named_parameters(), g)
                          if n not in names])
    torch.testing.assert_close(low, ref_low.double(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(high, ref_high.double(), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="objective"):
        metrics.client_gradient(m, x, y, "fake")
    with pytest.raises(ValueError, match="needs the shared"):
        metrics.client_gradient(m, x, y, "impro")


def test_relative_w2_is_zero_for_identical_clients_and_ignores_feature_scale():
    torch.manual_seed(0)
    m = mo.small_cnn((1, 14, 14), 10, 1, 4, 16)
    g = torch.Generator().manual_seed(2)
    xs = [torch.randn(60, 1, 14, 14, generator=g) for _ in range(3)]
    ys = [torch.arange(60) % 3 for _ in range(3)]
    state = {k: v.clone() for k, v in m.state_dict().items()}
    out = metrics.conditional_wasserstein(m, state, xs, ys, 10)
    assert len(out["pairs"]) == 3 * 3 and all(p["w2"] > 0 for p in out["pairs"])
    same = metrics.conditional_wasserstein(m, state, [xs[0]] * 3, [ys[0]] * 3, 10)
    assert all(p["w2"] == pytest.approx(0.0, abs=1e-12) for p in same["pairs"])
    scaled = dict(state)  # conv -> ReLU -> max-pool is positively homogeneous: features x 3
    scaled["blocks.0.0.weight"] = 3 * state["blocks.0.0.weight"]
    scaled["blocks.0.0.bias"] = 3 * state["blocks.0.0.bias"]
    out3 = metrics.conditional_wasserstein(m, scaled, xs, ys, 10)
    assert out3["scale"] == pytest.approx(3 * out["scale"], rel=1e-6)
    for a, b in zip(out["pairs"], out3["pairs"]):
        assert a["w2"] == pytest.approx(b["w2"], rel=1e-6)


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
