"""The serving experiment (BurstGPT's vLLM evaluation): the same mean rate, different arrival processes.

``arrival_workloads`` builds, for one mean rate and one seed, a Poisson workload, Gamma workloads
of the given shapes, and a replay of a real trace sped up or slowed down to that rate. The Poisson
and Gamma workloads share one sequence of (request, response) lengths bootstrapped from the trace
(pairs that fit the model's context): the i-th request of every workload has the same lengths, so
the workloads differ only in *when* requests arrive. The replay keeps the trace's own lengths. ``compare`` simulates each over several seeds; ``sweep`` over
several rates.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from reprobook.core.progress import progress
from reprobook.core.seeds import derive_seed

from .generator import Workload, bootstrap_lengths, gamma_arrivals, replay
from .latency import LatencyModel
from .simulator import ServerConfig, SimResult, simulate


def arrival_workloads(trace: pd.DataFrame, rate: float, duration: float, shapes: list[float],
                      seed: int, max_total: int, replay_trace: bool = True) -> list[Workload]:
    """Poisson, Gamma(k) for each k in ``shapes``, and trace replay, at ``rate`` requests/s."""
    arrivals = {}
    for k in [1.0, *shapes]:
        rng = np.random.default_rng(derive_seed(seed, "arrivals", k))
        arrivals["Poisson" if k == 1.0 else f"Gamma k={k:g}"] = gamma_arrivals(rate, k, duration,
                                                                               rng)
    n = max(len(t) for t in arrivals.values())
    req, res = bootstrap_lengths(trace, n, np.random.default_rng(derive_seed(seed, "lengths")),
                                 max_total=max_total)
    out = [Workload(name, t, req[: len(t)], res[: len(t)]) for name, t in arrivals.items()]
    if replay_trace:
        ok = trace[(~trace["failed"])
                   & (trace["request_tokens"] + trace["response_tokens"] <= max_total)]
        t = replay(ok["time"].to_numpy(), speedup=rate / (len(ok) / float(ok["time"].iloc[-1])))
        keep = t < duration
        out.append(Workload("trace replay", t[keep], ok["request_tokens"].to_numpy()[keep],
                            ok["response_tokens"].to_numpy()[keep]))
    return out


def _row(w: Workload, r: SimResult, **extra: float) -> dict:
    return {"arrivals": w.name, "rate_measured": w.rate(), **extra, **r.summary(),
            "iterations": r.counters["iterations"], "wall_s": r.counters["wall_s"],
            "simulated_s": r.counters["simulated_s"]}


def compare(trace: pd.DataFrame, rate: float, duration: float, shapes: list[float],
            seeds: list[int], config: ServerConfig, latency: LatencyModel,
            max_total: int) -> tuple[pd.DataFrame, dict[str, SimResult]]:
    """Summaries per (arrival process, seed), and the first seed's full results for plots."""
    rows, first = [], {}
    for seed in progress(seeds, desc=f"serving at {rate:g} req/s"):
        for w in arrival_workloads(trace, rate, duration, shapes, seed, max_total,
                                   replay_trace=(seed == seeds[0])):
            r = simulate(w, latency, config)
            rows.append(_row(w, r, seed=seed, rate=rate))
            if seed == seeds[0]:
                first[w.name] = r
    return pd.DataFrame(rows), first


def sweep(trace: pd.DataFrame, rates: list[float], duration: float, shapes: list[float],
          seed: int, config: ServerConfig, latency: LatencyModel, max_total: int) -> pd.DataFrame:
    """Summaries per (rate, arrival process) for one seed."""
    rows = []
    for rate in progress(rates, desc="rate sweep"):
        for w in arrival_workloads(trace, rate, duration, shapes, seed, max_total):
            rows.append(_row(w, simulate(w, latency, config), seed=seed, rate=rate))
    return pd.DataFrame(rows)


def speed(result: SimResult, workload_span_s: float) -> dict[str, float]:
    """Simulator speed: requests, events (arrivals, completions, failures, preemptions) and
    iterations per wall second, and the speed-up over real-time replay."""
    wall = max(result.counters["wall_s"], 1e-9)
    return {"requests_per_s": len(result.requests) / wall,
            "events_per_s": result.counters["events"] / wall,
            "iterations_per_s": result.counters["iterations"] / wall,
            "speedup_vs_real_time": workload_span_s / wall}


def speed_table(trace: pd.DataFrame, cases: list[tuple[float, float]], latency: LatencyModel,
                configs: dict[str, ServerConfig], seed: int, max_total: int) -> pd.DataFrame:
    """The simulator's speed per (scheduler, rate, duration): Poisson arrivals with the trace's
    lengths, from under- to overload; one row per run with its load and its speed."""
    rows = []
    for (rate, duration), (name, cfg) in itertools.product(cases, configs.items()):
        rng = np.random.default_rng(derive_seed(seed, "speed", rate))
        t = gamma_arrivals(rate, 1.0, duration, rng)
        req, res = bootstrap_lengths(trace, len(t), rng, max_total=max_total)
        r = simulate(Workload("speed", t, req, res), latency, cfg)
        s = r.summary()
        rows.append({"scheduler": name, "rate": rate, "requests": len(t),
                     "failure_rate": s["failure_rate"], "kv_peak": s["kv_peak"],
                     "wall_s": r.counters["wall_s"], **speed(r, duration)})
    return pd.DataFrame(rows)


def paired(df: pd.DataFrame, metric: str, method: str, baseline: str = "Poisson") -> list[float]:
    """Per-seed differences ``metric(method) - metric(baseline)`` (seeds present in both)."""
    a = df[df["arrivals"] == method].set_index("seed")[metric]
    b = df[df["arrivals"] == baseline].set_index("seed")[metric]
    common = sorted(set(a.index) & set(b.index))
    return [float(a[s] - b[s]) for s in common]
