"""The real NAS-Bench-201 as ground truth (the gpu-1x path; Dong & Yang, ICLR 2020).

The benchmark file (``NAS-Bench-201-v1_1-096897.pth``, 4.7 GB) is a Google-Drive download with
no published checksum, so it cannot have a book manifest (a manifest needs an https URL and a
sha256); the chapter takes its path as a parameter instead and reads it with the official API
(PyPI ``nas-bench-201``, module ``nas_201_api``), which the user installs along with the file.

For a stratified sample of cells (the same sampler as the mini benchmark) the table takes, per
training seed of NAS-Bench-201 (777 and 888 on ``cifar10-valid``, 200 epochs), the accuracy on
``x-valid`` (validation) and ``ori-test`` (test), and computes the node-wise proxies on
CIFAR-10 with the benchmark's own network (C = 16, N = 5: 98 nodes). The result has the mini
benchmark's columns, so every later notebook runs unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reprobook.core.errors import DataError
from reprobook.core.progress import Progress

from . import space
from .benchmark import GenConfig, columns, proxies_once, sample_architectures

NB201_DATASET = "cifar10-valid"  # NAS-Bench-201: CIFAR-10 train split 25k/25k train/valid
NB201_SEEDS = (777, 888)  # the benchmark's first two training seeds at hp = 200


def open_api(path: str | Path) -> Any:
    """The official API on the benchmark file; clear errors for a missing file or package."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: NAS-Bench-201 benchmark file not found; download "
                        f"NAS-Bench-201-v1_1-096897.pth (see github.com/D-X-Y/NAS-Bench-201) "
                        f"and pass its path as nb201_file")
    try:
        from nas_201_api import NASBench201API  # type: ignore[import-not-found]
    except ImportError as exc:
        raise DataError("reading NAS-Bench-201 needs its official API: pip install "
                        "nas-bench-201") from exc
    return NASBench201API(str(p), verbose=False)


def ground_truth_row(api: Any, cell: space.Cell, seeds: tuple[int, ...] = NB201_SEEDS
                     ) -> dict[str, float]:
    """Per seed: validation/test accuracy (fractions) and loss of one cell from the API."""
    arch = space.to_arch_str(cell)
    idx = api.query_index_by_arch(arch)
    if idx is None or idx < 0:
        raise DataError(f"NAS-Bench-201 has no architecture {arch!r}")
    info = api.query_meta_info_by_index(idx, hp="200")
    have = list(info.get_dataset_seeds(NB201_DATASET))
    row: dict[str, float] = {}
    for k, seed in enumerate(seeds):
        if seed not in have:
            raise DataError(f"NAS-Bench-201 arch {idx}: no seed {seed} on {NB201_DATASET} "
                            f"(has {have})")
        val = info.get_metrics(NB201_DATASET, "x-valid", iepoch=None, is_random=seed)
        test = info.get_metrics(NB201_DATASET, "ori-test", iepoch=None, is_random=seed)
        row.update({f"val_acc_s{k}": val["accuracy"] / 100.0, f"val_loss_s{k}": val["loss"],
                    f"test_acc_s{k}": test["accuracy"] / 100.0, f"test_loss_s{k}": test["loss"]})
    return row


def real_config(n_archs: int, sample_seed: int = 0, cifar_limit: int | None = None) -> GenConfig:
    """The proxies' setting for the real benchmark: CIFAR-10, NAS-Bench-201's C = 16, N = 5."""
    return GenConfig(dataset="cifar10", n_archs=n_archs, seeds=(0, 1), channels=16, n_cells=5,
                     sample_seed=sample_seed, cifar_limit=cifar_limit, reduction="resblock",
                     strata="nb201")


def build_real(api: Any, cfg: GenConfig, device: str = "cpu") -> pd.DataFrame:
    """The benchmark table with NAS-Bench-201's accuracies and this chapter's proxies."""
    cells = sample_architectures(cfg.n_archs, cfg.sample_seed, cfg.strata)
    rows = []
    with Progress(len(cells), "NAS-Bench-201 sample", unit="arch") as bar:
        for c in cells:
            row: dict[str, Any] = {"arch": space.to_arch_str(c),
                                   "cell": "".join(str(o) for o in c),
                                   "n_convs": space.n_convs(c)}
            row.update(ground_truth_row(api, c))
            row.update(proxies_once(c, cfg, device))
            rows.append(row)
            bar.update()
    df = pd.DataFrame(rows)[columns(cfg)]
    if not np.isfinite(df[[f"test_acc_s{k}" for k in range(2)]].to_numpy()).all():
        raise DataError("NAS-Bench-201 returned non-finite accuracies")
    return df
