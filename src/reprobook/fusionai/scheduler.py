"""Hardware-aware pipeline scheduling (paper: "task scheduling with hardware performance to
improve system efficiency").

A job (:class:`Job`: a model's pipeline units from :mod:`.dag`, a workload) is cut into
contiguous stages, one per device. :func:`plan` is a dynamic program over the fleet, devices
ordered by bandwidth cluster then speed: it chooses which devices take a stage and which units
each takes, minimising the slowest stage ``max_k max(t_k, c_k)`` (the steady-state term of the
makespan, :mod:`.perfmodel`) subject to every device's memory under 1F1B, where the stage k of K
keeps ``min(m, K - k)`` micro-batches of activations. Processing devices from the last stage
backwards makes ``K - k`` known; it is capped at m, so the state is (units left, stages after,
capped): O(N L^2 min(m, L)) work, vectorised per device.

:func:`equal_partition` is the baseline (equal numbers of layers per device, ignoring the
hardware); :mod:`.oracle` holds the exact references (enumeration, integer programs) for small
cases. Bad input (a non-positive bandwidth, memory or speed) is a :class:`FleetError` naming the
device; a fleet that cannot hold the model is an :class:`InfeasibleError` that says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Iterable, Sequence

import numpy as np

from .constants import ADAM_STATE_BYTES, ETA, ETA_MEM, FP16_BYTES, GPUS, LINK_CLASSES
from .dag import UnitCosts

KINDS = ("train", "prefill", "decode")


class FleetError(ValueError):
    """A device is malformed (the message names it) or the fleet is empty."""


class InfeasibleError(FleetError):
    """The fleet cannot hold the model."""


@dataclass(frozen=True)
class Device:
    """A computing provider: GPU speed and memory, and its access link."""

    name: str
    gpu: str
    flops: float  # FLOP/s
    memory: float  # bytes
    mem_bw: float  # bytes/s
    bandwidth: float  # link bytes/s
    latency: float = 0.0  # link one-way latency, s
    cluster: str = ""

    def __post_init__(self) -> None:
        for k in ("flops", "memory", "mem_bw", "bandwidth"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v <= 0:
                raise FleetError(f"device {self.name!r}: {k} = {v!r}; it must be a positive "
                                 f"finite number")
        if not isinstance(self.latency, (int, float)) or not math.isfinite(self.latency) \
                or self.latency < 0:
            raise FleetError(f"device {self.name!r}: latency = {self.latency!r}; it must be >= 0")


def device(name: str, gpu: str, link: str = "fibre-1G", *, bandwidth: float | None = None,
           latency: float | None = None) -> Device:
    """A device of a known GPU model (``constants.GPUS``) behind a link class."""
    if gpu not in GPUS:
        raise FleetError(f"device {name!r}: unknown GPU {gpu!r}; known: {sorted(GPUS)}")
    if link not in LINK_CLASSES:
        raise FleetError(f"device {name!r}: unknown link class {link!r}; known: "
                         f"{sorted(LINK_CLASSES)}")
    g, (bw, lat) = GPUS[gpu], LINK_CLASSES[link]
    return Device(name, gpu, g.flops, g.memory, g.mem_bw, bw if bandwidth is None else bandwidth,
                  lat if latency is None else latency, link)


def check_fleet(devices: Iterable[Device]) -> list[Device]:
    devs = list(devices)
    if not devs:
        raise InfeasibleError("the fleet is empty: no device can hold the model")
    names = [d.name for d in devs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FleetError(f"device names must be unique; repeated: {dup}")
    return devs


def ordered(devices: Iterable[Device]) -> list[Device]:
    """Pipeline order: fastest link first (bandwidth clusters), then faster GPU, then name."""
    return sorted(check_fleet(devices), key=lambda d: (-d.bandwidth, -d.flops, d.name))


def _diff(x: np.ndarray) -> np.ndarray:
    p = np.concatenate([[0.0], np.cumsum(x, dtype=float)])
    return p[None, :] - p[:, None]  # [a, b] = sum x[a:b]


@dataclass(frozen=True)
class Job:
    """What is scheduled: a model's units and a workload.

    ``kind``: ``train`` (forward + backward, 1F1B, Adam states), ``prefill`` (forward over the
    prompt) or ``decode`` (one token per sequence per step, reading every weight and the KV cache;
    the units' ``seq_len`` is the context length). ``b`` sequences per micro-batch, ``m``
    micro-batches per iteration (in flight, for inference).
    """

    costs: UnitCosts
    kind: str = "train"
    b: int = 1
    m: int = 8
    recompute: bool = False
    eta: float = ETA
    eta_mem: float = ETA_MEM
    state_bytes: float = ADAM_STATE_BYTES

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Job.kind must be one of {KINDS}, got {self.kind!r}")
        if self.b < 1 or self.m < 1:
            raise ValueError(f"Job.b and Job.m must be >= 1, got b={self.b}, m={self.m}")
        if not 0 < self.eta <= 1 or not 0 < self.eta_mem <= 1:
            raise ValueError(f"efficiencies must lie in (0, 1], got {self.eta}, {self.eta_mem}")

    @property
    def L(self) -> int:
        return len(self.costs)

    @property
    def inflight_dependent(self) -> bool:
        return self.kind == "train"

    @property
    def tokens_per_iteration(self) -> float:
        s = 1 if self.kind == "decode" else self.costs.seq_len
        return float(self.m * self.b * s)

    @cached_property
    def _ranges(self) -> dict[str, np.ndarray]:
        c, L = self.costs, self.L
        amax = np.zeros((L + 1, L + 1))
        for a in range(L):
            amax[a, a + 1:] = np.maximum.accumulate(c.act_bytes[a:])
        valid = np.triu(np.ones((L + 1, L + 1), dtype=bool), 1)
        return {"F": _diff(c.flops), "P": _diff(c.params), "A": _diff(c.act_bytes),
                "I": _diff(c.input_bytes), "D": _diff(c.dense_params), "KV": _diff(c.kv_elems),
                "Amax": amax, "valid": valid,
                "bnd": np.concatenate([[0.0], c.boundary_bytes])}  # bnd[b]: cut after unit b-1

    @cached_property
    def _terms_cache(self) -> dict[tuple[float, ...], tuple[np.ndarray, ...]]:
        return {}

    def terms(self, d: Device) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For every unit range [a, b) on device d: compute time T[a, b], communication C[b]
        (0 when b = L), and memory M0[a, b] + q * M1[a, b] with q micro-batches in flight.
        Cached per device specification (treat the returned arrays as read-only)."""
        key = (d.flops, d.mem_bw, d.bandwidth, d.latency)
        if key not in self._terms_cache:
            self._terms_cache[key] = self._terms(d)
        return self._terms_cache[key]  # type: ignore[return-value]

    def _terms(self, d: Device) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        r, c, L, bsz = self._ranges, self.costs, self.L, self.b
        dirs = 2 if self.kind == "train" else 1
        per_tok = c.seq_len if self.kind == "decode" else 1
        C = dirs * (d.latency + bsz * r["bnd"] / per_tok / d.bandwidth)
        C[L], C[0] = 0.0, np.inf
        if self.kind == "train":
            fac = 4.0 if self.recompute else 3.0
            T = fac * bsz * r["F"] / (self.eta * d.flops)
            M0 = self.state_bytes * r["P"] + (bsz * r["Amax"] if self.recompute else 0.0)
            M1 = bsz * (r["I"] if self.recompute else r["A"])
        elif self.kind == "prefill":
            T = bsz * r["F"] / (self.eta * d.flops)
            M0, M1 = FP16_BYTES * r["P"] + bsz * r["Amax"], np.zeros_like(T)
        else:
            kv_bytes = bsz * c.seq_len * r["KV"] * c.elem_bytes
            T = np.maximum(bsz * r["F"] / c.seq_len / (self.eta * d.flops),
                           (FP16_BYTES * r["D"] + kv_bytes) / (self.eta_mem * d.mem_bw))
            M0, M1 = FP16_BYTES * r["P"] + self.m * kv_bytes, np.zeros_like(T)
        T = np.where(r["valid"], T, np.inf)
        return T, C, M0, M1


@dataclass(frozen=True)
class Stage:
    device: Device
    start: int
    stop: int
    t: float
    c: float
    memory: float
    in_flight: int

    @property
    def fits(self) -> bool:
        return self.memory <= self.device.memory * (1 + 1e-12)


@dataclass(frozen=True)
class Plan:
    """A pipeline: stages in order, with their times and memory (:func:`evaluate`)."""

    job: Job
    stages: tuple[Stage, ...]
    unused: tuple[Device, ...] = field(default=())

    @property
    def t(self) -> list[float]:
        return [s.t for s in self.stages]

    @property
    def c(self) -> list[float]:
        return [s.c for s in self.stages]

    @property
    def bottleneck(self) -> float:
        return max(max(self.t), max(self.c))

    @property
    def feasible(self) -> bool:
        return all(s.fits for s in self.stages)

    def makespan(self, m: int | None = None) -> float:
        from .perfmodel import pipeline_makespan

        return pipeline_makespan(self.t, self.c, self.job.m if m is None else m)

    def devices(self) -> list[str]:
        return [s.device.name for s in self.stages]

    def coverage(self) -> list[int]:
        """How many stages hold each unit (a valid plan: all ones)."""
        cov = [0] * self.job.L
        for s in self.stages:
            for u in range(s.start, s.stop):
                cov[u] += 1
        return cov

    def check_memory(self) -> "Plan":
        for s in self.stages:
            if not s.fits:
                raise InfeasibleError(
                    f"device {s.device.name!r} cannot hold units {s.start}..{s.stop - 1} "
                    f"({_gb(s.memory)} needed, {_gb(s.device.memory)} available)")
        return self


def _gb(x: float) -> str:
    return f"{x / 1e9:.3g} GB"


def evaluate(job: Job, assignment: Sequence[tuple[Device, int, int]],
             unused: Sequence[Device] = ()) -> Plan:
    """Times and memory of an explicit assignment [(device, start, stop), ...] in stage order."""
    K, prev = len(assignment), 0
    if not K:
        raise FleetError("an assignment needs at least one stage")
    stages = []
    for k, (d, a, b) in enumerate(assignment):
        if a != prev or b <= a or b > job.L:
            raise ValueError(f"stage {k} on {d.name!r} covers units [{a}, {b}); stages must be "
                             f"contiguous, non-empty and cover 0..{job.L - 1} in order")
        T, C, M0, M1 = job.terms(d)
        q = min(job.m, K - k) if job.inflight_dependent else 0
        stages.append(Stage(d, a, b, float(T[a, b]), float(C[b]), float(M0[a, b] + q * M1[a, b]),
                            q))
        prev = b
    if prev != job.L:
        raise ValueError(f"the stages cover units 0..{prev - 1} of 0..{job.L - 1}")
    return Plan(job, tuple(stages), tuple(unused))


def plan(job: Job, devices: Iterable[Device], order: bool = True) -> Plan:
    """The dynamic program: the partition minimising the slowest stage over the fleet (devices
    in :func:`ordered` order unless ``order=False``, which keeps the given order)."""
    devs = ordered(devices) if order else check_fleet(devices)
    L, N = job.L, len(devs)
    J = min(job.m, L) if job.inflight_dependent else 1
    q = np.array([min(j + 1, J) for j in range(J + 1)])  # in flight for a new stage before j
    jn = q.copy()  # stages-after count of the new state (capped)
    g = np.full((L + 1, J + 1), np.inf)
    g[L, 0] = 0.0
    takes = np.full((N, L + 1, J + 1), -1, dtype=np.int16)
    prevj = np.zeros((N, L + 1, J + 1), dtype=np.int16)
    cache: dict[tuple, np.ndarray] = {}
    for step, d in enumerate(reversed(devs)):
        key = (d.flops, d.memory, d.mem_bw, d.bandwidth, d.latency)
        if key not in cache:
            T, C, M0, M1 = job.terms(d)
            stage = np.maximum(T, C[None, :])
            qq = q if job.inflight_dependent else np.zeros_like(q)
            mem = M0[None] + qq[:, None, None] * M1[None]
            cache[key] = np.where(mem <= d.memory * (1 + 1e-12), stage[None], np.inf)
        cost = cache[key]  # (J+1, L+1, L+1): [j, a, b]
        cand = np.maximum(cost, g.T[:, None, :])  # max(stage a..b, best for b.. with j after)
        best_b = np.argmin(cand, axis=2)  # (J+1, L+1)
        val = np.take_along_axis(cand, best_b[..., None], axis=2)[..., 0]
        new = g.copy()
        for j in range(J + 1):
            better = val[j] < new[:, jn[j]]
            new[better, jn[j]] = val[j][better]
            takes[step, better, jn[j]] = best_b[j][better]
            prevj[step, better, jn[j]] = j
        g = new
    j = int(np.argmin(g[0]))
    if not np.isfinite(g[0, j]):
        raise InfeasibleError(diagnose(job, devs))
    assignment, a, used = [], 0, set()
    for f, d in enumerate(devs):
        step = N - 1 - f
        b = int(takes[step, a, j])
        if b >= 0:
            assignment.append((d, a, b))
            used.add(d.name)
            j, a = int(prevj[step, a, j]), b
    return evaluate(job, assignment, [d for d in devs if d.name not in used])


def diagnose(job: Job, devices: Sequence[Device]) -> str:
    """Why no partition fits: a unit no device can hold, or too little memory in total."""
    big = max(devices, key=lambda d: d.memory)
    T, C, M0, M1 = job.terms(big)
    for u in range(job.L):
        need = M0[u, u + 1] + (1 if job.inflight_dependent else 0) * M1[u, u + 1]
        if need > big.memory:
            return (f"no device can hold unit {job.costs.names[u]!r} ({_gb(need)}); the largest, "
                    f"{big.name!r}, has {_gb(big.memory)}")
    need = float(M0[0, job.L])
    total = sum(d.memory for d in devices)
    return (f"the fleet cannot hold the model: {len(devices)} devices with {_gb(total)} in total, "
            f"the model needs at least {_gb(need)} of model state plus activations in flight")


def equal_partition(job: Job, devices: Iterable[Device], K: int | None = None,
                    order: bool = True) -> Plan:
    """The baseline: the transformer blocks split into K equal contiguous groups (the first
    groups take one more when K does not divide them; the embedding joins the first stage, the
    head the last), on the first K devices in fleet order; default K = min(devices, blocks)."""
    devs = ordered(devices) if order else check_fleet(devices)
    names = job.costs.names
    blocks = [i for i, n in enumerate(names) if n.startswith("block")]
    K = min(len(devs), len(blocks)) if K is None else K
    if not 1 <= K <= min(len(devs), len(blocks)):
        raise ValueError(f"K = {K} stages needs 1 <= K <= min(devices, blocks) = "
                         f"{min(len(devs), len(blocks))}")
    sizes = [len(blocks) // K + (1 if i < len(blocks) % K else 0) for i in range(K)]
    cuts = [blocks[0] + sum(sizes[:i]) for i in range(1, K)]
    bounds = [0, *cuts, job.L]
    return evaluate(job, [(devs[k], bounds[k], bounds[k + 1]) for k in range(K)], devs[K:])


def with_bandwidth(d: Device, bandwidth: float) -> Device:
    return replace(d, bandwidth=bandwidth)


def homogeneous_plan(job: Job, dev: Device, K: int) -> Plan:
    """The optimal partition over at most K *identical* copies of ``dev``: with identical
    devices the order does not matter, so a dynamic program over (units left, stages from the
    back) suffices, O(K L^2). Agrees with :func:`plan` on a fleet of K copies (tested); raises
    :class:`InfeasibleError` if nothing fits."""
    if K < 1:
        raise ValueError(f"K must be >= 1, got {K}")
    T, C, M0, M1 = job.terms(dev)
    L, Kmax = job.L, min(K, job.L)
    stage = np.maximum(T, C[None, :])
    g = np.full((Kmax + 1, L + 1), np.inf)
    g[0, L] = 0.0
    arg = np.zeros((Kmax + 1, L + 1), dtype=int)
    rows = np.arange(L + 1)
    for j in range(1, Kmax + 1):
        q = min(job.m, j) if job.inflight_dependent else 0
        cost = np.where(M0 + q * M1 <= dev.memory * (1 + 1e-12), stage, np.inf)
        cand = np.maximum(cost, g[j - 1][None, :])
        arg[j] = np.argmin(cand, axis=1)
        g[j] = cand[rows, arg[j]]
    j = int(np.argmin(g[:, 0]))
    if not np.isfinite(g[j, 0]):
        raise InfeasibleError(diagnose(job, [dev]) + f" (with at most {K} devices)")
    ranges, a = [], 0
    while j > 0:
        b = int(arg[j, a])
        ranges.append((a, b))
        a, j = b, j - 1
    return evaluate(job, [(replace(dev, name=f"{dev.name}-{k}"), a, b)
                          for k, (a, b) in enumerate(ranges)])
