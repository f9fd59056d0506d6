"""What the notebooks call: the cached job grid, the time plan, the claims, torchvision's readers
and the GPU smoke check (run on the CPU, tiny)."""

from __future__ import annotations

import gzip
import pickle
import tarfile

import numpy as np
import pandas as pd
import pytest
import torch

from reprobook.core import claims as core_claims
from reprobook.core.devices import pick
from reprobook.core.errors import DataError
from reprobook.core.session import Run
from reprobook.fedimpro import claims, data as fd, experiments as ex, plan
from reprobook.fedimpro.federation import FedConfig

SETUP = ex.Setup(n_clients=4, width=4, hidden=16, split=1)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tmp_cache(monkeypatch, tmp_path):
    """The job cache in a temporary folder."""
    import joblib

    monkeypatch.setattr(ex, "_cached_run", joblib.Memory(tmp_path, verbose=0).cache(ex._run))
    return tmp_path


# ---- the job grid -------------------------------------------------------------------------------

def test_jobs_are_cached_by_content_not_label(tmp_cache):
    base = FedConfig(rounds=2, clients_per_round=2, measure_every=1)
    jobs = ex.training_jobs(SETUP, base, ["fedavg", "fedimpro"], [0])
    assert [j.final for j in jobs] == [True, True]
    assert not any(ex.is_cached(j) for j in jobs)
    first = ex.run_jobs(jobs, workers=1)
    renamed = [ex.Job("default", j.setup, j.config, j.seed, final=j.final) for j in jobs]
    assert all(ex.is_cached(j) for j in renamed)
    again = ex.run_jobs(renamed, workers=1)
    assert [r.label for r in again] == ["default", "default"]
    assert [r.history for r in again] == [r.history for r in first]
    final = ex.final_frame(first)
    assert set(final.label) == {"fedavg", "fedimpro"}
    assert {"gd_high_real", "gd_high_impro", "gd_high_impro-mean", "w2"} <= set(final.columns)
    assert final[final.label == "fedavg"]["gd_high_impro"].isna().all()
    other = ex.training_jobs(SETUP, base, ["fedprox"], [0])
    assert other[0].final is False and other[0].config.measure_every == 0


def test_summary_uses_the_mean_of_the_last_rounds():
    hist = [{"round": r, "test_acc": a} for r, a in enumerate([0.1, 0.9, 0.2, 0.4, 0.6], 1)]
    s = ex.summary([ex.JobResult("fedavg", 0, "fedavg", hist, 1.0)], last=2)
    assert s.last_acc[0] == pytest.approx(0.5) and s.best_acc[0] == pytest.approx(0.9)
    summ = pd.DataFrame({"label": ["a", "a", "b", "b"], "seed": [0, 1, 1, 0],
                         "last_acc": [0.5, 0.6, 0.4, 0.2]})
    assert ex.paired(summ, "a", "b") == pytest.approx([0.3, 0.2])


def test_ablation_jobs_and_bad_estimator():
    base = FedConfig(rounds=2, measure_every=5)
    jobs = ex.ablation_jobs(SETUP, base, [0, 1], splits=[2], noises=[0.5],
                            estimators=["code_compat"])
    by = {j.label: j for j in jobs}
    assert set(by) == {"split:2", "noise:0.5", "est:code_compat"}
    assert by["split:2"].setup.split == 2 and by["noise:0.5"].config.impro.upload_noise == 0.5
    assert by["est:code_compat"].config.impro.code_compat
    assert all(j.config.method == "fedimpro" and j.config.measure_every == 0 for j in jobs)
    with pytest.raises(ValueError, match="unknown estimator"):
        ex.ablation_jobs(SETUP, base, [0], splits=[], noises=[], estimators=["median"])


# ---- the plan ------------------------------------------------------------------------------------

def test_run_seconds_known_answer():
    job = ex.Job("fedavg", ex.Setup(n_clients=10), FedConfig(
        method="fedavg", rounds=10, clients_per_round=5, measure_every=5), 0, final=True)
    # 10 rounds x (0.5 x 1000 x 1e-3 + 100 x 1e-3 / 3) + 3 measurements (1, 5, 10) x 1000 x 1e-3
    expect = 10 * (0.5 + 100 * 1e-3 / 3) + 3 * 1.0
    assert plan.run_seconds(job, 1e-3, 1e-3, 1000, 100) == pytest.approx(expect)
    impro = ex.Job("fedimpro", ex.Setup(n_clients=10), FedConfig(
        method="fedimpro", rounds=10, clients_per_round=5, measure_every=5), 0)
    assert plan.run_seconds(impro, 1e-3, 1e-3, 1000, 100) == pytest.approx(expect + 6.0)


def test_estimate_counts_cached_runs_as_free(tmp_cache):
    base = FedConfig(rounds=1, clients_per_round=2)
    jobs = ex.method_jobs(SETUP, base, ["fedavg", "fedimpro"], [0])
    p = plan.estimate(jobs, workers=2)
    assert p.seconds > 0 and p.table["cached"].sum() == 0 and "2 runs to train" in p.describe()
    ex.run_jobs(jobs[:1], workers=1)
    p2 = plan.estimate(jobs, workers=2)
    assert p2.table.set_index("label").loc["fedavg", "est. s"] == 0.0
    assert "1 runs to train (1 cached)" in p2.describe()


# ---- claims ----------------------------------------------------------------------------------------

def _run(tmp_path) -> Run:
    return Run("fedimpro", "test", 0, pick("cpu", "auto"), tmp_path)


def _summ(effect: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for s in range(4):
        base = 0.7 + 0.05 * rng.standard_normal()
        rows += [{"label": "fedavg", "seed": s, "last_acc": base},
                 {"label": "fedimpro", "seed": s, "last_acc": base + effect + 0.002 * s},
                 {"label": "noise:0.5", "seed": s, "last_acc": base + effect},
                 {"label": "default", "seed": s, "last_acc": base + effect},
                 {"label": "split:2", "seed": s, "last_acc": base + effect - 0.03}]
    return pd.DataFrame(rows)


def test_accuracy_and_ablation_claims_follow_the_effect(tmp_path):
    run = _run(tmp_path)
    claims.record_accuracy(run, _summ(0.05), ["fedavg"], alpha=0.05, dataset="x", last=5)
    claims.record_ablations(run, _summ(0.05), model="small_cnn", split=1, splits=[2],
                            noises=[0.5])
    got = {c.id: c.verdict for c in run.claims()}
    assert got == {"beats-fedavg": "reproduced", "noise-0.5-beats-fedavg": "reproduced",
                   "split-after-last-conv-loses": "reproduced"}
    run2 = _run(tmp_path / "b")
    claims.record_accuracy(run2, _summ(-0.05), ["fedavg"], alpha=0.05, dataset="x", last=5)
    assert run2.claims()[0].verdict == "not reproduced"
    assert not core_claims.verify(run.claims() + run2.claims())  # nulls re-judged


def test_theory_claims_and_identities(tmp_path):
    final = pd.DataFrame([{"label": lab, "seed": s, "gd_high_real": v, "gd_high_impro": v / 2,
                           "w2": v / 10} for s in range(3)
                          for lab, v in (("fedavg", 4.0 + s), ("fedimpro", 2.0 + s))])
    hist = pd.DataFrame([{"label": lab, "seed": s, "round": r, "weight_divergence": wd + 0.1 * r,
                          "gd_low_real": 2.0, "gd_high_real": 3.0, "gd_total_real": 5.0,
                          "gd_low_impro-mean": 0.5, "gd_high_impro-mean": 1.0,
                          "gd_total_impro-mean": 1.5}
                         for s in range(3) for r in (1, 2)
                         for lab, wd in (("fedavg", 1.0 + s), ("fedimpro", 2.0 + s))])
    run = _run(tmp_path)
    claims.record_theory(run, final, hist)
    claims.record_identities(run, hist)
    got = {c.id: c.verdict for c in run.claims()}
    assert got["gd-high-trained"] == "reproduced" and got["w2-trained"] == "reproduced"
    assert got["weight-divergence"] == "not reproduced"  # FedImpro above FedAvg here
    assert got["gd-blocks-sum"] == "holds" and got["gd-low-quarter"] == "holds"
    bad = hist.assign(gd_total_real=6.0)
    run2 = _run(tmp_path / "b")
    claims.record_identities(run2, bad)
    assert {c.id: c.verdict for c in run2.claims()}["gd-blocks-sum"] == "fails"


# ---- torchvision's readers on files in the official formats ----------------------------------------

def _idx(path, arr, magic):
    head = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(head + arr.astype(np.uint8).tobytes())


def test_fmnist_through_torchvision(tmp_path):
    rng = np.random.default_rng(0)
    files = {}
    for split, n in (("train", 20), ("t10k", 10)):
        for kind, magic, arr in (("images-idx3", 2051, rng.integers(0, 255, (n, 28, 28))),
                                 ("labels-idx1", 2049, np.arange(n) % 10)):
            name = f"{split}-{kind}-ubyte.gz"
            _idx(tmp_path / name, arr, magic)
            files[name] = tmp_path / name
    d = fd.read_fmnist(files, tmp_path / "tv")
    assert d.x_train.shape == (20, 1, 28, 28) and d.x_test.shape == (10, 1, 28, 28)
    assert d.y_train.tolist() == [i % 10 for i in range(20)]
    assert abs(float(d.x_train.mean())) < 1e-5  # standardised with train statistics
    (tmp_path / "bad.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="bad.gz"):
        fd.read_fmnist({**files, "t10k-images-idx3-ubyte.gz": tmp_path / "bad.gz"},
                       tmp_path / "tv2")


def test_cifar10_through_torchvision(monkeypatch, tmp_path):
    from torchvision.datasets import CIFAR10

    rng = np.random.default_rng(1)
    src = tmp_path / "src" / "cifar-10-batches-py"
    src.mkdir(parents=True)
    batches = {f"data_batch_{i}": 4 for i in range(1, 6)} | {"test_batch": 3}
    for name, n in batches.items():
        with open(src / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8),
                         "labels": list(np.arange(n) % 10)}, f)
    with open(src / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, f)
    tar = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(src, arcname="cifar-10-batches-py")
    with pytest.raises(DataError, match="torchvision's CIFAR10"):  # md5s of the real files
        fd.read_cifar10(tar, tmp_path / "tv")
    monkeypatch.setattr(CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *a, **k: True)
    d = fd.read_cifar10(tar, tmp_path / "tv")
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (3, 3, 32, 32)
    with open(src / "data_batch_1", "rb") as f:
        raw = pickle.load(f)["data"][0].reshape(3, 32, 32).astype(np.float64)
    for c in range(3):  # channel c of image 0: an increasing affine map of the raw bytes
        got = d.x_train[0, c].flatten().double().numpy()
        assert np.corrcoef(got, raw[c].flatten())[0, 1] > 0.9999
    assert d.y_train.tolist() == [i % 10 for i in range(4)] * 5


def test_svhn_through_torchvision_maps_label_10_to_0(monkeypatch, tmp_path):
    from scipy.io import savemat
    from torchvision.datasets import SVHN

    rng = np.random.default_rng(2)
    files = {}
    for split, n in (("train", 6), ("test", 4)):
        path = tmp_path / f"{split}_32x32.mat"
        savemat(path, {"X": rng.integers(0, 255, (32, 32, 3, n), dtype=np.uint8),
                       "y": (np.arange(n) % 10 + 1).reshape(-1, 1)})
        files[path.name] = path
    monkeypatch.setattr(SVHN, "_check_integrity", lambda self: True)
    d = fd.read_svhn(files, tmp_path / "tv")
    assert d.x_train.shape == (6, 3, 32, 32)
    assert d.y_train.tolist() == [1, 2, 3, 4, 5, 6] and d.y_test.tolist() == [1, 2, 3, 4]
    assert (tmp_path / "tv" / "train_32x32.mat").is_symlink()  # read in place


# ---- GPU smoke on the CPU ---------------------------------------------------------------------------

def test_gpu_smoke_check_runs_tiny_on_the_cpu():
    from reprobook.fedimpro.gpu_smoke import CHECKS

    (check,) = CHECKS
    out = check("cpu", True)
    assert out["device"] == "cpu" and out["s per round (FedImpro, with eval)"] > 0
    assert out["gd_high_impro"] > 0 and out["gd_high_real"] > 0
    assert all(isinstance(v, (int, float, str)) for v in out.values())
