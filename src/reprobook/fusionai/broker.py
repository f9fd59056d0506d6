"""The broker with a backup pool (paper: "a broker with backup pool to implement dynamic join and
quit of computing providers").

The broker keeps the *active set* (the devices that hold pipeline stages, in ``replicas``
data-parallel pipelines), a *backup pool* of registered devices on standby, and every device's
last heartbeat. It reacts to four things and returns what the execution backend must do
(:class:`Action`, with the bytes to move and the time that takes over the receiver's link):

- a **quit** of an active device (announced, or found by a missed heartbeat): promote the pool
  device that gives the fastest pipeline and can hold the stage, which restores the stage from its
  last state; without a fitting backup, re-partition the replica over its survivors and the pool;
  if even that fails, drop the replica (its survivors join the pool) while another replica
  remains, and otherwise raise :class:`FleetCannotHoldModel` naming the device that quit;
- a **join**: the device enters the pool; at the next iteration boundary the broker re-partitions
  the slowest replica over its devices and the best pool devices and switches if that is faster
  by ``rebalance_gain`` (or forms a new replica from the pool when the pool alone can hold one);
- a **bandwidth change**: recorded, and considered at the next boundary like a join;
- **heartbeats**: a device is declared gone ``timeout`` seconds after its last heartbeat.

``use_pool=False`` is the baseline without a pool: devices the partition does not use are
dismissed, a quit re-partitions over the survivors only, and a joiner is admitted only if the
re-partition at the next boundary uses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterable

from .scheduler import Device, InfeasibleError, Job, Plan, evaluate, ordered, plan


class FleetCannotHoldModel(InfeasibleError):
    """After a quit, the remaining fleet cannot hold the model; names the device that quit."""


@dataclass(frozen=True)
class Action:
    """What the backend must do: ``kind`` in promote / replan / drop-replica / new-replica /
    rebalance / pool / dismiss / none; the time to move stage state (s) and the bytes moved."""

    kind: str
    device: str = ""
    replica: int = -1
    restore_s: float = 0.0
    moved_bytes: float = 0.0
    detail: str = ""


@dataclass
class Broker:
    job: Job
    replicas: list[Plan]
    pool: list[Device]
    use_pool: bool = True
    heartbeat_s: float = 1.0
    timeout_s: float = 3.0
    rebalance_gain: float = 0.05
    pool_candidates: int = 8
    promote_horizon: float = 10.0
    max_replicas: int | None = None  # None: form new replicas from the pool when it can
    last_seen: dict[str, float] = field(default_factory=dict)
    pending: list[Device] = field(default_factory=list)
    dirty: bool = False
    stalled: list[Device] = field(default_factory=list)
    log: list[tuple[float, Action]] = field(default_factory=list)

    @classmethod
    def start(cls, job: Job, devices: Iterable[Device], replicas: int = 1, use_pool: bool = True,
              **kw: float) -> "Broker":
        """Partition the fleet: devices dealt round-robin (in pipeline order) into ``replicas``
        groups, one :func:`.scheduler.plan` per group; unused devices form the pool."""
        devs = ordered(devices)
        if replicas < 1:
            raise ValueError(f"replicas must be >= 1, got {replicas}")
        plans = []
        for r in range(replicas):
            try:
                plans.append(plan(job, devs[r::replicas]))
            except InfeasibleError as exc:
                raise InfeasibleError(f"replica {r} of {replicas}: {exc}") from None
        used = {n for p in plans for n in p.devices()}
        pool = [d for d in devs if d.name not in used] if use_pool else []
        b = cls(job, plans, pool, use_pool, **kw)  # type: ignore[arg-type]
        for d in devs:
            b.last_seen[d.name] = 0.0
        return b

    # -- views ---------------------------------------------------------------------------------
    def active(self) -> list[str]:
        return [n for p in self.replicas for n in p.devices()]

    def where(self, name: str) -> tuple[int, int] | None:
        for r, p in enumerate(self.replicas):
            for k, s in enumerate(p.stages):
                if s.device.name == name:
                    return r, k
        return None

    def state_bytes(self, start: int, stop: int) -> float:
        per_param = self.job.state_bytes if self.job.kind == "train" else 2.0
        return float(per_param * self.job.costs.params[start:stop].sum())

    # -- heartbeats ----------------------------------------------------------------------------
    def heartbeat(self, name: str, now: float) -> None:
        self.last_seen[name] = now

    def expired(self, now: float) -> list[str]:
        """Known devices whose last heartbeat is older than ``timeout_s``."""
        known = set(self.active()) | {d.name for d in self.pool}
        return sorted(n for n in known if now - self.last_seen.get(n, now) > self.timeout_s)

    def detection_time(self, quit_time: float, phase: float = 0.0) -> float:
        """When a device that sends heartbeats at ``phase + k * heartbeat_s`` and stops at
        ``quit_time`` is declared gone: its last heartbeat plus the timeout."""
        last = phase + math.floor((quit_time - phase) / self.heartbeat_s) * self.heartbeat_s
        return last + self.timeout_s

    # -- events --------------------------------------------------------------------------------
    def _record(self, now: float, a: Action) -> Action:
        self.log.append((now, a))
        return a

    def join(self, d: Device, now: float) -> Action:
        self.last_seen[d.name] = now
        if self.use_pool:
            self.pool.append(d)
        else:
            self.pending.append(d)
        self.dirty = True
        return self._record(now, Action("pool" if self.use_pool else "pending", d.name))

    def set_bandwidth(self, name: str, bandwidth: float, now: float) -> None:
        if not bandwidth > 0:
            raise ValueError(f"device {name!r}: bandwidth {bandwidth!r} must be > 0")
        for r, p in enumerate(self.replicas):
            if name in p.devices():
                self.replicas[r] = evaluate(self.job, [
                    (replace(s.device, bandwidth=bandwidth) if s.device.name == name else s.device,
                     s.start, s.stop) for s in p.stages])
        self.pool = [replace(d, bandwidth=bandwidth) if d.name == name else d for d in self.pool]
        self.dirty = True

    def quit(self, name: str, now: float) -> Action:
        self.last_seen.pop(name, None)
        self.pool = [d for d in self.pool if d.name != name]
        self.pending = [d for d in self.pending if d.name != name]
        pos = self.where(name)
        if pos is None:
            return self._record(now, Action("none", name, detail="not active"))
        r, k = pos
        old = self.replicas[r]
        gone = old.stages[k]
        if self.use_pool:
            best = self._best_backup(old, k)
            if best is not None:
                new, dev = best
                self.pool = [d for d in self.pool if d.name != dev.name]
                self.replicas[r] = new
                moved = self.state_bytes(gone.start, gone.stop)
                return self._record(now, Action("promote", dev.name, r, moved / dev.bandwidth,
                                                moved, f"{dev.name} takes {name}'s stage {k}"))
        survivors = [s.device for s in old.stages if s.device.name != name]
        spare = self.pool if self.use_pool else []
        try:
            new = plan(self.job, survivors + spare)
        except InfeasibleError as exc:
            if len(self.replicas) > 1:
                self.replicas.pop(r)
                if self.use_pool:
                    self.pool.extend(survivors)
                return self._record(now, Action("drop-replica", name, r,
                                                detail=f"replica {r} dissolved: {exc}"))
            self.replicas.pop(r)
            self.stalled = survivors
            raise FleetCannotHoldModel(
                f"after device {name!r} quit (at t = {now:.4g} s), the remaining "
                f"{len(survivors) + len(spare)} device(s) cannot hold the model: {exc}") from None
        return self._record(now, self._switch(r, old, new, "replan", name))

    def _best_backup(self, p: Plan, k: int) -> tuple[Plan, Device] | None:
        """The pool device to promote into stage k: among those that can hold the stage, the one
        minimising its restore time plus ``promote_horizon`` iterations of the new pipeline."""
        job, s = self.job, p.stages[k]
        K, a, b = len(p.stages), s.start, s.stop
        q = min(job.m, K - k) if job.inflight_dependent else 0
        others = [max(x.t, x.c) for i, x in enumerate(p.stages) if i != k]
        fill = sum(x.t + x.c for i, x in enumerate(p.stages) if i != k)
        moved = self.state_bytes(a, b)
        best: tuple[float, str, Device] | None = None
        for d in self.pool:
            T, C, M0, M1 = job.terms(d)
            if M0[a, b] + q * M1[a, b] > d.memory * (1 + 1e-12):
                continue
            bn = max([max(T[a, b], C[b] if b < job.L else 0.0), *others])
            span = fill + T[a, b] + (C[b] if b < job.L else 0.0) + (job.m - 1) * bn
            score = moved / d.bandwidth + self.promote_horizon * span
            if best is None or (score, d.name) < best[:2]:
                best = (score, d.name, d)
        if best is None:
            return None
        d = best[2]
        return evaluate(job, [(x.device if i != k else d, x.start, x.stop)
                              for i, x in enumerate(p.stages)]), d

    def _switch(self, r: int, old: Plan, new: Plan, kind: str, name: str = "") -> Action:
        held = {s.device.name: set(range(s.start, s.stop)) for s in old.stages}
        times, moved = [0.0], 0.0
        for s in new.stages:
            need = set(range(s.start, s.stop)) - held.get(s.device.name, set())
            b = sum(self.state_bytes(u, u + 1) for u in need)
            moved += b
            times.append(b / s.device.bandwidth)
        used = set(new.devices())
        freed = [s.device for s in old.stages if s.device.name not in used
                 and s.device.name != name]
        self.pool = [d for d in self.pool if d.name not in used]
        if self.use_pool:
            self.pool.extend(freed)
        self.replicas[r] = new
        return Action(kind, name, r, max(times), moved,
                      f"replica {r}: {len(old.stages)} -> {len(new.stages)} stages")

    def resume(self, now: float) -> Action:
        """After :class:`FleetCannotHoldModel`: try again over the survivors, the pool and the
        joiners; on success the new pipeline restores every stage from its last state."""
        devs = self.stalled + (self.pool if self.use_pool else self.pending)
        try:
            new = plan(self.job, devs)
        except InfeasibleError:
            return Action("none", detail="still cannot hold the model")
        used = set(new.devices())
        self.pool = [d for d in self.pool if d.name not in used]
        if self.use_pool:
            self.pool.extend(d for d in self.stalled if d.name not in used)
        self.stalled, self.pending, self.replicas = [], [], [new]
        t = max(self.state_bytes(s.start, s.stop) / s.device.bandwidth for s in new.stages)
        moved = sum(self.state_bytes(s.start, s.stop) for s in new.stages)
        return self._record(now, Action("resume", replica=0, restore_s=t, moved_bytes=moved,
                                        detail=f"{len(new.stages)} stages"))

    def boundary(self, now: float) -> Action:
        """At an iteration boundary: rebalance after joins or bandwidth changes."""
        if not self.dirty:
            return Action("none")
        self.dirty = False
        spare = sorted(self.pool if self.use_pool else self.pending,
                       key=lambda d: (-d.flops, -d.bandwidth, d.name))[: self.pool_candidates]
        pending, self.pending = self.pending, []
        if not self.replicas:
            return self._new_replica(now)
        r = max(range(len(self.replicas)), key=lambda i: self.replicas[i].bottleneck)
        old = self.replicas[r]
        try:
            new = plan(self.job, [s.device for s in old.stages] + spare)
        except InfeasibleError:
            new = old
        if new.bottleneck < (1 - self.rebalance_gain) * old.bottleneck:
            a = self._switch(r, old, new, "rebalance")
        else:
            a = Action("none", detail="no faster partition")
        if not self.use_pool:
            used = set(self.active())
            dismissed = [d.name for d in pending if d.name not in used]
            if dismissed:
                a = replace(a, detail=a.detail + f"; dismissed {len(dismissed)} joiner(s)")
        elif self.use_pool and a.kind == "none" and (
                self.max_replicas is None or len(self.replicas) < self.max_replicas):
            a = self._new_replica(now) if len(self.pool) >= 2 else a
        return self._record(now, a)

    def _new_replica(self, now: float) -> Action:
        if not self.use_pool or not self.pool:
            return Action("none")
        try:
            new = plan(self.job, self.pool)
        except InfeasibleError:
            return Action("none", detail="the pool cannot hold a new replica")
        if self.replicas and new.bottleneck > max(p.bottleneck for p in self.replicas):
            return Action("none", detail="a new replica would slow the iteration down")
        used = set(new.devices())
        self.pool = [d for d in self.pool if d.name not in used]
        self.replicas.append(new)
        moved = sum(self.state_bytes(s.start, s.stop) for s in new.stages)
        t = max(self.state_bytes(s.start, s.stop) / s.device.bandwidth for s in new.stages)
        return Action("new-replica", replica=len(self.replicas) - 1, restore_s=t,
                      moved_bytes=moved, detail=f"{len(new.stages)} stages from the pool")
