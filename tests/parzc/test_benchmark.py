"""The benchmark builder, its tables and the evaluation protocol."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from reprobook.parzc import benchmark as B
from reprobook.parzc import evaluation as ev
from reprobook.parzc import diagnosis, features, space, tables


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[pd.DataFrame, B.GenConfig]:
    cfg = B.GenConfig(dataset="digits", n_archs=6, epochs=1, channels=4, sample_seed=5)
    return B.build(cfg, use_cache=False, desc="test"), cfg


def test_stratified_sample_covers_the_strata_in_proportion():
    cells = B.sample_architectures(200, seed=0, strata="unique")
    assert len(cells) == len(set(cells)) == 200
    keys = {space.canonical(c) for c in cells}
    assert len(keys) == 200  # unique up to isomorphism
    counts = np.bincount([space.n_convs(c) for c in cells], minlength=7)
    sizes = np.bincount([space.n_convs(c) for c in space.unique_cells()], minlength=7)
    assert np.all(np.abs(counts - sizes * 200 / sizes.sum()) < 1.0)
    assert B.sample_architectures(200, seed=0, strata="unique") == cells
    with pytest.raises(ValueError, match="n_archs"):
        B.sample_architectures(7000, seed=0)
    with pytest.raises(ValueError, match="unknown strata 'all'"):
        B.sample_architectures(10, seed=0, strata="all")


def test_nb201_strata_follow_the_15625_cells():
    sizes = B.class_sizes()
    assert sum(sizes.values()) == 15_625 and len(sizes) == 6_466
    nopath = [c for c in sizes if not space.has_path(c)]
    assert sum(sizes[c] for c in nopath) == 341  # every no-path cell falls in these classes
    cells = B.sample_architectures(600, seed=1, strata="nb201")
    assert len({space.canonical(c) for c in cells}) == 600  # still one cell per class
    counts = np.bincount([space.n_convs(c) for c in cells], minlength=7)
    full = np.zeros(7)  # the 15,625 cells by the stratum of their class's representative
    for c, n in sizes.items():
        full[space.n_convs(c)] += n
    assert np.all(np.abs(counts - full * 600 / 15_625) < 1.0)  # NB201's strata, not unique's
    assert counts[0] == 76  # 12.7% conv-free (2.2% of the unique cells)


def test_build_gives_the_schema_and_is_deterministic(tiny):
    df, cfg = tiny
    assert list(df.columns) == B.columns(cfg) and len(df) == 6
    acc = df[[c for c in df.columns if "_acc_s" in c]].to_numpy()
    assert np.all((acc >= 0) & (acc <= 1))
    # a slot holds a node exactly when numel is set; proxies are NaN elsewhere
    present = ~df[[c for c in df.columns if c.startswith("numel@")]].isna().to_numpy()
    assert np.array_equal(present, ~np.isnan(features.node_matrix(df, "synflow")))
    again = B.evaluate_arch(space.from_arch_str(df.arch[0]), cfg)
    row = df.iloc[0]
    assert all(again[k] == row[k] or (np.isnan(row[k]) and np.isnan(again[k]))
               for k in B.columns(cfg) if k not in ("arch", "cell"))


def test_table_round_trip_and_bad_files(tiny, tmp_path: Path):
    df, cfg = tiny
    p = tmp_path / "t.csv.gz"
    sha = tables.write_table(df, p)
    back = tables.read_table(p, B.columns(cfg), sha)
    assert tables.content_sha256(back) == sha
    assert tables.write_table(back, tmp_path / "u.csv.gz") == sha
    assert (tmp_path / "u.csv.gz").read_bytes() == p.read_bytes()  # no time in the gzip header
    with pytest.raises(tables.BenchmarkError, match=r"t\.csv\.gz: content sha256"):
        tables.read_table(p, B.columns(cfg), "0" * 64)
    dropped = tmp_path / "d.csv.gz"
    tables.write_table(df.drop(columns=["synflow@stem"]), dropped)
    with pytest.raises(tables.BenchmarkError, match=r"d\.csv\.gz: columns .*synflow@stem"):
        tables.read_table(dropped, B.columns(cfg))
    junk = tmp_path / "j.csv.gz"
    junk.write_bytes(b"not gzip")
    with pytest.raises(tables.BenchmarkError, match="j.csv.gz: not a readable gzip"):
        tables.read_table(junk)
    with pytest.raises(tables.BenchmarkError, match="not found"):
        tables.read_table(tmp_path / "missing.csv.gz")


def test_shipped_yaml_is_checked(tiny, tmp_path: Path):
    df, cfg = tiny
    y = tables.write_shipped(df, cfg, tmp_path, command="python -m reprobook.parzc.benchmark")
    got, meta = B.load_shipped(y)
    assert len(got) == len(df) and meta["rows"] == len(df)
    meta["content_sha256"] = "f" * 64
    y.write_text(yaml.safe_dump(meta))
    with pytest.raises(tables.BenchmarkError, match="mini-nb201.csv.gz: content sha256"):
        B.load_shipped(y)
    y.write_text("file: x\n")
    with pytest.raises(tables.BenchmarkError, match="needs keys"):
        B.load_shipped(y)
    meta["generation"]["depth"] = 3
    y.write_text(yaml.safe_dump(meta))
    with pytest.raises(tables.BenchmarkError, match=r"\['depth'\] are not benchmark param"):
        B.load_shipped(y)
    with gzip.open(tmp_path / "mini-nb201.csv.gz", "rb") as f:
        assert f.read().startswith(b"arch,cell,n_convs,params")


def test_the_shipped_table_verifies():
    df, meta = B.load_shipped()
    assert len(df) == meta["rows"] >= 500
    assert len(set(df.arch)) == len(df)
    assert B.config_from_meta(meta) == B.GenConfig()  # the defaults are the shipped setting
    assert all(space.from_arch_str(a) for a in df.arch[:50])


def test_features_layouts_and_single_scores(tiny):
    df, _ = tiny
    packed, aligned = (features.scaled_nodes(df, "snip", lay) for lay in ("packed", "aligned"))
    present = ~np.isnan(features.node_matrix(df, "snip"))
    for r in range(len(df)):
        k = present[r].sum()
        assert np.all(packed[r, k:] == 0)  # zero padding at the end
        assert np.array_equal(packed[r, :k], aligned[r, present[r]])  # module order = slot order
        assert np.all(aligned[r, ~present[r]] == 0)
        assert packed[r].max() == pytest.approx(1.0) and packed[r].min() == 0.0
    z = features.features(df)
    assert z.shape == (len(df), 3 * 22)  # pool reduction: 22 node slots
    counts = df[[c for c in df.columns if c.startswith("numel@")]].to_numpy()
    m = features.node_matrix(df, "snip")
    assert np.allclose(features.single_score(df, "snip"), np.nansum(m * counts, 1))
    assert np.allclose(features.single_score(df, "l2_norm"),
                       np.nansum(features.node_matrix(df, "l2_norm"), 1))
    with pytest.raises(ValueError, match="layout"):
        features.scaled_nodes(df, "snip", "sorted")


def test_held_out_split_and_paired_differences():
    tr, te = ev.split_indices(50, 10, seed=3)
    assert len(tr) == 10 and len(te) == 40 and not set(tr) & set(te)
    assert np.array_equal(ev.split_indices(50, 10, 3)[0], tr)
    with pytest.raises(ValueError, match="n_train"):
        ev.split_indices(10, 10, 0)
    frame = pd.DataFrame({"variant": ["a", "a", "b", "b"], "n_train": [5, 5, 5, 5],
                          "seed": [0, 1, 0, 1], "tau": [0.5, 0.6, 0.4, 0.7],
                          "tau_best_proxy": [0.1, 0.2, 0.1, 0.2]})
    assert ev.paired(frame, "a", "b") == pytest.approx([0.1, -0.1])
    assert ev.paired(frame, "a", "best proxy") == pytest.approx([0.4, 0.4])
    with pytest.raises(ValueError, match="unknown predictor variant"):
        ev.check_variants(["ParZC (hinge)"])


def test_noise_parts_recover_a_known_decomposition():
    rng = np.random.default_rng(0)
    true = rng.normal(0.9, 0.03, 20_000)
    df = pd.DataFrame({"test_acc_s0": true + rng.normal(0, 0.01, true.size),
                       "test_acc_s1": true + rng.normal(0, 0.01, true.size)})
    parts = ev.noise_parts(df, n_test=1000)
    assert parts["sd_between"] == pytest.approx(0.03, rel=0.03)
    assert parts["sd_seed"] == pytest.approx(0.01, rel=0.03)
    assert parts["icc"] == pytest.approx(0.9, abs=0.01)
    m = (df.test_acc_s0 + df.test_acc_s1) / 2
    assert parts["sd_eval"] == pytest.approx(np.sqrt(np.mean(m * (1 - m)) / 1000))


def test_strata_table_and_pilot_summary():
    df = pd.DataFrame({"n_convs": [0, 0, 0, 2, 2, 2, 2],
                       "test_acc_s0": [.1, .2, .3, .5, .6, .7, .8],
                       "test_acc_s1": [.1, .2, .3, .8, .7, .6, .5]})
    st = ev.strata_table(df).set_index("n_convs")
    assert st.loc[0, "count"] == 3 and st.loc[0, "tau seed 0 vs 1 within"] == pytest.approx(1)
    assert st.loc[2, "tau seed 0 vs 1 within"] == pytest.approx(-1)  # reversed within
    assert st.loc[2, "mean"] == pytest.approx(0.65)
    rows = [{"n_convs": k % 3, "val_acc_s0": a, "val_acc_s1": a, "test_acc_s0": a,
             "test_acc_s1": a, "test_loss_s0": -a, "test_loss_s1": -a}
            for k, a in enumerate(np.linspace(0.5, 0.9, 9))]
    out = diagnosis.summarise(rows, n_test=100)
    assert out["tau test_acc"] == out["tau val+test acc"] == out["tau test_loss"] == 1.0
    assert out["sd_seed"] == 0 and out["icc"] == 1.0
    assert set(out["acc by live convs"]) == {0, 1, 2}
    with pytest.raises(ValueError, match="unknown pilot 'Z'"):
        diagnosis.check_pilots(["A", "Z"])


def test_a_pilot_trains_both_seeds():
    out = diagnosis.run_pilot(dict(dataset="digits", epochs=1, channels=4), 4, sample_seed=3)
    assert out["archs"] == 4 and out["s per run"] > 0
    assert -1 <= out["tau test_acc"] <= 1 and 0 <= out["icc"] <= 1
    assert sum(1 for _ in out["acc by live convs"]) >= 1
