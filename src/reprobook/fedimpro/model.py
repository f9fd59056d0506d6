"""Models split into a low-level feature extractor and a high-level head: model = high(low(x)).

A model is a sequence of blocks; ``split`` k puts blocks[:k] in the low part and the rest in the
high part. The shared feature distribution lives on the flattened output of block k-1.

- :func:`small_cnn` — the cpu-smoke model: two conv blocks and two linear layers. Split points:
  1 (after conv block 1), 2 (after conv block 2, the default), 3 (after the first linear layer).
- :func:`resnet18_cifar` — the paper's ResNet-18, CIFAR variant (3x3 stem, stride 1, no max-pool),
  blocks [stem, layer1, layer2, layer3, layer4, head]; the paper's split after layer2 is k = 3.
"""

from __future__ import annotations

import torch
from torch import nn


class SplitModel(nn.Module):
    """A block sequence with a split point; ``forward`` is high(low(x))."""

    def __init__(self, blocks: list[nn.Module], split: int, feature_shape: tuple[int, ...]):
        super().__init__()
        if not 1 <= split < len(blocks):
            raise ValueError(f"split must lie in [1, {len(blocks) - 1}], got {split}")
        self.blocks = nn.ModuleList(blocks)
        self.split = split
        self.feature_shape = tuple(feature_shape)

    @property
    def feature_dim(self) -> int:
        return int(torch.Size(self.feature_shape).numel())

    def low(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks[: self.split]:
            x = b(x)
        return x.flatten(1)

    def high(self, h: torch.Tensor) -> torch.Tensor:
        x = h.view(h.shape[0], *self.feature_shape)
        for b in self.blocks[self.split:]:
            x = b(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.high(self.low(x))

    def low_parameter_names(self) -> set[str]:
        return {f"blocks.{i}.{n}" for i in range(self.split) for n, _ in self.blocks[i].named_parameters()}


def _feature_shape(blocks: list[nn.Module], split: int, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    with torch.no_grad():
        x = torch.zeros(1, *input_shape)
        for b in blocks[:split]:
            b.eval()
            x = b(x)
            b.train()
    return tuple(x.shape[1:])


def small_cnn(input_shape: tuple[int, ...] = (1, 28, 28), n_classes: int = 10, split: int = 2,
              width: int = 16, hidden: int = 128) -> SplitModel:
    """Conv(5x5)-ReLU-MaxPool x2, Linear-ReLU, Linear (a LeNet-style CNN)."""
    c = input_shape[0]
    side = input_shape[1] // 4
    blocks: list[nn.Module] = [
        nn.Sequential(nn.Conv2d(c, width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Conv2d(width, 2 * width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Flatten(), nn.Linear(2 * width * side * side, hidden), nn.ReLU()),
        nn.Linear(hidden, n_classes),
    ]
    return SplitModel(blocks, split, _feature_shape(blocks, split, input_shape))


def resnet18_cifar(n_classes: int = 10, split: int = 3,
                   input_shape: tuple[int, ...] = (3, 32, 32)) -> SplitModel:
    """torchvision's ResNet-18 with the CIFAR stem (3x3 conv, stride 1, no max-pool)."""
    from torchvision.models import resnet18

    r = resnet18(num_classes=n_classes)
    stem = nn.Sequential(nn.Conv2d(input_shape[0], 64, 3, 1, 1, bias=False), r.bn1, r.relu)
    head = nn.Sequential(r.avgpool, nn.Flatten(), r.fc)
    blocks: list[nn.Module] = [stem, r.layer1, r.layer2, r.layer3, r.layer4, head]
    return SplitModel(blocks, split, _feature_shape(blocks, split, tuple(input_shape)))


def build(name: str, input_shape: tuple[int, ...], n_classes: int, split: int,
          width: int = 16, hidden: int = 128) -> SplitModel:
    if name == "small_cnn":
        return small_cnn(input_shape, n_classes, split, width, hidden)
    if name == "resnet18":
        return resnet18_cifar(n_classes, split, tuple(input_shape))
    raise ValueError(f"unknown model {name!r}; expected 'small_cnn' or 'resnet18'")
