"""The SimPy backend: virtual devices in a deterministic discrete-event simulation.

Each replica's pipeline is a flow shop of 2K - 1 servers (stage k's GPU, then the link to stage
k + 1), every server a SimPy process that takes micro-batches in order, starting each when its
upstream server has finished it and the server itself is free. With integer durations the
simulated makespan equals ``perfmodel.pipeline_makespan`` exactly (:func:`simulate_pipeline`;
tested). An iteration runs every replica, then the gradient all-reduce (each device's ring over
the replicas, :func:`.perfmodel.ring_allreduce_time`, the slowest counts).

Churn (:mod:`.churn`) is replayed as events: a quit dooms the running iteration if the device is
active, the broker learns of it one heartbeat timeout after the device's last heartbeat, and the
iteration restarts after the broker's recovery (the stage state's transfer time). Joins and
bandwidth changes reach the broker at once and take effect at the next iteration boundary.
Durations are rounded to ``tick`` seconds (default 1 microsecond).
"""

from __future__ import annotations

import zlib
from typing import Generator, Sequence

import simpy

from .backend import IterationRecord, RunTrace
from .broker import Broker, FleetCannotHoldModel
from .churn import ChurnEvent
from .perfmodel import ring_allreduce_time
from .scheduler import Plan


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes."""

    def __init__(self) -> None:
        super().__init__()
        self.n_events = 0

    def step(self) -> None:
        self.n_events += 1
        super().step()


def _flow_shop(env: simpy.Environment, durations: Sequence[int], m: int) -> simpy.Event:
    """Start the servers; returns the event of the last micro-batch leaving the last server."""
    n = len(durations)
    done = [[env.event() for _ in range(m)] for _ in range(n)]

    def server(k: int) -> Generator:
        d, up, mine = durations[k], done[k - 1] if k else None, done[k]
        for i in range(m):
            if up is not None and not up[i].processed:
                yield up[i]
            if d:
                yield env.timeout(d)
            mine[i].succeed()

    for k in range(n):
        env.process(server(k))
    return done[-1][-1]


def simulate_pipeline(t: Sequence[int], c: Sequence[int], m: int) -> int:
    """Makespan of m micro-batches through stages with compute t_k and link c_k (the last link
    unused), in integer time units, by discrete-event simulation."""
    if len(t) != len(c) or not len(t) or m < 1:
        raise ValueError("t and c need one entry per stage and m >= 1")
    env = simpy.Environment()
    durations = [x for k in range(len(t)) for x in ((t[k], c[k]) if k < len(t) - 1 else (t[k],))]
    last = _flow_shop(env, [int(d) for d in durations], m)
    env.run(until=last)
    return int(env.now) + int(c[-1])  # the formula counts c_K as well (0 for a last stage)


def _phase(name: str, period: float) -> float:
    return (zlib.crc32(name.encode()) % 10_000) / 10_000 * period


class SimPyBackend:
    """Virtual devices; see the module docstring."""

    name = "simpy"

    def __init__(self, tick: float = 1e-6) -> None:
        self.tick = tick

    def ticks(self, seconds: float) -> int:
        return int(round(seconds / self.tick))

    def _iteration(self, env: simpy.Environment, plans: list[Plan]) -> simpy.Event:
        ends = []
        for p in plans:
            t, c = [self.ticks(x) for x in p.t], [self.ticks(x) for x in p.c]
            dur = [x for k in range(len(t)) for x in ((t[k], c[k]) if k < len(t) - 1 else (t[k],))]
            ends.append(_flow_shop(env, dur, p.job.m))
        return env.all_of(ends)

    def sync_seconds(self, broker: Broker) -> float:
        """The slowest device's ring all-reduce of its gradients over the replicas."""
        R = len(broker.replicas)
        if R <= 1:
            return 0.0
        worst = max(float(broker.job.costs.params[s.start:s.stop].sum()) / s.device.bandwidth
                    for p in broker.replicas for s in p.stages)
        return ring_allreduce_time(worst, R, 1.0)

    def run(self, broker: Broker, events: list[ChurnEvent], iterations: int) -> RunTrace:
        env = CountingEnvironment()
        trace = RunTrace(self.name)
        tick = self.tick
        st: dict = {"abort": env.event(), "running": False, "restore": 0.0, "dead": set(),
                    "stalled": False, "resume": env.event()}

        def abort() -> None:
            if st["running"] and not st["abort"].triggered:
                st["abort"].succeed()

        def trainer() -> Generator:
            it = 0
            while it < iterations:
                if st["stalled"]:
                    t0 = env.now
                    yield st["resume"]
                    trace.stalled_s += (env.now - t0) * tick
                if st["restore"]:
                    r, st["restore"] = st["restore"], 0.0
                    trace.restore_s += r
                    yield env.timeout(self.ticks(r))
                    continue
                a = broker.boundary(env.now * tick)
                if a.restore_s:
                    trace.restore_s += a.restore_s
                    yield env.timeout(self.ticks(a.restore_s))
                plans, start = list(broker.replicas), env.now
                used = {n for p in plans for n in p.devices()}
                st["running"] = True
                got = yield self._iteration(env, plans) | st["abort"]
                if st["abort"] not in got:
                    got = yield env.timeout(self.ticks(self.sync_seconds(broker))) | st["abort"]
                    if st["abort"] not in got and used & st["dead"]:
                        yield st["abort"]  # a stage died: the iteration cannot finish
                        got = {st["abort"]: None}
                st["running"] = False
                if st["abort"] in got:
                    st["abort"] = env.event()
                    trace.aborted += 1
                    trace.lost_s += (env.now - start) * tick
                    continue
                trace.iterations.append(IterationRecord(
                    it, start * tick, env.now * tick,
                    sum(p.job.tokens_per_iteration for p in plans), len(plans),
                    sum(len(p.stages) for p in plans)))
                it += 1

        def detect(ev: ChurnEvent) -> Generator:
            when = broker.detection_time(ev.time, _phase(ev.device, broker.heartbeat_s))
            yield env.timeout(max(0, self.ticks(when) - env.now))
            st["dead"].discard(ev.device)
            was_active = ev.device in broker.active()
            try:
                a = broker.quit(ev.device, env.now * tick)
            except FleetCannotHoldModel as exc:
                trace.error = str(exc)
                st["stalled"] = True
                abort()
                return
            if was_active:
                st["restore"] += a.restore_s
                abort()

        def churn() -> Generator:
            for ev in events:
                yield env.timeout(max(0, self.ticks(ev.time) - env.now))
                if ev.kind == "quit":
                    if ev.device in broker.active():
                        st["dead"].add(ev.device)
                    env.process(detect(ev))
                elif ev.kind == "join" and ev.joiner is not None:
                    broker.join(ev.joiner, env.now * tick)
                    if st["stalled"]:
                        a = broker.resume(env.now * tick)
                        if a.kind == "resume":
                            st["stalled"], st["restore"], trace.error = False, a.restore_s, ""
                            st["resume"].succeed()
                            st["resume"] = env.event()
                elif ev.kind == "bandwidth" and ev.bandwidth is not None:
                    if ev.device in set(broker.active()) | {d.name for d in broker.pool}:
                        broker.set_bandwidth(ev.device, ev.bandwidth, env.now * tick)

        done = env.process(trainer())
        env.process(churn())
        try:
            env.run(until=done)
        except RuntimeError:  # nothing left to happen: stalled for good (trace.error says why)
            pass
        trace.actions = list(broker.log)
        trace.events_processed = env.n_events
        return trace
