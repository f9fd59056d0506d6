"""The Ray backend: computing providers are Ray actors, pipeline stages of a real (tiny) Llama.

Each :class:`Provider` actor runs one stage — the IR nodes of its units (:mod:`.ir`), its
parameters and a per-parameter Adam state — with two single-thread concurrency groups: ``compute``
(the GPU: forward and backward one micro-batch at a time) and ``link`` (its uplink to the next
stage: a transfer sleeps ``latency + bytes / bandwidth``, the emulated link; activations forward
and gradients back share it). The driver runs GPipe (all forwards, then all backwards, then one
optimizer step per stage) with m micro-batches per iteration; gradients of the micro-batches are
summed in micro-batch order, so a run is bitwise reproducible.
Churn events' times count from the end of the first (warm-up) iteration, so that a fresh
actor's start-up is never mistaken for churn.

A quit is ``ray.kill`` of the provider's actor. The driver pings the providers every
``broker.heartbeat_s`` and reports the heartbeats to the :class:`.broker.Broker`; a call that
fails on a dead actor makes the driver wait until the broker's timeout has passed since the
actor's last heartbeat, then ask the broker. Every stage is rolled back to its last state (kept
at each iteration boundary), the promoted backup loads the lost stage (its transfer emulated at
its link bandwidth), and the iteration is run again: the training continues with the same losses
as an uninterrupted run from that state.

``local_cluster()`` starts Ray on this machine with small resources (``ray.init(num_cpus=2,
include_dashboard=False)``) or joins a user's cluster (``address="ray://..."`` or ``"auto"``), and on
exit shuts Ray down and stops any process Ray left behind.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import psutil
import ray
import torch
from ray.exceptions import RayActorError

from reprobook.core.procs import kill_tree

from .backend import IterationRecord, RunTrace
from .broker import Broker, FleetCannotHoldModel
from .churn import ChurnEvent
from .ir import IR, Executor
from .scheduler import Device


@contextlib.contextmanager
def local_cluster(num_cpus: int = 2, address: str | None = None, **kw: Any) -> Iterator[dict]:
    """Start (or join) Ray; on exit shut it down and stop every process it left behind.
    Yields a dict that receives ``leftover`` (pids still alive after shutdown, then stopped)."""
    os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")  # killed providers' lost tasks
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    info: dict[str, Any] = {"leftover": []}
    opts = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    opts.update(kw)
    if address is None:
        ray.init(num_cpus=num_cpus, **opts)
    else:
        ray.init(address=address, **opts)
    try:
        yield info
    finally:
        ray.shutdown()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            alive = [p for p in psutil.Process().children(recursive=True)
                     if p.pid not in before and p.is_running()
                     and p.status() != psutil.STATUS_ZOMBIE]
            if not alive:
                break
            time.sleep(0.2)
        for p in psutil.Process().children(recursive=True):
            if p.pid not in before:
                info["leftover"].append(p.pid)
                kill_tree(p.pid)


class StageWorker:
    """The work of one provider, without Ray: a stage of the IR, its parameters and Adam state.
    :class:`Provider` is this class as a Ray actor; tests run it in-process as a reference."""

    def __init__(self, name: str, ir: dict, bandwidth: float, latency: float, m: int,
                 lr: float = 3e-3) -> None:
        torch.set_num_threads(1)
        self.name, self.bandwidth, self.latency, self.m, self.lr = name, bandwidth, latency, m, lr
        self.ir = IR(tuple(ir["nodes"]), tuple(ir["inputs"]), tuple(ir["outputs"]), ir["model"],
                     ir.get("source", "<ray>"))
        self.units: list[str] = []
        self.compute_s, self.calls, self.step_s = 0.0, 0, 0.0

    def ping(self) -> str:
        return self.name

    def set_bandwidth(self, bandwidth: float) -> None:
        self.bandwidth = bandwidth

    def load(self, units: list[str], params: dict[str, torch.Tensor], adam: dict[str, Any],
             restore_bytes: float = 0.0) -> float:
        """Take a stage: its units, parameters and Adam state; the transfer of ``restore_bytes``
        is emulated on this provider's link. Returns the seconds spent."""
        t0 = time.perf_counter()
        if restore_bytes:
            time.sleep(restore_bytes / self.bandwidth)
        self.units = list(units)
        self.params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        self.adam = {k: (v[0].clone(), v[1].clone(), int(v[2])) for k, v in adam.items()}
        self.exec = Executor(self.ir, self.params, units=self.units)
        self.nodes, self.ext, self.outs = self.ir.stage(self.units)
        self.saved: dict[int, tuple] = {}
        self.grads: dict[int, tuple] = {}
        return time.perf_counter() - t0

    def forward(self, mb: int, feeds: dict[str, torch.Tensor],
                upstream: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        t0 = time.perf_counter()
        xs = {k: v.detach().requires_grad_(True) for k, v in upstream.items()}
        out = self.exec.run({**feeds, **xs}, self.nodes, self.outs)
        self.saved[mb] = (xs, out)
        self.compute_s += time.perf_counter() - t0
        return {k: v.detach() for k, v in out.items()}

    def backward(self, mb: int, grads: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
        t0 = time.perf_counter()
        xs, out = self.saved.pop(mb)
        if grads is None:  # the last stage: its output is the loss of the micro-batch
            roots, seeds = [out["loss"] / self.m], [torch.ones(())]
        else:
            roots, seeds = [out[k] for k in grads], [grads[k] for k in grads]
        ps = list(self.params.values())
        g = torch.autograd.grad(roots, list(xs.values()) + ps, seeds, allow_unused=True)
        self.grads[mb] = g[len(xs):]
        self.compute_s += time.perf_counter() - t0
        self.calls += 1
        return {k: gi for k, gi in zip(xs, g[: len(xs)])}

    def send(self, payload: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The emulated uplink: hold the payload for latency + bytes / bandwidth."""
        nbytes = sum(v.numel() * v.element_size() for v in payload.values())
        time.sleep(self.latency + nbytes / self.bandwidth)
        return payload

    def step(self) -> None:
        """Adam (Kingma & Ba, 2015) on the gradients of the micro-batches, summed in order."""
        b1, b2, eps = 0.9, 0.999, 1e-8
        t0 = time.perf_counter()
        with torch.no_grad():
            for i, (k, p) in enumerate(self.params.items()):
                parts = [self.grads[mb][i] for mb in sorted(self.grads)
                         if self.grads[mb][i] is not None]
                if not parts:
                    continue
                g = parts[0].clone()
                for x in parts[1:]:
                    g += x
                m, v, t = self.adam.get(k, (torch.zeros_like(p), torch.zeros_like(p), 0))
                t += 1
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                p -= self.lr * (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps)
                self.adam[k] = (m, v, t)
        self.grads = {}
        self.step_s += time.perf_counter() - t0

    def state(self) -> tuple[list[str], dict[str, torch.Tensor], dict[str, Any]]:
        return (list(self.units), {k: v.detach().clone() for k, v in self.params.items()},
                {k: (a[0].clone(), a[1].clone(), a[2]) for k, a in self.adam.items()})

    def timings(self) -> tuple[float, int, float]:
        """(forward + backward seconds, micro-batches, optimizer-step seconds) since the last
        call."""
        out = (self.compute_s, self.calls, self.step_s)
        self.compute_s, self.calls, self.step_s = 0.0, 0, 0.0
        return out


_GROUPS = {"compute": ("load", "forward", "backward", "step", "state", "timings"),
           "link": ("send",), "control": ("ping", "set_bandwidth")}


def _actor_class() -> Any:
    """:class:`StageWorker` as a Ray actor with its three single-thread concurrency groups."""
    attrs = {name: ray.method(concurrency_group=g)(getattr(StageWorker, name))
             for g, names in _GROUPS.items() for name in names}
    cls = type("Provider", (StageWorker,), attrs)
    return ray.remote(num_cpus=0, max_restarts=0,
                      concurrency_groups={g: 1 for g in _GROUPS})(cls)


Provider = _actor_class()


@dataclass
class RayJob:
    """What the Ray backend trains: an IR with a loss output, initial weights, and the data
    (``batches(it)`` -> m micro-batches of graph inputs, e.g. tokens and targets)."""

    ir: IR
    weights: dict[str, torch.Tensor]
    batches: Any
    m: int
    lr: float = 3e-3


@dataclass
class RayBackend:
    """Runs a broker's (single-replica) pipeline on Ray actors; see the module docstring."""

    job: RayJob
    name: str = "ray"
    actors: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    warm_end: float = 0.0
    _warm: threading.Event = field(default_factory=threading.Event)

    def stage_times(self, broker: Broker) -> list[tuple[float, float]]:
        """Per active stage, in order: mean forward + backward seconds per micro-batch and the
        optimizer step's seconds per iteration, since the warm-up iteration (then reset)."""
        out = []
        for n in broker.replicas[0].devices():
            fb, calls, step = ray.get(self.actors[n].timings.remote())
            out.append((fb / max(calls, 1), step / max(calls / self.job.m, 1)))
        return out

    # -- actors -------------------------------------------------------------------------------
    def spawn(self, d: Device) -> Any:
        a = Provider.options(name=None).remote(d.name, self.job.ir.to_json(), d.bandwidth,
                                               d.latency, self.job.m, self.job.lr)
        self.actors[d.name] = a
        return a

    def _units(self, start: int, stop: int) -> list[str]:
        return self.job.ir.units()[start:stop]

    def _stage_state(self, units: list[str], snap: dict[str, Any]) -> tuple[dict, dict]:
        names = {p["name"] for n in self.job.ir.nodes if n["unit"] in units
                 for p in n["params"].values()}
        return ({k: snap["params"][k] for k in names},
                {k: snap["adam"][k] for k in names if k in snap["adam"]})

    def _load_plan(self, broker: Broker, snap: dict[str, Any], held: dict[str, set[str]]) -> float:
        """Every stage of the broker's plan loads its last state; new units cost a transfer."""
        refs = []
        for s in broker.replicas[0].stages:
            units = self._units(s.start, s.stop)
            params, adam = self._stage_state(units, snap)
            new = set(units) - held.get(s.device.name, set())
            moved = sum(broker.state_bytes(self.job.ir.units().index(u),
                                           self.job.ir.units().index(u) + 1) for u in new)
            refs.append(self.actors[s.device.name].load.remote(units, params, adam, moved))
        return max(ray.get(refs), default=0.0)

    # -- one iteration (GPipe) ----------------------------------------------------------------
    def iteration(self, broker: Broker, it: int) -> float:
        stages = broker.replicas[0].stages
        acts = [self.actors[s.device.name] for s in stages]
        graph_inputs = set(self.job.ir.inputs)
        ext = [self.job.ir.stage(self._units(s.start, s.stop))[1] for s in stages]
        data = self.job.batches(it)
        losses, K = [], len(acts)
        for i in range(self.job.m):
            up: Any = {}
            for k, a in enumerate(acts):
                feeds = {n: data[i][n] for n in ext[k] if n in graph_inputs}
                out = a.forward.remote(i, feeds, up)
                up = a.send.remote(out) if k < K - 1 else out
            losses.append(up)
        firsts = []
        for i in range(self.job.m):
            g: Any = None
            for k in reversed(range(K)):
                g = acts[k].backward.remote(i, g)
                if k > 0:
                    g = acts[k - 1].send.remote(g)
            firsts.append(g)
        vals = ray.get(losses)
        ray.get(firsts)
        ray.get([a.step.remote() for a in acts])
        return float(sum(v["loss"].item() for v in vals) / len(vals))

    def snapshot(self, broker: Broker) -> dict[str, Any]:
        params: dict[str, torch.Tensor] = {}
        adam: dict[str, Any] = {}
        names = broker.replicas[0].devices()
        for _, p, a in ray.get([self.actors[n].state.remote() for n in names]):
            params.update(p)
            adam.update(a)
        return {"params": params, "adam": adam}

    # -- heartbeats and churn -----------------------------------------------------------------
    def _heartbeats(self, broker: Broker, t0: float, stop: threading.Event) -> None:
        while not stop.wait(broker.heartbeat_s):
            with self.lock:
                names = list(broker.active()) + [d.name for d in broker.pool]
            for n in names:
                try:
                    ray.get(self.actors[n].ping.remote(), timeout=broker.heartbeat_s)
                    broker.heartbeat(n, time.perf_counter() - t0)
                except Exception:  # noqa: BLE001 - a dead or silent provider misses its beat
                    pass

    def _churn(self, broker: Broker, events: list[ChurnEvent], t0: float,
               stop: threading.Event) -> None:
        while not self._warm.wait(0.05):  # churn times count from the warm-up's end
            if stop.is_set():
                return
        origin = time.perf_counter() - t0
        for ev in events:
            if stop.wait(max(0.0, origin + ev.time - (time.perf_counter() - t0))):
                return
            now = time.perf_counter() - t0
            if ev.kind == "quit" and ev.device in self.actors:
                ray.kill(self.actors[ev.device], no_restart=True)
            elif ev.kind == "join" and ev.joiner is not None:
                self.spawn(ev.joiner)
                with self.lock:
                    broker.join(ev.joiner, now)
            elif ev.kind == "bandwidth" and ev.bandwidth is not None and ev.device in self.actors:
                self.actors[ev.device].set_bandwidth.remote(ev.bandwidth)
                with self.lock:
                    broker.set_bandwidth(ev.device, ev.bandwidth, now)

    def _dead(self, names: list[str]) -> list[str]:
        dead = []
        for n in names:
            try:
                ray.get(self.actors[n].ping.remote(), timeout=30.0)
            except RayActorError:
                dead.append(n)
        return dead

    # -- the run ------------------------------------------------------------------------------
    def run(self, broker: Broker, events: list[ChurnEvent], iterations: int) -> RunTrace:
        if len(broker.replicas) != 1:
            raise ValueError("the Ray backend runs one pipeline replica")
        trace = RunTrace(self.name)
        for n in self._dead(list(self.actors)):  # killed by an earlier run's late churn
            self.actors.pop(n)
        for d in [s.device for s in broker.replicas[0].stages] + list(broker.pool):
            if d.name not in self.actors:
                self.spawn(d)
        snap = {"params": {k: v.clone() for k, v in self.job.weights.items()}, "adam": {}}
        self._load_plan(broker, snap, {})
        ray.get([self.actors[n].ping.remote() for n in self.actors])
        t0 = time.perf_counter()
        for n in self.actors:
            broker.heartbeat(n, 0.0)
        stop = threading.Event()
        self._warm.clear()
        threads = [threading.Thread(target=self._heartbeats, args=(broker, t0, stop), daemon=True),
                   threading.Thread(target=self._churn, args=(broker, events, t0, stop),
                                    daemon=True)]
        for th in threads:
            th.start()
        try:
            self._loop(broker, iterations, trace, snap, t0)
        finally:
            stop.set()
            for th in threads:
                th.join(timeout=10)
        trace.actions = list(broker.log)
        return trace

    def _loop(self, broker: Broker, iterations: int, trace: RunTrace, snap: dict,
              t0: float) -> None:
        """Iterations until ``iterations`` are done. An iteration counts only when its snapshot
        was taken too; a provider lost anywhere in it (or in a rebalance before it) aborts it, and
        every stage restarts from the last snapshot."""
        it = 0
        while it < iterations:
            held = {s.device.name: set(self._units(s.start, s.stop))
                    for s in broker.replicas[0].stages}
            start = time.perf_counter() - t0
            try:
                with self.lock:
                    a = broker.boundary(start)
                if a.kind in ("rebalance", "new-replica"):
                    trace.restore_s += self._load_plan(broker, snap, held)
                    held = {s.device.name: set(self._units(s.start, s.stop))
                            for s in broker.replicas[0].stages}
                start = time.perf_counter() - t0
                loss = self.iteration(broker, it)
                new_snap = self.snapshot(broker)
                if it == 0:  # the first iteration warms up: per-stage times count from the 2nd
                    ray.get([self.actors[n].timings.remote() for n in broker.active()])
            except RayActorError:
                trace.aborted += 1
                trace.lost_s += time.perf_counter() - t0 - start
                try:
                    self._recover(broker, trace, snap, held, t0)
                except FleetCannotHoldModel as exc:
                    trace.error = str(exc)
                    return
                continue
            end = time.perf_counter() - t0
            if it == 0:
                self.warm_end = end
                self._warm.set()
            p = broker.replicas[0]
            trace.iterations.append(IterationRecord(it, start, end, p.job.tokens_per_iteration,
                                                    1, len(p.stages), loss))
            snap = new_snap
            it += 1

    def _recover(self, broker: Broker, trace: RunTrace, snap: dict, held: dict,
                 t0: float) -> None:
        """Wait out the heartbeat timeout of each dead provider, let the broker act, and roll
        every stage back to its last state; a provider that dies during the recovery (a promoted
        backup, another stage) is handled the same way, until the plan loads."""
        while True:
            dead = self._dead(list(broker.active()))
            for n in dead:
                while (time.perf_counter() - t0) - broker.last_seen.get(n, 0.0) <= broker.timeout_s:
                    time.sleep(0.02)
                with self.lock:
                    broker.quit(n, time.perf_counter() - t0)
                self.actors.pop(n, None)
            try:
                trace.restore_s += self._load_plan(broker, snap, held)
                return
            except RayActorError:
                continue
