"""DiffKendall: a differentiable Kendall's tau (ParZC Sec. 3.3, Eq. 6-7).

Kendall's tau of predictions p and targets y (no ties) is

    tau = (1/N0) * sum_{i<j} sign(p_i - p_j) * sign(y_i - y_j),    N0 = N (N - 1) / 2.

The paper smooths each sign with tanh:

    tau_hat = (1/N0) * sum_{i<j} tanh(a * dp_ij) * tanh(a * dy_ij),        (``form="paper"``)

which lies in [-1, 1], is antisymmetric in p (tau_hat(-p, y) = -tau_hat(p, y)) and tends to
tau as a -> infinity. The official code (``piconas/core/losses/diffkd.py``) writes the smooth
sign as sigmoid(a d) - sigmoid(-a d) = tanh(a d / 2) and sums over *both* orderings (i, j)
and (j, i) while dividing by N0, so its value is twice the paper's form at slope a / 2:

    tau_code(a) = 2 * tau_hat(a / 2)       in [-2, 2],                     (``form="code"``)

with a = 0.5 in the code. The training loss is ``-tau_hat`` (optionally plus MSE).
"""

from __future__ import annotations

import torch

FORMS = ("paper", "code")


def diff_kendall(p: torch.Tensor, y: torch.Tensor, a: float = 0.25,
                 form: str = "paper") -> torch.Tensor:
    """The smoothed Kendall's tau of 1-D tensors ``p`` and ``y`` (see the module docstring)."""
    if form not in FORMS:
        raise ValueError(f"unknown DiffKendall form {form!r}; known: {FORMS}")
    if p.dim() != 1 or y.dim() != 1 or p.shape != y.shape:
        raise ValueError(f"DiffKendall needs two 1-D tensors of one length, got {tuple(p.shape)} "
                         f"and {tuple(y.shape)}")
    n = p.shape[0]
    if n < 2:
        raise ValueError("DiffKendall needs at least 2 items")
    dp = p[:, None] - p[None, :]
    dy = y[:, None] - y[None, :]
    n0 = n * (n - 1) / 2
    if form == "paper":
        prod = torch.tanh(a * dp) * torch.tanh(a * dy)
        return torch.triu(prod, diagonal=1).sum() / n0
    s = (torch.sigmoid(a * dp) - torch.sigmoid(-a * dp)) * (torch.sigmoid(a * dy)
                                                           - torch.sigmoid(-a * dy))
    return (s.sum() - s.diagonal().sum()) / n0


def kendall_tau(p: torch.Tensor, y: torch.Tensor) -> float:
    """Exact Kendall's tau-a of two 1-D tensors (reference for the tests and for a -> inf)."""
    dp = torch.sign(p[:, None] - p[None, :])
    dy = torch.sign(y[:, None] - y[None, :])
    n = p.shape[0]
    return float(torch.triu(dp * dy, diagonal=1).sum() / (n * (n - 1) / 2))
