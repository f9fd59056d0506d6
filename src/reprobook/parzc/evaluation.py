"""Ground truth, rank correlations and ParZC's evaluation protocol (ParZC Sec. 4.1-4.2).

Protocol (held-out only). For each seed, ``n_train`` architectures are drawn at random from the
benchmark table; the predictor is trained on their *validation* accuracy (mean over the
benchmark's two training seeds) and evaluated by Kendall's tau and Spearman's rho against the
*test* accuracy of every **other** architecture. The official NAS-Bench-201 evaluation
(``eval_split='all'``) scores the predictor on all 15,625 architectures, the training ones
included; this chapter never does.

Baselines on the same held-out architectures: every single proxy (the classical sum over the
network, higher = better, signs never flipped after the fact).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, rankdata, spearmanr

from reprobook.core.progress import Progress
from reprobook.core.seeds import derive_seed

from . import training
from .features import features, node_sum, single_score
from .mabn import MABNConfig
from .proxies import PROXIES


def seed_columns(df: pd.DataFrame, split: str) -> list[str]:
    cols = sorted(c for c in df.columns if c.startswith(f"{split}_acc_s"))
    if not cols:
        raise KeyError(f"the benchmark table has no {split}_acc_s<seed> columns")
    return cols


def ground_truth(df: pd.DataFrame, split: str = "test") -> np.ndarray:
    """Accuracy on ``split`` (val or test), averaged over the benchmark's training seeds."""
    return df[seed_columns(df, split)].to_numpy(dtype=np.float64).mean(axis=1)


def tau(a: np.ndarray, b: np.ndarray) -> float:
    return float(kendalltau(a, b)[0])


def rho(a: np.ndarray, b: np.ndarray) -> float:
    return float(spearmanr(a, b)[0])


def seed_tau(df: pd.DataFrame, idx: np.ndarray | None = None, split: str = "test") -> float:
    """Kendall tau between the first two training seeds' accuracies (rows ``idx``)."""
    a, b = (df[c].to_numpy() for c in seed_columns(df, split)[:2])
    return tau(a, b) if idx is None else tau(a[idx], b[idx])


def noise_ceiling(df: pd.DataFrame) -> dict[str, float]:
    """How reproducible the benchmark's own ranking is: seed 0 against seed 1 on each split,
    and the validation mean (training target) against the test mean (evaluation target)."""
    out = {}
    for split in ("val", "test"):
        a, b = (df[c].to_numpy() for c in seed_columns(df, split)[:2])
        out[f"tau_{split}_seed0_vs_seed1"] = tau(a, b)
        out[f"rho_{split}_seed0_vs_seed1"] = rho(a, b)
        out[f"mean_abs_diff_{split}"] = float(np.mean(np.abs(a - b)))
    out["tau_val_vs_test"] = tau(ground_truth(df, "val"), ground_truth(df, "test"))
    conv = np.flatnonzero(df.n_convs.to_numpy() >= 2)
    out["tau_test_seed0_vs_seed1_convs_ge_2"] = seed_tau(df, conv)
    return out


def noise_parts(df: pd.DataFrame, n_test: int) -> dict[str, float]:
    """Where the disagreement between the two seeds comes from (test accuracy):

    - ``sd_between``: spread of the architectures' true accuracies, sqrt(var(mean) - var(d)/4)
      with d = seed 0 - seed 1 (the mean of two seeds carries half the per-seed noise);
    - ``sd_seed``: one run's noise around its architecture's accuracy, sqrt(var(d) / 2);
    - ``sd_eval``: the part of it a finite test set alone explains, the binomial
      sqrt(p (1 - p) / n_test) at each architecture's accuracy (root mean square);
    - ``icc``: the share of one run's variance that is the architecture's, sd_between^2 /
      (sd_between^2 + sd_seed^2)."""
    a, b = (df[c].to_numpy(dtype=np.float64) for c in seed_columns(df, "test")[:2])
    d, m = a - b, (a + b) / 2
    v_seed = float(np.var(d, ddof=1) / 2)
    v_between = max(float(np.var(m, ddof=1) - v_seed / 2), 0.0)
    v_eval = float(np.mean(m * (1 - m)) / n_test)
    return {"n_test": n_test, "sd_between": v_between ** 0.5, "sd_seed": v_seed ** 0.5,
            "sd_eval": v_eval ** 0.5, "eval_share_of_seed_var": v_eval / v_seed if v_seed else
            float("nan"), "icc": v_between / (v_between + v_seed) if v_between + v_seed else
            float("nan")}


def strata_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per number of live convolutions: size, accuracy (mean of seeds) and the seed-to-seed
    Kendall tau *within* the stratum (how well the finer ranking reproduces)."""
    acc = ground_truth(df, "test")
    rows = []
    for k, idx in df.groupby("n_convs").indices.items():
        rows.append({"n_convs": int(k), "count": len(idx), "mean": float(acc[idx].mean()),
                     "std": float(acc[idx].std(ddof=1)) if len(idx) > 1 else np.nan,
                     "max": float(acc[idx].max()),
                     "tau seed 0 vs 1 within": seed_tau(df, idx) if len(idx) > 2 else np.nan})
    return pd.DataFrame(rows)


def proxy_table(df: pd.DataFrame, idx: np.ndarray | None = None) -> pd.DataFrame:
    """Kendall tau / Spearman rho of every single proxy with the test accuracy: the classical
    whole-network sum, and the plain sum of per-node means (every node weighted alike)."""
    d = df if idx is None else df.iloc[idx]
    y = ground_truth(d, "test")
    rows = []
    for p in PROXIES:
        s, n = single_score(d, p), node_sum(d, p)
        rows.append({"proxy": p, "tau (network sum)": tau(s, y), "rho (network sum)": rho(s, y),
                     "tau (sum of node means)": tau(n, y), "rho (sum of node means)": rho(n, y)})
    return pd.DataFrame(rows)


def best_proxy(df: pd.DataFrame) -> str:
    """The proxy with the highest tau on the whole table (an oracle choice that favours the
    baseline: a practitioner could not pick it without labels)."""
    t = proxy_table(df)
    return str(t.loc[t["tau (network sum)"].idxmax(), "proxy"])


def split_indices(n: int, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random training set of ``n_train`` rows and the held-out rest."""
    if not 2 <= n_train < n:
        raise ValueError(f"n_train must lie in 2..{n - 1} for a table of {n}, got {n_train}")
    rng = np.random.default_rng(derive_seed(seed, "parzc-train-split", n_train))
    perm = rng.permutation(n)
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])


@dataclass(frozen=True)
class Variant:
    """One predictor configuration of the comparison grid."""

    name: str
    model: dict[str, Any] = field(default_factory=dict)  # MABNConfig overrides
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides


#: The grid's variants (names are what the tables and claims show).
VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("ParZC (DiffKendall)"),
    Variant("ParZC (MSE)", train={"loss": "mse"}),
    Variant("no Bayesian layers", model={"bayesian": False}),
    Variant("code token mixing", model={"mixing": "code"}),
    Variant("Bayes-by-Backprop KL", train={"beta": 1.0}),
    Variant("DiffKendall code form", train={"form": "code", "a": 0.5}),
)}


def check_variants(names: list[str] | tuple[str, ...]) -> list[Variant]:
    bad = [n for n in names if n not in VARIANTS]
    if bad:
        raise ValueError(f"unknown predictor variant {bad[0]!r}; known: {list(VARIANTS)}")
    return [VARIANTS[n] for n in names]


@dataclass
class Result:
    variant: str
    n_train: int
    seed: int
    tau: float
    rho: float
    tau_best_proxy: float
    tau_all: float  # scored on every architecture, training ones included (official protocol)
    ceiling: float  # seed 0 vs seed 1 of the benchmark on the same held-out architectures
    test_idx: np.ndarray
    pred: np.ndarray
    std: np.ndarray


def run_one(df: pd.DataFrame, z: np.ndarray, variant: Variant, n_train: int, seed: int,
            base_model: MABNConfig, base_train: training.TrainConfig, proxy: str,
            device: str = "cpu") -> Result:
    tr, te = split_indices(len(df), n_train, seed)
    y_val, y_test = ground_truth(df, "val"), ground_truth(df, "test")
    mcfg = replace(base_model, **variant.model)
    tcfg = replace(base_train, **variant.train)
    fitted = training.fit(z[tr], y_val[tr], mcfg, tcfg,
                          seed=derive_seed(seed, "parzc-fit", variant.name, n_train),
                          device=device)
    pred_all, std_all = fitted.predict(z, seed=derive_seed(seed, "parzc-mc"))
    pred, std = pred_all[te], std_all[te]
    s = single_score(df.iloc[te], proxy)
    return Result(variant.name, n_train, seed, tau(pred, y_test[te]), rho(pred, y_test[te]),
                  tau(s, y_test[te]), tau(pred_all, y_test), seed_tau(df, te), te, pred, std)


def run_grid(df: pd.DataFrame, jobs: list[tuple[str, int]], seeds: list[int],
             base_model: MABNConfig, base_train: training.TrainConfig,
             layout: str = "packed", device: str = "cpu") -> list[Result]:
    """Every (variant, n_train) job under every seed, on held-out architectures only."""
    z = features(df, layout=layout)
    proxy = best_proxy(df)
    variants = {v.name: v for v in check_variants([j[0] for j in jobs])}
    out = []
    with Progress(len(jobs) * len(seeds), "ParZC fits", unit="fit") as bar:
        for seed in seeds:
            for name, n in jobs:
                out.append(run_one(df, z, variants[name], n, seed, base_model, base_train,
                                   proxy, device))
                bar.update(note=f"{name}, n={n}, seed {seed}: tau {out[-1].tau:.3f}")
    return out


def results_frame(results: list[Result]) -> pd.DataFrame:
    return pd.DataFrame([{"variant": r.variant, "n_train": r.n_train, "seed": r.seed,
                          "tau": r.tau, "rho": r.rho, "tau_best_proxy": r.tau_best_proxy,
                          "tau_all": r.tau_all, "ceiling": r.ceiling}
                         for r in results])


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean +- std over seeds of tau and rho, per variant and training-set size."""
    g = frame.groupby(["variant", "n_train"], sort=False)
    out = g.agg(seeds=("seed", "count"), tau_mean=("tau", "mean"), tau_std=("tau", "std"),
                rho_mean=("rho", "mean"), rho_std=("rho", "std"),
                best_proxy_tau=("tau_best_proxy", "mean"),
                ceiling=("ceiling", "mean")).reset_index()
    return out.round(4)


def paired(frame: pd.DataFrame, a: str, b: str, n_train: int | None = None,
           col: str = "tau") -> list[float]:
    """Per-(seed, n_train) differences a - b (``b="best proxy"`` uses a's baseline column)."""
    fa = frame[frame.variant == a]
    if n_train is not None:
        fa = fa[fa.n_train == n_train]
    if b == "best proxy":
        return (fa[col] - fa["tau_best_proxy"]).round(10).tolist()
    fb = frame[frame.variant == b].set_index(["seed", "n_train"])[col]
    return [round(float(getattr(r, col) - fb.loc[(r.seed, r.n_train)]), 10)
            for r in fa.itertuples() if (r.seed, r.n_train) in fb.index]


def ablation_table(frame: pd.DataFrame, base: str, variants: list[str], n_train: int
                   ) -> pd.DataFrame:
    """Each variant's tau at ``n_train`` and its paired difference to ``base`` (mean, std)."""
    rows = []
    for v in variants:
        d = paired(frame, v, base, n_train)
        t = frame[(frame.variant == v) & (frame.n_train == n_train)].tau
        rows.append({"variant": v, "n_train": n_train, "tau mean": t.mean(), "tau std": t.std(),
                     f"diff vs {base} (mean)": np.mean(d),
                     "diff (std)": np.std(d, ddof=1) if len(d) > 1 else np.nan})
    return pd.DataFrame(rows)


def leak_table(frame: pd.DataFrame, variant: str, n_train: int) -> pd.DataFrame:
    """Held-out tau against the official protocol's tau (training architectures included)."""
    f = frame[(frame.variant == variant) & (frame.n_train == n_train)]
    return pd.DataFrame({"seed": f.seed.to_numpy(), "tau held-out": f.tau.to_numpy(),
                         "tau all (official, leaks)": f.tau_all.to_numpy(),
                         "inflation": (f.tau_all - f.tau).to_numpy()})


def uncertainty_vs_error(r: Result, y_test: np.ndarray) -> dict[str, float]:
    """Spearman correlation between the MC std and the absolute rank error of each held-out
    architecture (rank of prediction minus rank of truth, as a fraction of the set)."""
    n = len(r.pred)
    err = np.abs(rankdata(r.pred) - rankdata(y_test[r.test_idx])) / n
    return {"rho_std_error": rho(r.std, err), "mean_std": float(np.mean(r.std))}
