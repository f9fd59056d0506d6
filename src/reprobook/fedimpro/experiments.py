"""What the notebooks run: grids of federated runs over methods, seeds and knobs, in parallel.

Each job is one :func:`reprobook.fedimpro.federation.run_federation` in a worker process with one
torch thread (on 2 cores two such workers beat one process with two threads for a model this
small). A job's result depends only on its spec, so the grid gives the same numbers sequentially,
in parallel, or in any order.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

import multiprocessing as mp
import numpy as np
import pandas as pd
import torch

from reprobook.core.progress import progress

from . import metrics
from .data import ImageData, load
from .federation import FedConfig, FedResult, run_federation
from .methods import ImproConfig
from .model import SplitModel, build
from .partition import dirichlet_partition


@dataclass(frozen=True)
class Setup:
    """Data, partition and model of a run (the partition's seed is the run's seed)."""

    dataset: str = "mnist5k"
    side: int = 14
    n_clients: int = 10
    alpha: float = 0.05
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
    keep_state: bool = False
    device: str = "cpu"


@dataclass
class JobResult:
    label: str
    seed: int
    method: str
    history: list[dict[str, float]]
    seconds: float
    state: dict[str, torch.Tensor] | None = None
    dist: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=4)
def cached_data(dataset: str, side: int) -> ImageData:
    return load(dataset, seed=0, side=side)


def partition_for(setup: Setup, seed: int) -> list[np.ndarray]:
    data = cached_data(setup.dataset, setup.side)
    return dirichlet_partition(data.y_train.numpy(), setup.n_clients, setup.alpha, seed=seed)


def run_job(job: Job, threads: int = 1) -> JobResult:
    torch.set_num_threads(threads)
    data = cached_data(job.setup.dataset, job.setup.side)
    parts = partition_for(job.setup, job.seed)
    res: FedResult = run_federation(data, parts, job.config, lambda: job.setup.model_fn(data),
                                    seed=job.seed, device=job.device)
    out = JobResult(job.label, job.seed, job.config.method, res.history, res.seconds)
    if job.keep_state:
        out.state, out.dist = res.final_state, res.dist
        if res.dist is not None:
            xs = [data.x_train[torch.as_tensor(p)].to(job.device) for p in parts]
            ys = [data.y_train[torch.as_tensor(p)].to(job.device) for p in parts]
            model = job.setup.model_fn(data).to(job.device)
            out.extra["w2"] = metrics.conditional_wasserstein(
                model, res.final_state, xs, ys, res.dist, data.n_classes, job.config.impro.feature_ratio)
    return out


def run_jobs(jobs: list[Job], workers: int = 2, desc: str = "federated runs") -> list[JobResult]:
    """Run ``jobs`` (in ``workers`` processes when > 1); results in the order of ``jobs``."""
    if workers <= 1:
        return [run_job(j) for j in progress(jobs, total=len(jobs), desc=desc)]
    ctx = mp.get_context("spawn")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(run_job, j) for j in jobs]
        return [f.result() for f in progress(futures, total=len(futures), desc=desc)]


def method_jobs(setup: Setup, base: FedConfig, methods: Iterable[str], seeds: Iterable[int],
                **kw: Any) -> list[Job]:
    return [Job(m, setup, replace(base, method=m), s, **kw) for m in methods for s in seeds]


def history_frame(results: list[JobResult]) -> pd.DataFrame:
    """Long table: one row per (label, seed, round) with every recorded metric."""
    rows = [{"label": r.label, "seed": r.seed, "method": r.method, **h} for r in results for h in r.history]
    return pd.DataFrame(rows)


def summary(results: list[JobResult], last: int = 5) -> pd.DataFrame:
    """Per run: best test accuracy (the paper's Table 1 statistic) and the mean of the last rounds."""
    rows = []
    for r in results:
        acc = np.array([h["test_acc"] for h in r.history if "test_acc" in h])
        rows.append({"label": r.label, "seed": r.seed, "best_acc": float(acc.max()),
                     "last_acc": float(acc[-last:].mean()), "seconds": r.seconds})
    return pd.DataFrame(rows)


def table1(summ: pd.DataFrame, order: list[str] | None = None) -> pd.DataFrame:
    """Mean +- std over seeds per label, as percentages (the paper's Table 1 format)."""
    g = summ.groupby("label", sort=False)
    out = pd.DataFrame({
        "best acc % (mean ± std)": g["best_acc"].agg(lambda s: f"{100 * s.mean():.2f} ± {100 * s.std(ddof=1) if len(s) > 1 else 0.0:.2f}"),
        "last-5 acc % (mean ± std)": g["last_acc"].agg(lambda s: f"{100 * s.mean():.2f} ± {100 * s.std(ddof=1) if len(s) > 1 else 0.0:.2f}"),
        "seeds": g["seed"].count(),
        "s per run": g["seconds"].mean().round(1),
    })
    if order:
        out = out.loc[[o for o in order if o in out.index]]
    return out


def paired(summ: pd.DataFrame, a: str, b: str, col: str = "best_acc") -> list[float]:
    """Per-seed differences a - b (seeds both labels ran)."""
    pa = summ[summ.label == a].set_index("seed")[col]
    pb = summ[summ.label == b].set_index("seed")[col]
    common = sorted(set(pa.index) & set(pb.index))
    return [float(pa[s] - pb[s]) for s in common]


def impro(**kw: Any) -> ImproConfig:
    return ImproConfig(**kw)


def table1_by_alpha(summaries: dict[float, pd.DataFrame], order: list[str] | None = None) -> pd.DataFrame:
    """Best accuracy % (mean ± std over seeds) per method (rows) and Dirichlet a (columns), the
    layout of the paper's Table 1."""
    cols = {f"a = {a:g}": table1(s, order)["best acc % (mean ± std)"] for a, s in summaries.items()}
    return pd.DataFrame(cols)
