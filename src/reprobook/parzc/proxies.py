"""Node-wise zero-cost proxies (ParZC Sec. 3.1, Eq. 1-2; Abdelfattah et al., ICLR 2021).

A zero-cost proxy scores an *untrained* network from one mini-batch. Classically the per-weight
scores are summed over the whole network, treating every node alike; ParZC keeps one statistic
per *node* (Conv2d / Linear, in module order). For a node with weights W and loss L
(cross-entropy on one batch):

================  =====================================================  ===================
proxy             per node                                               reduction
================  =====================================================  ===================
``grad_norm``     ||dL/dW||_2                                            a scalar per node
``snip``          |W * dL/dW|                       (Lee et al. 2019)    mean over weights
``synflow``       |W * dR/dW|, R = sum f_|W|(1), float64, BN bypassed    mean over weights
``fisher``        0.5 * mean_n (sum_hw a * dL/da)^2 per output channel   mean over channels
``grasp``         -W * (H dL/dW)                     (Wang et al. 2020)  mean over weights
``l2_norm``       ||W||_2                                                a scalar per node
================  =====================================================  ===================

Sign convention (each proxy as scored here): **higher means predicted better**; ``grasp``
carries the minus sign of Abdelfattah et al.'s implementation so that this holds (its sign is
disputed; the chapter measures every proxy's correlation with its sign, never flips it after
the fact). ``synflow`` takes |W| in float64 with an all-ones input and restores the weights
and dtype afterwards (the official code leaves the network in float64).

:func:`node_stats` returns per node the mean of the per-weight scores (what ParZC feeds its
predictor) and the number of elements reduced, so that the classical single-proxy score,
the sum over all weights, is ``sum_l mean_l * n_l`` (:func:`network_score`).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reprobook.core.errors import ReprobookError

from .network import nodes_of

PROXIES: tuple[str, ...] = ("grad_norm", "snip", "synflow", "fisher", "grasp", "l2_norm")
#: Proxies whose node statistic is one number already (the whole-network score sums them).
NORM_PROXIES = frozenset({"grad_norm", "l2_norm"})
#: What "higher" means for each proxy as scored here (stated, then measured in notebook 2).
SIGN_CONVENTION = {p: "higher = predicted better" for p in PROXIES}


class ProxyError(ReprobookError, ValueError):
    """An unknown proxy name."""


def check_names(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    bad = [n for n in names if n not in PROXIES]
    if bad:
        raise ProxyError(f"unknown zero-cost proxy {bad[0]!r}; known: {PROXIES}")
    return tuple(names)


def _loss_backward(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()


def _grad(w: torch.Tensor) -> torch.Tensor:
    return w.grad if w.grad is not None else torch.zeros_like(w)


def grad_norm(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    _loss_backward(net, x, y)
    return [_grad(m.weight).norm() for m in nodes_of(net)]


def snip(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """|dL/dc| for a multiplicative mask c = 1 on each weight, i.e. |W * dL/dW|."""
    _loss_backward(net, x, y)
    return [(m.weight.detach() * _grad(m.weight)).abs() for m in nodes_of(net)]


@contextmanager
def _bn_bypassed(net: nn.Module) -> Iterator[None]:
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.forward = lambda t: t  # type: ignore[method-assign]
    try:
        yield
    finally:
        for m in bns:
            del m.forward


def synflow(net: nn.Module, x: torch.Tensor, y: torch.Tensor,
            bypass_bn: bool = True) -> list[torch.Tensor]:
    """Tanaka et al. 2020: R = 1^T f_{|W|}(1) in float64; score |W * dR/dW|.

    The network's parameters, buffers and dtype are restored exactly afterwards.
    ``bypass_bn=False`` keeps BN active (the official generator's behaviour)."""
    saved = {k: v.detach().clone() for k, v in net.state_dict().items()}
    dtype = next(net.parameters()).dtype
    try:
        net.double()
        with torch.no_grad():
            for v in net.state_dict().values():
                if v.is_floating_point():
                    v.abs_()
        net.zero_grad(set_to_none=True)
        ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
        with _bn_bypassed(net) if bypass_bn else _nullcontext():
            net(ones).sum().backward()
        scores = [(m.weight.detach() * _grad(m.weight)).abs() for m in nodes_of(net)]
    finally:
        net.to(dtype)
        net.load_state_dict(saved)
        net.zero_grad(set_to_none=True)
    return scores


@contextmanager
def _nullcontext() -> Iterator[None]:
    yield


def fisher(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Per output channel k of a node with activation a: 0.5 * mean_n (sum_hw a * dL/da)^2
    (Turner et al. 2020, as in Abdelfattah et al.'s code)."""
    nodes = nodes_of(net)
    acts: dict[int, torch.Tensor] = {}
    grads: dict[int, torch.Tensor] = {}

    def hook(i: int) -> Callable:
        def fn(_m: nn.Module, _inp: object, out: torch.Tensor) -> None:
            acts[i] = out.detach()
            out.register_hook(lambda g: grads.__setitem__(i, g.detach()))
        return fn

    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(nodes)]
    try:
        _loss_backward(net, x, y)
    finally:
        for h in handles:
            h.remove()
    out = []
    for i, m in enumerate(nodes):
        if i not in grads:
            out.append(torch.zeros(m.weight.shape[0], dtype=m.weight.dtype))
            continue
        g_nk = acts[i] * grads[i]
        if g_nk.dim() > 2:
            g_nk = g_nk.sum(dim=tuple(range(2, g_nk.dim())))
        out.append(0.5 * g_nk.pow(2).mean(0))
    return out


def grasp(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """-W * (H g) with g = dL/dW (stop-gradient) and H the Hessian (one Hessian-vector product)."""
    weights = [m.weight for m in nodes_of(net)]
    net.zero_grad(set_to_none=True)
    g = torch.autograd.grad(F.cross_entropy(net(x), y), weights, allow_unused=True)
    g = [torch.zeros_like(w) if gi is None else gi.detach() for gi, w in zip(g, weights)]
    gf = torch.autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True,
                             allow_unused=True)
    z = sum((gi * fi).sum() for gi, fi in zip(g, gf) if fi is not None)
    if isinstance(z, torch.Tensor) and z.requires_grad:
        z.backward()
    return [-(w.detach() * _grad(w)) for w in weights]


def l2_norm(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    return [m.weight.detach().norm() for m in nodes_of(net)]


_FUNCS: dict[str, Callable[..., list[torch.Tensor]]] = {
    "grad_norm": grad_norm, "snip": snip, "synflow": synflow, "fisher": fisher,
    "grasp": grasp, "l2_norm": l2_norm}


def per_node(name: str, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """The raw per-node tensors of proxy ``name`` (on a copy of ``net``; ``net`` is untouched)."""
    check_names([name])
    work = copy.deepcopy(net)
    work.train()
    return _FUNCS[name](work, x, y)


def node_stats(name: str, net: nn.Module, x: torch.Tensor, y: torch.Tensor
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per node: the mean of the proxy's per-element scores, and the number of weights it
    stands for (1 for a norm proxy; the node's weight count otherwise)."""
    tensors = per_node(name, net, x, y)
    means = np.array([float(t.double().mean()) for t in tensors], dtype=np.float64)
    if name in NORM_PROXIES:
        counts = np.ones(len(tensors))
    else:
        counts = np.array([m.weight.numel() for m in nodes_of(net)], dtype=np.float64)
    return means, counts


def network_score(means: np.ndarray, counts: np.ndarray) -> float:
    """The classical single-proxy score: the sum over all weights (= over nodes of norms)."""
    return float(np.nansum(means * counts))


def minmax(v: np.ndarray) -> np.ndarray:
    """Min-max scaling across the nodes of one architecture (official ``min_max_scaling``);
    a constant vector maps to zeros (the official code would divide by zero: NaN -> 0)."""
    v = np.asarray(v, dtype=np.float64)
    lo, hi = np.min(v), np.max(v)
    return np.zeros_like(v) if not np.isfinite(hi - lo) or hi == lo else (v - lo) / (hi - lo)
