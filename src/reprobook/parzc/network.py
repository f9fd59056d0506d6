"""The NAS-Bench-201 macro network, scaled down (Dong & Yang, ICLR 2020, Fig. 1; ParZC Sec. 4.1).

NAS-Bench-201's skeleton: a 3x3 stem convolution + BN, three stages of ``N`` cells with ``C``,
``2C`` and ``4C`` channels, joined by residual reduction blocks (stride 2), then BN + ReLU,
global average pooling and a linear classifier. The benchmark uses ``C = 16, N = 5`` on 32x32
images; this chapter defaults to ``N = 1`` and a small ``C`` for 8x8 digits (stem -> cell ->
reduction -> cell -> reduction -> cell -> pooling -> linear), and reaches the original at
``N = 5, C = 16`` on CIFAR-10.

``reduction`` chooses the block between stages: ``"resblock"`` is NAS-Bench-201's residual
reduction block (two 3x3 convolutions and a shortcut); ``"pool"`` keeps only its shortcut
(2x2 average pooling -> 1x1 convolution -> BN), so that the cells hold every 3x3 convolution after
the stem. On CIFAR-10 the skeleton alone is weak (the all-``skip_connect`` cell reaches about
54% where the best cell reaches 94%), so the cell decides the accuracy; on 8x8 digits the two
residual blocks alone already classify ~95% of the digits and every cell scores alike, which is
why the chapter's mini benchmark uses ``"pool"`` (the ``"resblock"`` default is NAS-Bench-201's
own network, used on CIFAR-10 and for the real benchmark).

Operations follow NAS-Bench-201: ``nor_conv_kxk`` = ReLU -> Conv(k x k, no bias) -> BN,
``avg_pool_3x3`` = 3x3 average pooling (stride 1, padding not counted), ``skip_connect`` =
identity, ``none`` = zero. A reduction block is ``ReLUConvBN(3x3, stride 2) -> ReLUConvBN(3x3)``
plus a shortcut ``AvgPool(2) -> Conv 1x1``.

*Nodes* of the zero-cost proxies (ParZC Sec. 3.1) are the Conv2d and Linear modules in module
order. :func:`slot_names` lists every position a node can occupy; a given cell fills a subset of
them (:attr:`TinyNB201.slots`), which fixes the proxies' vector layout.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .space import EDGES, N_NODES, OPS, validate


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, c: int) -> nn.Module:
    """One edge operation on ``c`` channels, stride 1 (NAS-Bench-201's OPS table)."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown operation {name!r}; known: {OPS}")


class Cell(nn.Module):
    """x_j = sum_{i<j} o_ij(x_i) over the 4 nodes; the edges are registered in EDGES order."""

    def __init__(self, cell: Sequence[int], c: int) -> None:
        super().__init__()
        self.cell = validate(cell)
        self.edges = nn.ModuleList(make_op(OPS[o], c) for o in self.cell)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        k = 0
        for j in range(1, N_NODES):
            acc = None
            for i in range(j):
                y = self.edges[k](nodes[i])
                acc = y if acc is None else acc + y
                k += 1
            nodes.append(acc)
        return nodes[-1]


class PoolReduction(nn.Module):
    """The residual block's shortcut alone: AvgPool(2) -> Conv 1x1 -> BN (``reduction="pool"``)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2, ceil_mode=True),
                                        nn.Conv2d(c_in, c_out, 1, bias=False),
                                        nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x)


REDUCTIONS = ("resblock", "pool")


class ResBlock(nn.Module):
    """NAS-Bench-201's residual reduction block (stride 2, channels doubled)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2, ceil_mode=True),
                                        nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def _reduction_nodes(reduction: str) -> list[str]:
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction block {reduction!r}; known: {REDUCTIONS}")
    return ["a", "b", "short"] if reduction == "resblock" else ["short"]


def slot_names(n_cells: int = 1, reduction: str = "resblock") -> list[str]:
    """Every position a node (Conv2d/Linear) can occupy, in module order."""
    red = _reduction_nodes(reduction)
    names = ["stem"]
    for stage in range(3):
        for n in range(n_cells):
            names += [f"s{stage}c{n}.e{j}{i}" for (j, i) in EDGES]
        if stage < 2:
            names += [f"red{stage}.{r}" for r in red]
    return names + ["classifier"]


class TinyNB201(nn.Module):
    """The macro network around one cell (shared by every cell position, as in NAS-Bench-201)."""

    def __init__(self, cell: Sequence[int], c: int = 8, n_cells: int = 1, in_ch: int = 1,
                 n_classes: int = 10, reduction: str = "resblock") -> None:
        super().__init__()
        self.cell = validate(cell)
        self.n_cells = n_cells
        self.reduction = reduction
        block = ResBlock if reduction == "resblock" else PoolReduction
        n_red = len(_reduction_nodes(reduction))
        self.stem = nn.Sequential(nn.Conv2d(in_ch, c, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        ch = c
        for stage in range(3):
            layers += [Cell(self.cell, ch) for _ in range(n_cells)]
            if stage < 2:
                layers.append(block(ch, 2 * ch))
                ch *= 2
        self.body = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(ch), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(ch, n_classes)
        self.slots = self._slots(n_red)

    def _slots(self, n_red: int) -> list[int]:
        """Slot index (into :func:`slot_names`) of each node, in module order."""
        conv_edges = [k for k, o in enumerate(self.cell) if OPS[o] in ("nor_conv_1x1",
                                                                        "nor_conv_3x3")]
        per_cell = len(EDGES)
        slots, base = [0], 1
        for stage in range(3):
            for _ in range(self.n_cells):
                slots += [base + k for k in conv_edges]
                base += per_cell
            if stage < 2:
                slots += list(range(base, base + n_red))
                base += n_red
        slots.append(base)
        assert len(slots) == len(nodes_of(self)), "slot layout out of step with the modules"
        return slots

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.body(self.stem(x)))
        return self.classifier(self.pool(x).flatten(1))


def nodes_of(net: nn.Module) -> list[nn.Module]:
    """The proxies' nodes: every Conv2d and Linear, in module order (as the official code)."""
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
