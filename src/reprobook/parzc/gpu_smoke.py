"""GPU paths of the ParZC chapter, for the book's GPU smoke run (ARCHITECTURE §7).

The gpu-1x profile computes node-wise proxies of NAS-Bench-201's own network (C = 16, N = 5,
CIFAR-sized inputs) and trains the full-size MABN on the device. These checks run both at a
small size; ``tiny=True`` shrinks them further so that the unit tests run them on the CPU.
"""

from __future__ import annotations

import numpy as np
import torch

from .diffkendall import diff_kendall
from .mabn import MABN, MABNConfig
from .network import TinyNB201
from .proxies import PROXIES, node_stats


def proxies_on_device(device: str, tiny: bool) -> dict:
    """Node-wise proxies of a NAS-Bench-201 network on the device agree with the CPU."""
    c, n, side = (4, 1, 8) if tiny else (16, 5, 32)
    torch.manual_seed(0)
    net = TinyNB201((3, 1, 2, 4, 3, 3), c=c, n_cells=n, in_ch=3)
    x, y = torch.randn(16, 3, side, side), torch.randint(0, 10, (16,))
    worst = 0.0
    for p in PROXIES:
        ref, _ = node_stats(p, net, x, y)
        got, _ = node_stats(p, net.to(device), x.to(device), y.to(device))
        net.cpu()
        scale = np.maximum(np.abs(ref), 1e-12)
        worst = max(worst, float(np.max(np.abs(got - ref) / scale)))
    if worst > 1e-2:
        raise AssertionError(f"proxies on {device} differ from the CPU by {worst:.2e} (relative)")
    return {"nodes": len(net.slots), "max_rel_diff_vs_cpu": worst}


def mabn_steps(device: str, tiny: bool) -> dict:
    """A few DiffKendall steps of MABN (official width unless tiny) reduce the loss on device."""
    dim, depth, steps = (16, 1, 30) if tiny else (512, 4, 60)
    torch.manual_seed(0)
    z = torch.rand(64, 3 * 98, device=device)
    target = z @ torch.randn(3 * 98, device=device)
    model = MABN(MABNConfig(in_dim=3 * 98, dim=dim, depth=depth)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        loss = -diff_kendall(model(z), target, a=0.25)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    if not losses[-1] < losses[0]:
        raise AssertionError(f"MABN did not learn on {device}: {losses[0]:.4f} -> {losses[-1]:.4f}")
    return {"loss_first": losses[0], "loss_last": losses[-1]}


CHECKS = [proxies_on_device, mabn_steps]
