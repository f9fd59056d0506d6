"""The headline analysis: how many RTX 3080s match 4 H100s (paper: "50 RTX 3080 GPUs can achieve
throughputs comparable to those of 4 H100 GPUs"), per workload and link bandwidth.

A fleet of N identical GPUs behind links of bandwidth B and latency alpha runs R = N // K
pipeline replicas of at most K stages each (the scheduler's optimal partition for identical
devices, :func:`.scheduler.homogeneous_plan`), every stage within its device's memory.
Throughput is the best over K (and, for decoding, over sequences per micro-batch b and
micro-batches in flight m) of:

- training: R m b s / (makespan(m) + ring all-reduce over R replicas), with m = ceil(batch / (R b))
  so that every N trains the same global batch;
- prefill: R m b s / makespan(m);
- decode: R m b / round, where a round gives every sequence one token (:func:`.perfmodel.
  decode_round_time`) and the KV cache of all m b sequences must fit.

The 4-H100 baseline is the same model with NVLink inside one server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import constants as K_
from .dag import UnitCosts, llama_dag, unit_costs
from .llama import named_config
from .perfmodel import decode_round_time, pipeline_makespan, ring_allreduce_time
from .scheduler import Device, InfeasibleError, Job, homogeneous_plan


@dataclass(frozen=True)
class Workload:
    """One workload of the headline. ``seq_len`` is the prompt (training, prefill) or the context
    whose KV cache every decoding step reads."""

    name: str
    kind: str
    seq_len: int = 2048
    batch: int = 512  # training: sequences per iteration
    recompute: bool = True
    b_grid: tuple[int, ...] = (1,)
    m_grid: tuple[int, ...] = (64,)


WORKLOADS: dict[str, Workload] = {
    "training": Workload("training", "train", 2048, batch=512, recompute=True),
    "prefill": Workload("prefill", "prefill", 2048, b_grid=(1,), m_grid=(64,)),
    "decode": Workload("decode", "decode", 2048, b_grid=(1, 2, 4, 8, 16, 32, 64),
                       m_grid=(1, 2, 4, 8, 16, 32)),
}


@lru_cache(maxsize=16)
def model_costs(model: str, seq_len: int) -> UnitCosts:
    return unit_costs(llama_dag(named_config(model), seq_len), source=model)


def gpu_device(gpu: str, bandwidth: float, latency: float, name: str = "gpu") -> Device:
    g = K_.GPUS[gpu]
    return Device(name, gpu, g.flops, g.memory, g.mem_bw, bandwidth, latency)


@dataclass
class FleetCurve:
    """Best throughput (tokens/s) of a fleet of n = 0..n_max devices, with its configuration."""

    throughput: np.ndarray
    config: list[dict | None] = field(default_factory=list)


def fleet_curve(workload: Workload, gpu: str, n_max: int, bandwidth: float, latency: float,
                model: str = "llama2-7b", eta: float = K_.ETA, eta_mem: float = K_.ETA_MEM
                ) -> FleetCurve:
    """Throughput of 0..n_max identical ``gpu``s behind links (``bandwidth``, ``latency``)."""
    costs = model_costs(model, workload.seq_len)
    dev = gpu_device(gpu, bandwidth, latency)
    n = np.arange(n_max + 1)
    best = np.zeros(n_max + 1)
    conf: list[dict | None] = [None] * (n_max + 1)
    blocks = sum(u.startswith("block") for u in costs.names)
    ms = workload.m_grid if workload.kind != "train" else (None,)
    for K in range(1, min(n_max, blocks) + 1):
        for b in workload.b_grid:
            for m in ms:
                job = Job(costs, workload.kind, b=b, m=m or K, recompute=workload.recompute,
                          eta=eta, eta_mem=eta_mem)
                try:
                    p = homogeneous_plan(job, dev, K)
                except InfeasibleError:
                    continue
                R = n // K
                tp = _throughput(workload, p, R, b, m, costs, bandwidth)
                better = tp > best
                best = np.where(better, tp, best)
                for i in np.flatnonzero(better):
                    conf[i] = {"K": len(p.stages), "R": int(R[i]), "b": b,
                               "m": int(m or _train_m(workload, int(R[i]), b))}
    return FleetCurve(best, conf)


def _train_m(w: Workload, R: int, b: int) -> int:
    return max(1, math.ceil(w.batch / max(R, 1) / b))


def _throughput(w: Workload, p, R: np.ndarray, b: int, m: int | None, costs: UnitCosts,
                bandwidth: float) -> np.ndarray:
    t, c = p.t, p.c
    out = np.zeros(len(R))
    ok = R >= 1
    if w.kind == "train":
        P_max = max(costs.params[s.start:s.stop].sum() for s in p.stages)
        r = np.maximum(R, 1)
        mm = np.maximum(1, np.ceil(w.batch / r / b))
        fill, bn = sum(t) + sum(c), max(max(t), max(c))
        ar = np.array([ring_allreduce_time(P_max, int(x), bandwidth) for x in r])
        out[ok] = (R * mm * b * w.seq_len / (fill + (mm - 1) * bn + ar))[ok]
    elif w.kind == "prefill":
        out[ok] = R[ok] * m * b * w.seq_len / pipeline_makespan(t, c, m)
    else:
        out[ok] = R[ok] * m * b / decode_round_time(t, c, m)
    return out


def baseline_throughput(workload: Workload, gpu: str = K_.PAPER_BASELINE_GPU,
                        n: int = K_.PAPER_BASELINE_N, **kw) -> tuple[float, dict | None]:
    """Throughput of the n-GPU server (NVLink) on ``workload``."""
    bw = K_.NVLINK_H100_SXM if gpu == "h100_sxm" else K_.NVLINK_BRIDGE_H100_PCIE
    cur = fleet_curve(workload, gpu, n, bw, K_.INTRA_NODE_LATENCY, **kw)
    return float(cur.throughput[n]), cur.config[n]


def n_to_match(curve: FleetCurve, target: float) -> float:
    """The smallest N whose throughput reaches ``target`` (inf if none up to n_max)."""
    hit = np.flatnonzero(curve.throughput >= target * (1 - 1e-12))
    return float(hit[0]) if len(hit) else math.inf


def peak_compute_ratio(n_fleet: int = K_.PAPER_FLEET_N, fleet_gpu: str = K_.PAPER_FLEET_GPU,
                       n_base: int = K_.PAPER_BASELINE_N, base_gpu: str = K_.PAPER_BASELINE_GPU
                       ) -> float:
    """n_fleet F_fleet / (n_base F_base): the ratio of peak FLOP/s, no communication."""
    return n_fleet * K_.GPUS[fleet_gpu].flops / (n_base * K_.GPUS[base_gpu].flops)
