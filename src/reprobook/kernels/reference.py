"""Volume-rendering compositing in plain PyTorch: the reference every kernel is checked against.

For one ray with samples i = 0..S-1 at depths t_i, interval lengths delta_i, densities sigma_i and
colours c_i (NeRF, Mildenhall et al. 2020, Eq. 3):

    tau_i   = sigma_i delta_i
    T_i     = exp(-sum_{j<i} tau_j)              (transmittance)
    alpha_i = 1 - exp(-tau_i)
    w_i     = T_i alpha_i                        (weights)
    C = sum_i w_i c_i,   D = sum_i w_i t_i,   A = sum_i w_i   (colour, depth, opacity)
"""

from __future__ import annotations

import torch


def composite(sigma: torch.Tensor, rgb: torch.Tensor, deltas: torch.Tensor, t: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(colour [R, 3], depth [R], opacity [R], weights [R, S]) from sigma, deltas, t [R, S] and
    rgb [R, S, 3]; differentiable in sigma and rgb by autograd."""
    tau = sigma * deltas
    # exclusive cumulative sum: T_i depends on the samples before i only
    excl = torch.cumsum(tau, dim=-1) - tau
    trans = torch.exp(-excl)
    alpha = 1.0 - torch.exp(-tau)
    w = trans * alpha
    color = (w.unsqueeze(-1) * rgb).sum(dim=-2)
    depth = (w * t).sum(dim=-1)
    acc = w.sum(dim=-1)
    return color, depth, acc, w
