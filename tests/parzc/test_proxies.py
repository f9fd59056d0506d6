"""Node-wise zero-cost proxies against hand computations on a fixed tiny network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from reprobook.parzc import proxies
from reprobook.parzc.network import TinyNB201


def _tiny() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(5, 3)
    y = torch.tensor([0, 1, 1, 0, 1])
    return net, x, y


def _grads(net, x, y):
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    return [net[0].weight.grad.clone(), net[2].weight.grad.clone()]


def test_grad_norm_and_snip_match_hand_computation():
    net, x, y = _tiny()
    g = _grads(net, x, y)
    w = [net[0].weight.detach(), net[2].weight.detach()]
    gn = proxies.per_node("grad_norm", net, x, y)
    sn = proxies.per_node("snip", net, x, y)
    for i in range(2):
        assert torch.allclose(gn[i], g[i].norm())
        assert torch.allclose(sn[i], (w[i] * g[i]).abs())
    means, counts = proxies.node_stats("snip", net, x, y)
    assert np.allclose(means, [float((w[i] * g[i]).abs().mean()) for i in range(2)])
    assert counts.tolist() == [12, 8]
    l2, c2 = proxies.node_stats("l2_norm", net, x, y)
    assert np.allclose(l2, [float(w[0].norm()), float(w[1].norm())]) and c2.tolist() == [1, 1]


def test_synflow_matches_hand_computation_and_restores_the_weights():
    net, x, y = _tiny()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    work = proxies.per_node("synflow", net, x, y)
    # by hand: |W| in float64, all-ones input, R = sum(output), score |W * dR/dW|
    w1, b1 = net[0].weight.double().abs(), net[0].bias.double().abs()
    w2, b2 = net[2].weight.double().abs(), net[2].bias.double().abs()
    w1.requires_grad_(True)
    w2.requires_grad_(True)
    r = (F.linear(torch.relu(F.linear(torch.ones(1, 3, dtype=torch.float64), w1, b1)), w2, b2)).sum()
    g1, g2 = torch.autograd.grad(r, [w1, w2])
    assert work[0].dtype == torch.float64
    assert torch.allclose(work[0], (w1 * g1).abs()) and torch.allclose(work[1], (w2 * g2).abs())
    # called directly (no copy), the network's weights and dtype come back bit for bit
    proxies.synflow(net, x, y)
    after = net.state_dict()
    assert all(after[k].dtype == torch.float32 and torch.equal(after[k], before[k]) for k in before)


def test_fisher_matches_hand_computation():
    net, x, y = _tiny()
    a1 = net[0](x)
    a1.retain_grad()
    out = net[2](torch.relu(a1))
    out.retain_grad()
    F.cross_entropy(out, y).backward()
    expect = [0.5 * (a1 * a1.grad).pow(2).mean(0), 0.5 * (out * out.grad).pow(2).mean(0)]
    got = proxies.per_node("fisher", net, x, y)
    for i in range(2):
        assert torch.allclose(got[i], expect[i].detach())


def test_grasp_is_minus_weight_times_hessian_gradient_product():
    net, x, y = _tiny()
    params = [net[0].weight, net[2].weight]
    loss = F.cross_entropy(net(x), y)
    g = torch.autograd.grad(loss, params, create_graph=True)
    hv = torch.autograd.grad(sum((gi * gi.detach()).sum() for gi in g), params)
    got = proxies.per_node("grasp", net, x, y)
    for i in range(2):
        assert torch.allclose(got[i], -(params[i].detach() * hv[i]), atol=1e-6)


def test_proxies_leave_the_network_untouched_and_cover_every_node():
    torch.manual_seed(0)
    net = TinyNB201((3, 1, 2, 4, 3, 0), c=4)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    for p in proxies.PROXIES:
        means, counts = proxies.node_stats(p, net, x, y)
        assert means.shape == (len(net.slots),) and np.all(np.isfinite(means))
        if p != "grasp":
            assert np.all(means >= 0)
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())


def test_minmax_scaling_and_unknown_names():
    assert proxies.minmax(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert proxies.minmax(np.array([5.0, 5.0])).tolist() == [0.0, 0.0]
    with pytest.raises(proxies.ProxyError, match="'jacob_cov'"):
        proxies.check_names(["synflow", "jacob_cov"])
    net, x, y = _tiny()
    with pytest.raises(proxies.ProxyError, match="unknown zero-cost proxy 'nwot'"):
        proxies.node_stats("nwot", net, x, y)
