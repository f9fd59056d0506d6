"""What notebook 3 runs: churn with and without the backup pool, on the SimPy backend at 50 to
1,000 virtual devices and on the Ray backend at a few actors, and the two compared.

Rates are per hour in the parameters and per second inside (:mod:`.churn`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reprobook.core.progress import progress
from reprobook.core.seeds import derive_seed

from .backend import RunTrace
from .broker import Broker
from .churn import ChurnEvent, random_fleet, schedule
from .dag import llama_dag, unit_costs
from .llama import LlamaConfig, build, named_config, synthetic_tokens
from .perfmodel import pipeline_makespan
from .scheduler import Device, InfeasibleError, Job, equal_partition, plan
from .simbackend import SimPyBackend

HOUR = 3600.0


@dataclass(frozen=True)
class SimScenario:
    """Training a model on a *synthetic* heterogeneous fleet under churn (SimPy)."""

    model: str = "llama2-7b"
    seq_len: int = 2048
    m: int = 4
    n_devices: int = 50
    replicas: int = 2
    iterations: int = 100
    quit_per_hour: float = 1.0  # per device: mean session 1 h
    bw_per_hour: float = 1.0  # bandwidth drops per device per hour
    heartbeat_s: float = 5.0
    timeout_s: float = 15.0

    def job(self) -> Job:
        c = unit_costs(llama_dag(named_config(self.model), self.seq_len), source=self.model)
        return Job(c, "train", b=1, m=self.m, recompute=True)


def sim_run(sc: SimScenario, seed: int, use_pool: bool, churn: bool = True,
            job: Job | None = None) -> tuple[RunTrace, Broker, float]:
    """One SimPy run; returns the trace, the broker and the wall seconds it took."""
    job = job or sc.job()
    fleet = random_fleet(sc.n_devices, seed)
    broker = Broker.start(job, fleet, replicas=sc.replicas, use_pool=use_pool,
                          heartbeat_s=sc.heartbeat_s, timeout_s=sc.timeout_s)
    horizon = 20 * sc.iterations * max(p.makespan() for p in broker.replicas)
    q = sc.quit_per_hour / HOUR if churn else 0.0
    ev = schedule(fleet, horizon, q, sc.n_devices * q, derive_seed(seed, "churn"),
                  bw_rate=sc.n_devices * sc.bw_per_hour / HOUR if churn else 0.0)
    t0 = time.perf_counter()
    tr = SimPyBackend().run(broker, ev, sc.iterations)
    return tr, broker, time.perf_counter() - t0


def churn_sweep(sc: SimScenario, rates_per_hour: list[float], seeds: list[int]) -> pd.DataFrame:
    """Retained throughput (with churn / without) per quit rate, seed and policy."""
    job, rows = sc.job(), []
    calm = {s: sim_run(sc, s, True, churn=False, job=job)[0].throughput() for s in seeds}
    cases = [(r, s, pool) for r in rates_per_hour for s in seeds for pool in (True, False)]
    for r, s, pool in progress(cases, desc="churn sweep"):
        sc_r = SimScenario(**{**sc.__dict__, "quit_per_hour": r})
        tr, br, _ = sim_run(sc_r, s, pool, job=job)
        rows.append({"quit per device per hour": r, "seed": s,
                     "policy": "backup pool" if pool else "no pool",
                     "completed": tr.done, "throughput tokens/s": tr.throughput(),
                     "retained": tr.throughput() / calm[s] if tr.done == sc.iterations else 0.0,
                     "aborted iterations": tr.aborted, "restore s": tr.restore_s,
                     "stalled s": tr.stalled_s, "replicas at end": len(br.replicas),
                     "error": tr.error})
    return pd.DataFrame(rows)


def paired_pool_gain(df: pd.DataFrame, rate: float) -> list[float]:
    """Per seed at one quit rate: retained(backup pool) - retained(no pool)."""
    d = df[df["quit per device per hour"] == rate].pivot(index="seed", columns="policy",
                                                         values="retained")
    return [float(x) for x in (d["backup pool"] - d["no pool"]).sort_index()]


# -- Ray --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RayScenario:
    """A tiny Llama on a few Ray actors with emulated links."""

    n_layers: int = 4
    hidden: int = 64
    seq_len: int = 32
    b: int = 2
    m: int = 4
    stages: int = 3
    backups: int = 2
    bandwidth: float = 1e6  # bytes/s of every provider's emulated uplink
    latency: float = 0.005
    iterations: int = 12
    heartbeat_s: float = 0.2
    timeout_s: float = 0.5
    seed: int = 0

    def cfg(self) -> LlamaConfig:
        return LlamaConfig(hidden=self.hidden, n_layers=self.n_layers, n_heads=4, n_kv_heads=2,
                           ffn=int(self.hidden * 2.5))

    def job(self) -> Job:
        c = unit_costs(llama_dag(self.cfg(), self.seq_len, dtype_bytes=4), source="tiny llama")
        return Job(c, "train", b=self.b, m=self.m, state_bytes=12.0)  # fp32 weights + Adam m, v

    def memory(self) -> float:
        """Each provider's memory: 90% of the way from the least that lets two providers hold
        the model (under 1F1B, :func:`.scheduler.plan`) to what one provider alone needs, so
        that two survivors can hold the model, one cannot, and the equal 3-stage start fits."""
        job = self.job()

        def need(n: int) -> float:
            lo, hi = 0.0, 4 * (job.state_bytes * float(job.costs.params.sum())
                               + self.m * self.b * float(job.costs.act_bytes.sum()))
            for _ in range(40):
                mid = (lo + hi) / 2
                devs = [Device(f"q{i}", "cpu", 1e10, mid, 1e10, 1e12, 0.0) for i in range(n)]
                try:
                    plan(job, devs)
                    hi = mid
                except InfeasibleError:
                    lo = mid
            return hi

        return need(2) + 0.9 * (need(1) - need(2))

    def devices(self, flops: float = 1e10) -> list[Device]:
        """Identical providers with :meth:`memory` each: two can hold the model, one cannot."""
        mem = self.memory()
        return [Device(f"p{i}", "cpu", flops, mem, 1e10, self.bandwidth, self.latency, "emulated")
                for i in range(self.stages + self.backups)]

    def broker(self, use_pool: bool, flops: float = 1e10) -> Broker:
        devs, job = self.devices(flops), self.job()
        return Broker(job, [equal_partition(job, devs[: self.stages], K=self.stages)],
                      list(devs[self.stages:]) if use_pool else [], use_pool=use_pool,
                      heartbeat_s=self.heartbeat_s, timeout_s=self.timeout_s, max_replicas=1)

    def ray_job(self) -> Any:
        from .ir import from_dag
        from .raybackend import RayJob

        cfg = self.cfg()
        ir = from_dag(llama_dag(cfg, self.seq_len, dtype_bytes=4), ["loss"])
        weights = dict(build(cfg, self.seed).state_dict())

        def batches(it: int) -> list[dict]:
            x, y = synthetic_tokens(cfg, self.b * self.m, self.seq_len,
                                    derive_seed(self.seed, "batch", it))
            return [{"tokens": x[i * self.b:(i + 1) * self.b],
                     "targets": y[i * self.b:(i + 1) * self.b]} for i in range(self.m)]

        return RayJob(ir, weights, batches, self.m)


def ray_churn_events(sc: RayScenario, t_iter: float) -> list[ChurnEvent]:
    """A fixed, replayable schedule in units of the measured iteration time: stage 1's provider
    quits, a new provider joins, stage 2's provider quits."""
    j = Device("join0", "cpu", 1e10, sc.memory(), 1e10, sc.bandwidth, sc.latency, "emulated")
    return [ChurnEvent(2.5 * t_iter, "quit", "p1"), ChurnEvent(4.5 * t_iter, "join", "join0", j),
            ChurnEvent(7.5 * t_iter, "quit", "p2")]


def formula_iteration(stage_times: list[tuple[float, float]], sc: RayScenario) -> float:
    """The makespan formula with the measured per-stage compute (forward + backward) and the
    emulated links (activation and gradient: 2 (latency + bytes / bandwidth)), plus the slowest
    optimizer step."""
    nbytes = sc.b * sc.seq_len * sc.hidden * 4
    c = [2 * (sc.latency + nbytes / sc.bandwidth)] * (len(stage_times) - 1) + [0.0]
    t = [fb for fb, _ in stage_times]
    return pipeline_makespan(t, c, sc.m) + max(st for _, st in stage_times)


def calibrated_flops(stage_times: list[tuple[float, float]], sc: RayScenario) -> float:
    """The FLOP/s that make the performance model's t_k match the measured compute (least
    squares over the stages, one CPU speed for every provider)."""
    job, p = sc.job(), sc.broker(True).replicas[0]
    work = [3 * job.b * float(job.costs.flops[s.start:s.stop].sum()) / job.eta for s in p.stages]
    t = [fb for fb, _ in stage_times]
    return float(np.dot(work, work) / np.dot(work, t))


def sim_replay(sc: RayScenario, flops: float, events: list[ChurnEvent], use_pool: bool
               ) -> RunTrace:
    """The Ray scenario on the SimPy backend, its providers calibrated to the measured speed;
    as on Ray, the churn times count from the end of the first iteration."""
    warm = SimPyBackend().run(sc.broker(use_pool, flops), [], 1).iterations[0].end
    ev = [ChurnEvent(warm + e.time, e.kind, e.device,
                     None if e.joiner is None else Device(
                         e.joiner.name, "cpu", flops, e.joiner.memory, e.joiner.mem_bw,
                         e.joiner.bandwidth, e.joiner.latency, e.joiner.cluster), e.bandwidth)
          for e in events]
    return SimPyBackend().run(sc.broker(use_pool, flops), ev, sc.iterations)


def timeline(trace: RunTrace) -> pd.DataFrame:
    """One row per completed iteration (no rows, the same columns, when none completed)."""
    cols = ["iteration", "start s", "end s", "seconds", "stages", "loss"]
    return pd.DataFrame([(r.index, r.start, r.end, r.end - r.start, r.stages, r.loss)
                         for r in trace.iterations], columns=cols)
