"""Volume-rendering compositing in plain PyTorch: the reference every kernel is checked against.

For one ray with samples i = 0..S-1 at depths t_i, interval lengths delta_i, densities sigma_i and
colours c_i (NeRF, Mildenhall et al. 2020, Eq. 3):

    tau_i   = sigma_i delta_i
    T_i     = exp(-sum_{j<i} tau_j)              (transmittance)
    alpha_i = 1 - exp(-tau_i)
    w_i     = T_i alpha_i                        (weights)
    C = sum_i w_i c_i,   D = sum_i w_i t_i,   A = sum_i w_i   (colour, depth, opacity)

Two steps that a renderer does just before compositing can be fused into it (the kernels do):
``activation="relu"`` takes raw densities and uses relu(sigma_i), and ``scale`` [R] multiplies each
ray's intervals (a renderer scales depth intervals by |d| to get world lengths; |d| depends on the
learned focal length, so its gradient matters).
"""

from __future__ import annotations

import torch

ACTIVATIONS = ("none", "relu")


def composite(sigma: torch.Tensor, rgb: torch.Tensor, deltas: torch.Tensor, t: torch.Tensor,
              scale: torch.Tensor | None = None, activation: str = "none"
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(colour [R, 3], depth [R], opacity [R], weights [R, S]) from sigma, deltas, t [R, S],
    rgb [R, S, 3] and the optional per-ray ``scale`` [R]; differentiable in every input."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown density activation {activation!r}; expected one of {ACTIVATIONS}")
    s = torch.relu(sigma) if activation == "relu" else sigma
    d = deltas if scale is None else deltas * scale[:, None]
    tau = s * d
    # exclusive cumulative sum: T_i depends on the samples before i only
    excl = torch.cumsum(tau, dim=-1) - tau
    trans = torch.exp(-excl)
    alpha = 1.0 - torch.exp(-tau)
    w = trans * alpha
    color = (w.unsqueeze(-1) * rgb).sum(dim=-2)
    depth = (w * t).sum(dim=-1)
    acc = w.sum(dim=-1)
    return color, depth, acc, w
