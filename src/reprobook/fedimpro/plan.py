"""The time plan of a grid of federated runs, printed before the grid starts.

The paper's setting (Sec. 5.1: ResNet-18, CIFAR-10, R = 1000 rounds, several methods, seeds and
Dirichlet concentrations) is long on one GPU, so the notebooks print what a grid will cost before
running it. :func:`calibrate` times a few real local steps of every distinct (model, method) of the
grid on the run's device (random inputs of the data's shape, ~1 s); :func:`estimate` turns that into
seconds per run from the grid's sizes:

  rounds x [K/M x N_train x E x t_step + N_test x t_eval]  +  measurements x objectives x N_train x t_grad

with t_step the measured seconds per training sample of the method, t_eval = t_step / 3 (a
forward pass is about a third of forward + backward + update) and t_grad = t_step (the
gradient-dissimilarity pass is a forward + backward without the update). Cached runs cost nothing.

Runs in parallel: on the CPU ``workers`` processes of one thread each scale with the cores; on one
GPU several processes share the device and overlap their small-batch kernels, with an aggregate
gain that the book *assumes* (:data:`GPU_PARALLEL_GAIN`, not measured: no GPU was available when
this was written; the gpu-smoke check records one process's seconds per round).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace

import pandas as pd
import torch

from .experiments import Job, cached_data, is_cached
from .features import FeatureDistribution
from .federation import Server, run_client, zero_control

#: Aggregate throughput of >= 2 processes sharing one GPU relative to one process (assumption).
GPU_PARALLEL_GAIN = 2.5
EVAL_FRACTION = 1 / 3  # forward-only cost relative to a training step (forward + backward + update)


@dataclass
class Plan:
    table: pd.DataFrame  # one row per label: runs, cached, rounds, estimated seconds
    seconds: float       # wall-clock estimate of the whole grid
    workers: int
    gain: float
    device: str

    def describe(self) -> str:
        todo = int(self.table["runs"].sum() - self.table["cached"].sum())
        h = self.seconds / 3600
        when = (f"{h:.1f} h" if h >= 1 else f"{self.seconds / 60:.1f} min" if self.seconds >= 120
                else f"{self.seconds:.0f} s")
        return (f"plan: {todo} runs to train ({int(self.table['cached'].sum())} cached), "
                f"estimated {when} on {self.device} with {self.workers} worker(s) "
                f"(parallel gain {self.gain:g})")


def _key(job: Job) -> tuple:
    return (job.setup.dataset, job.setup.side, job.setup.model, job.setup.split,
            job.setup.width, job.setup.hidden, job.config.method, job.config.batch_size,
            job.config.impro.feature_ratio, job.config.augment, job.device)


def calibrate(job: Job, steps: int = 12) -> float:
    """Seconds per training sample of ``job``'s method and model on its device (one warm-up
    batch, then ``steps`` timed batches of a client on random data of the data's shape)."""
    data = cached_data(job.setup.dataset, job.setup.side)
    cfg = replace(job.config, epochs=1)
    dev = torch.device(job.device)
    torch.manual_seed(0)
    model = job.setup.model_fn(data)
    bc = Server(model, cfg, 1).broadcast()
    model.to(dev)
    if cfg.method == "fedimpro":
        bc.round = cfg.impro.warmup_rounds + 1
        bc.dist = FeatureDistribution(torch.zeros(data.n_classes, model.feature_dim),
                                      torch.ones(data.n_classes, model.feature_dim))
    b = cfg.batch_size
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b * (steps + 1), *data.shape, generator=g).to(dev)
    y = torch.randint(0, data.n_classes, (len(x),), generator=g).to(dev)
    control = zero_control(model) if cfg.method == "scaffold" else None
    run_client(model, bc, x[:b], y[:b], cfg, seed=0, client=0, n_classes=data.n_classes,
               control=control)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    run_client(model, bc, x[b:], y[b:], cfg, seed=0, client=0, n_classes=data.n_classes,
               control=control)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return (time.perf_counter() - t0) / (b * steps)


def run_seconds(job: Job, t_step: float, t_real: float, n_train: int, n_test: int) -> float:
    """Estimated seconds of one run from per-sample costs (module docstring)."""
    c = job.config
    per_round = (c.clients_per_round / job.setup.n_clients * n_train * c.epochs * t_step
                 + n_test * t_real * EVAL_FRACTION / c.eval_every)
    measures = 0
    if c.measure_every:
        measures = len({r for r in range(1, c.rounds + 1)
                        if r % c.measure_every == 0 or r in (1, c.rounds)})
    elif job.final:
        measures = 1
    objectives = 3 if c.method == "fedimpro" else 1
    return c.rounds * per_round + measures * objectives * n_train * t_real


def estimate(jobs: list[Job], workers: int) -> Plan:
    """The grid's estimated wall time (calibrated on its device; cached runs excluded)."""
    costs: dict[tuple, float] = {}
    rows = []
    device = jobs[0].device if jobs else "cpu"
    for job in dict.fromkeys(jobs):
        cached = is_cached(job)
        seconds = 0.0
        if not cached:
            for j in (job, replace(job, config=replace(job.config, method="fedavg"))):
                if _key(j) not in costs:
                    costs[_key(j)] = calibrate(j)
            data = cached_data(job.setup.dataset, job.setup.side)
            fedavg = replace(job, config=replace(job.config, method="fedavg"))
            seconds = run_seconds(job, costs[_key(job)], costs[_key(fedavg)],
                                  len(data.y_train), len(data.y_test))
        rows.append({"label": job.label, "runs": 1, "cached": int(cached),
                     "rounds": job.config.rounds, "est. s": seconds})
    table = (pd.DataFrame(rows).groupby("label", sort=False)
             .agg({"runs": "sum", "cached": "sum", "rounds": "max", "est. s": "sum"})
             .reset_index())
    if device.startswith("cuda"):
        gain = GPU_PARALLEL_GAIN if workers >= 2 else 1.0
    else:
        gain = float(max(1, min(workers, os.cpu_count() or 1)))
    todo = int(table["runs"].sum() - table["cached"].sum())
    gain = min(gain, max(1, todo))
    return Plan(table, float(table["est. s"].sum()) / gain, workers, gain, device)
