"""Exact references for the scheduler on small cases: enumeration and integer programs (PuLP).

Both solve the problem of :func:`.scheduler.plan` — minimise ``max_k max(t_k, c_k)`` over
contiguous partitions with each device's memory under 1F1B — either with the devices' pipeline
order fixed (``ordered=True``, the dynamic program's problem: they must agree) or free
(``ordered=False``: any subset of devices in any order, which measures what fixing the order
costs). The integer program places stage s (position ``p`` from the back, 1 = last) of units
[a, b) on device d with a binary ``x[d, a, b, p]``.
"""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import numpy as np

from .scheduler import Device, InfeasibleError, Job, check_fleet, evaluate, ordered as order_fleet


def _stage_cost(job: Job, terms: dict, d: Device, a: int, b: int, q: int) -> float:
    T, C, M0, M1 = terms[d.name]
    if M0[a, b] + q * M1[a, b] > d.memory * (1 + 1e-12):
        return math.inf
    return float(max(T[a, b], C[b]))


def _q(job: Job, p: int) -> int:
    return min(job.m, p) if job.inflight_dependent else 0


def brute_force(job: Job, devices: Sequence[Device], ordered: bool = True) -> float:
    """The optimal bottleneck by enumerating device sequences and compositions of the units."""
    devs = order_fleet(devices) if ordered else check_fleet(devices)
    terms = {d.name: job.terms(d) for d in devs}
    L, best = job.L, math.inf
    for K in range(1, min(len(devs), L) + 1):
        seqs = (itertools.combinations(devs, K) if ordered else itertools.permutations(devs, K))
        seqs = list(seqs)
        for cuts in itertools.combinations(range(1, L), K - 1):
            bounds = (0, *cuts, L)
            for seq in seqs:
                worst = 0.0
                for k, d in enumerate(seq):
                    worst = max(worst, _stage_cost(job, terms, d, bounds[k], bounds[k + 1],
                                                   _q(job, K - k)))
                    if worst >= best:
                        break
                best = min(best, worst)
    if not math.isfinite(best):
        raise InfeasibleError("no partition of the model fits the fleet")
    return best


def ilp(job: Job, devices: Sequence[Device], ordered: bool = True, time_limit: float = 60.0
        ) -> tuple[float, list[tuple[Device, int, int]]]:
    """The optimal bottleneck and assignment by a mixed-integer program (PuLP + CBC)."""
    import pulp

    devs = order_fleet(devices) if ordered else check_fleet(devices)
    terms = {d.name: job.terms(d) for d in devs}
    L, N = job.L, len(devs)
    P = min(N, L)
    prob = pulp.LpProblem("fusionai_partition", pulp.LpMinimize)
    T = pulp.LpVariable("T", lowBound=0)
    x: dict[tuple[int, int, int, int], pulp.LpVariable] = {}
    cost: dict[tuple[int, int, int, int], float] = {}
    for i, d in enumerate(devs):
        for a in range(L):
            for b in range(a + 1, L + 1):
                for p in range(1, P + 1):
                    if (b == L) != (p == 1):
                        continue  # the last stage, and only it, ends at the last unit
                    v = _stage_cost(job, terms, d, a, b, _q(job, p))
                    if math.isfinite(v):
                        x[i, a, b, p] = pulp.LpVariable(f"x_{i}_{a}_{b}_{p}", cat="Binary")
                        cost[i, a, b, p] = v
    if not x:
        raise InfeasibleError("no stage of the model fits any device")
    scale = max(cost.values())
    prob += T
    for key, var in x.items():
        prob += T >= cost[key] / scale * var
    for u in range(L):
        prob += pulp.lpSum(v for (i, a, b, p), v in x.items() if a <= u < b) == 1
    for i in range(N):
        prob += pulp.lpSum(v for (j, a, b, p), v in x.items() if j == i) <= 1
    for cut in range(1, L):
        for p in range(2, P + 1):
            ends = [v for (i, a, b, q), v in x.items() if b == cut and q == p]
            starts = [v for (i, a, b, q), v in x.items() if a == cut and q == p - 1]
            prob += pulp.lpSum(ends) == pulp.lpSum(starts)
    if ordered:  # a later device in the order sits nearer the end of the pipeline
        y = {(i, p): pulp.lpSum(v for (j, a, b, q), v in x.items() if j == i and q == p)
             for i in range(N) for p in range(1, P + 1)}
        for i in range(N):
            for i2 in range(i + 1, N):
                for p in range(1, P + 1):
                    prob += (pulp.lpSum(y[i2, q] for q in range(p, P + 1))
                             + pulp.lpSum(y[i, q] for q in range(1, p + 1)) <= 1)
    status = prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    if pulp.LpStatus[status] != "Optimal":
        raise InfeasibleError(f"the integer program found no partition ({pulp.LpStatus[status]})")
    chosen = sorted(((a, b, i) for (i, a, b, p), v in x.items() if v.value() > 0.5))
    assignment = [(devs[i], a, b) for a, b, i in chosen]
    return float(evaluate(job, assignment).bottleneck), assignment


def relative_gap(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


__all__ = ["brute_force", "ilp", "relative_gap", "np"]
