"""Survival probability of the snapshots and expected lost work (paper Sec. 4, reliability analysis).

One failure incident: each of N nodes is lost with probability p_n, each of the R trainer
processes crashes (software failure) with probability p_s, independently. Where the newest snapshot
survives the incident:

- in the trainers' memory (an in-memory checkpoint stage):  P = (1 - p_s)^R (1 - p_n)^N
- in SMPs, no coding (a node loss takes its SMP):           P = (1 - p_n)^N
- in SMPs with RS(k, m) over groups of n = k + m nodes:      P = [sum_{i<=m} C(n, i) p_n^i (1 - p_n)^(n-i)]^(N/n)

Expected work lost per failure (time since the last usable state plus restart), with in-memory
snapshots every I_snap and persistent checkpoints every I_ckpt, the failure uniform in an interval:
E = P I_snap / 2 + (1 - P) I_ckpt / 2 + T_restart. Young/Daly: the checkpoint interval that minimises
the total waste is I* ~ sqrt(2 C MTBF) for a checkpoint of cost C.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb, sqrt

import numpy as np
import pandas as pd

SCHEMES = ("trainer memory", "SMP", "SMP + EC")


def survival_trainer(p_s: float, p_n: float, R: int, N: int) -> float:
    """A snapshot in the trainers' memory survives no crash and no node loss."""
    return (1 - p_s) ** R * (1 - p_n) ** N


def survival_smp(p_n: float, N: int) -> float:
    """A snapshot in SMPs survives crashes, but no node loss (the node takes its SMP)."""
    return (1 - p_n) ** N


def survival_ec(p_n: float, N: int, n: int, m: int) -> float:
    """SMPs with RS(n - m, m) coding: every group of n loses at most m nodes."""
    if N % n:
        raise ValueError(f"{N} nodes do not split into coding groups of {n}")
    group = sum(comb(n, i) * p_n ** i * (1 - p_n) ** (n - i) for i in range(m + 1))
    return group ** (N // n)


def survival(scheme: str, *, p_s: float, p_n: float, R: int, N: int, n: int, m: int) -> float:
    """The survival probability of ``scheme`` (one of :data:`SCHEMES`)."""
    if scheme == "trainer memory":
        return survival_trainer(p_s, p_n, R, N)
    if scheme == "SMP":
        return survival_smp(p_n, N)
    if scheme == "SMP + EC":
        return survival_ec(p_n, N, n, m)
    raise ValueError(f"unknown scheme {scheme!r}; expected one of {SCHEMES}")


def expected_lost_work(P: float, i_snap: float, i_ckpt: float, t_restart: float) -> float:
    """E = P I_snap / 2 + (1 - P) I_ckpt / 2 + T_restart (module docstring)."""
    return P * i_snap / 2 + (1 - P) * i_ckpt / 2 + t_restart


def young_daly(cost: float, mtbf: float) -> float:
    """Young/Daly's checkpoint interval sqrt(2 C MTBF)."""
    return sqrt(2 * cost * mtbf)


@dataclass(frozen=True)
class ClusterShape:
    """The cluster of the reliability analysis: N nodes, their ranks, coding groups of n with m
    parity blocks."""

    N: int          # nodes
    ranks_per_node: int
    n: int          # coding group size
    m: int          # parity blocks per group

    @property
    def R(self) -> int:
        """Trainer processes in the cluster."""
        return self.N * self.ranks_per_node


def monte_carlo(c: ClusterShape, p_s: float, p_n: float, incidents: int, seed: int,
                i_snap: float, i_ckpt: float, t_restart: float) -> dict[str, dict[str, float]]:
    """Simulated incidents: which scheme's snapshot survives, and the work each loses.

    Per incident: independent node losses ~ Bernoulli(p_n) per node, counted per coding group
    (their sum over a group's n nodes is Binomial(n, p_n)), independent crashes ~ Bernoulli(p_s)
    per rank (counted: Binomial(R, p_s)), and the failure's phase ~ U(0, 1) within the snapshot and
    the checkpoint interval.
    """
    if c.N % c.n:
        raise ValueError(f"{c.N} nodes do not split into coding groups of {c.n}")
    rng = np.random.default_rng(seed)
    per_group = rng.binomial(c.n, p_n, size=(incidents, c.N // c.n))
    crashes = rng.binomial(c.R, p_s, size=incidents)
    u_snap, u_ckpt = rng.random(incidents), rng.random(incidents)
    any_lost = per_group.sum(1) > 0
    alive = {
        "trainer memory": ~any_lost & (crashes == 0),
        "SMP": ~any_lost,
        "SMP + EC": (per_group <= c.m).all(1),
    }
    out = {}
    for s, ok in alive.items():
        work = np.where(ok, u_snap * i_snap, u_ckpt * i_ckpt) + t_restart
        out[s] = {"survival": float(ok.mean()), "lost_work": float(work.mean()),
                  "survival_se": float(ok.std(ddof=1) / np.sqrt(incidents))}
    return out


def survival_curves(c: ClusterShape, p_s: float, p_n_grid: list[float]) -> pd.DataFrame:
    """The closed forms of every scheme over ``p_n_grid``: columns scheme, p_n, survival."""
    return pd.DataFrame([{"scheme": s, "p_n": p,
                          "survival": survival(s, p_s=p_s, p_n=p, R=c.R, N=c.N, n=c.n, m=c.m)}
                         for s in SCHEMES for p in p_n_grid])


def monte_carlo_curves(c: ClusterShape, p_s: float, p_n_grid: list[float], incidents: int,
                       seed: int, i_ckpt: float, t_restart: float) -> pd.DataFrame:
    """:func:`monte_carlo` over ``p_n_grid`` (a derived seed per point)."""
    return pd.DataFrame([{"scheme": s, "p_n": p, **v} for i, p in enumerate(p_n_grid)
                         for s, v in monte_carlo(c, p_s, p, incidents, seed + i, 1.0, i_ckpt,
                                                 t_restart).items()])


def lost_work_table(c: ClusterShape, p_s: float, p_n: float, i_snap_grid: list[float],
                    i_ckpt: float, t_restart: float, incidents: int, seed: int) -> pd.DataFrame:
    """Expected lost work per scheme and snapshot interval, closed form and Monte-Carlo, plus
    checkpointing alone (P = 0)."""
    rows = []
    for s in SCHEMES:
        P = survival(s, p_s=p_s, p_n=p_n, R=c.R, N=c.N, n=c.n, m=c.m)
        for i in i_snap_grid:
            rows.append({"scheme": s, "i_snap_min": i, "P": P,
                         "lost_min": expected_lost_work(P, i, i_ckpt, t_restart)})
    rows += [{"scheme": "checkpoint only", "i_snap_min": i, "P": 0.0,
              "lost_min": expected_lost_work(0.0, i, i_ckpt, t_restart)} for i in i_snap_grid]
    lost = pd.DataFrame(rows)
    sim = {i: monte_carlo(c, p_s, p_n, incidents, seed, i, i_ckpt, t_restart) for i in i_snap_grid}
    lost["lost_min_mc"] = [sim[r.i_snap_min][r.scheme]["lost_work"] if r.scheme in SCHEMES
                           else float("nan") for r in lost.itertuples()]
    return lost
