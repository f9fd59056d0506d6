"""The serving experiment (BurstGPT's vLLM evaluation): the same mean rate, different arrival processes.

``arrival_workloads`` builds, for one mean rate and one seed, a Poisson workload, Gamma workloads
of the given shapes, and a replay of a real trace sped up or slowed down to that rate; lengths are
bootstrapped from the same trace (pairs that fit the model's context), so the workloads differ
only in *when* requests arrive. ``compare`` simulates each over several seeds; ``sweep`` over
several rates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reprobook.core.progress import progress
from reprobook.core.seeds import derive_seed

from .generator import Workload, gamma_arrivals, make_workload, replay
from .latency import LatencyModel
from .simulator import ServerConfig, SimResult, simulate


def arrival_workloads(trace: pd.DataFrame, rate: float, duration: float, shapes: list[float],
                      seed: int, max_total: int, replay_trace: bool = True) -> list[Workload]:
    """Poisson, Gamma(k) for each k in ``shapes``, and trace replay, at ``rate`` requests/s."""
    out = []
    for k in [1.0, *shapes]:
        rng = np.random.default_rng(derive_seed(seed, "arrivals", k))
        name = "Poisson" if k == 1.0 else f"Gamma k={k:g}"
        out.append(make_workload(name, gamma_arrivals(rate, k, duration, rng), trace, rng,
                                 max_total=max_total))
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
    """Simulator speed: iterations per wall second, and the speed-up over real-time replay."""
    wall = max(result.counters["wall_s"], 1e-9)
    return {"iterations_per_s": result.counters["iterations"] / wall,
            "requests_per_s": len(result.requests) / wall,
            "speedup_vs_real_time": workload_span_s / wall}


def paired(df: pd.DataFrame, metric: str, method: str, baseline: str = "Poisson") -> list[float]:
    """Per-seed differences ``metric(method) - metric(baseline)`` (seeds present in both)."""
    a = df[df["arrivals"] == method].set_index("seed")[metric]
    b = df[df["arrivals"] == baseline].set_index("seed")[metric]
    common = sorted(set(a.index) & set(b.index))
    return [float(a[s] - b[s]) for s in common]
