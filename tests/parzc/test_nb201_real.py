"""The real NAS-Bench-201 path, against a stand-in for the official API (the file is 4.7 GB)."""

from __future__ import annotations

import pytest

from reprobook.core.errors import DataError
from reprobook.parzc import nb201_real, space


class _Info:
    def __init__(self, idx: int) -> None:
        self.idx = idx

    def get_dataset_seeds(self, dataset: str) -> list[int]:
        assert dataset == "cifar10-valid"
        return [777, 888, 999]

    def get_metrics(self, dataset, setname, iepoch=None, is_random=False):
        assert iepoch is None and setname in ("x-valid", "ori-test")
        base = 90.0 if setname == "x-valid" else 89.0
        return {"accuracy": base + (is_random - 777) / 1000 + self.idx / 1e5, "loss": 0.3}


class _API:
    def query_index_by_arch(self, arch: str) -> int:
        return space.all_cells().index(space.from_arch_str(arch))

    def query_meta_info_by_index(self, idx: int, hp: str = "12") -> _Info:
        assert hp == "200"
        return _Info(idx)


def test_ground_truth_rows_come_from_the_api_per_seed():
    cell = (3, 1, 2, 4, 3, 0)
    row = nb201_real.ground_truth_row(_API(), cell)
    idx = space.all_cells().index(cell)
    assert row["val_acc_s0"] == pytest.approx((90.0 + idx / 1e5) / 100)
    assert row["val_acc_s1"] == pytest.approx((90.0 + 0.111 + idx / 1e5) / 100)
    assert row["test_acc_s0"] == pytest.approx((89.0 + idx / 1e5) / 100)
    with pytest.raises(DataError, match="no seed 555"):
        nb201_real.ground_truth_row(_API(), cell, seeds=(555,))


def test_real_config_is_the_benchmarks_network_and_missing_files_are_named(tmp_path):
    cfg = nb201_real.real_config(10)
    assert (cfg.channels, cfg.n_cells, cfg.dataset) == (16, 5, "cifar10")
    with pytest.raises(DataError, match="nb201.pth: NAS-Bench-201 benchmark file not found"):
        nb201_real.open_api(tmp_path / "nb201.pth")


def test_cifar10_reader_on_a_tar_in_the_official_layout(tmp_path):
    import io
    import pickle
    import tarfile

    import numpy as np

    from reprobook.parzc import data

    rng = np.random.default_rng(0)
    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for i in range(1, 6):
            blob = pickle.dumps({b"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8),
                                 b"labels": [k % 10 for k in range(20)]})
            info = tarfile.TarInfo(f"cifar-10-batches-py/data_batch_{i}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    split = data.load_cifar10_split(seed=0, fractions=(0.2, 0.2), path=path)
    assert split.in_ch == 3 and split.x_train.shape[1:] == (3, 32, 32)
    assert sum(split.sizes().values()) == 100 and split.n_classes == 10
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"nope")
    with pytest.raises(DataError, match="bad.tar.gz: not a readable cifar-10-python.tar.gz"):
        data.read_cifar10_tar(bad)
