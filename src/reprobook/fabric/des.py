"""A SimPy discrete-event simulation of execute-order-validate (the paper's Sections III-IV).

One transaction, as Fabric 2.x with the Gateway runs it and as the client timestamps it:

- t0 the client creates the proposal; t1 = t0 + ``prep_s`` it sends it;
- link client -> endorsing peer; the **endorser** has ``c`` servers (cores), FIFO, service 1/mu_e
  (deterministic: the paper's M/D/c; or exponential); link back; t2 the client holds the
  endorsement and submits the transaction to the ordering service;
- link client -> OSN **leader**; t3 = the broadcast acknowledgement reaches the client; the leader
  is one FIFO server, service 1/mu_r;
- **Raft replication** to the k - 1 followers over the leader's uplink (a FIFO transmitter when the
  link is ``shared``: the k - 1 copies leave one after another), each follower appends after a
  random delay and acknowledges; an entry commits at the time of the ``floor(k/2)``-th
  acknowledgement (with the leader, a majority of k), never before the previous entry (Raft
  commits in log order). ``replication="transaction"``: every transaction is an entry, replicated
  before the **block cutter** (the paper's model); ``replication="block"``: the cutter runs first
  and each block is one entry (Fabric's etcdraft);
- the **block cutter** cuts at ``batch_size`` transactions or ``batch_timeout`` seconds after the
  first transaction of the pending batch, whichever comes first;
- the block travels to the **committing peer**, one FIFO server taking ``n / mu_v`` for a block of
  n transactions (validation, then commit); t4 = the commit event reaches the client.

Links cost ``alpha + size / bandwidth`` per message; a ``shared`` link is a FIFO transmitter
(messages queue behind each other), the mechanism behind communication latency that grows with
load. The output is the schema of a real measurement: per-transaction client timestamps t0..t4
with the block number (:mod:`.records`) and per-block orderer and peer events that
:mod:`.logs` writes in Fabric's log format; the simulator's own per-transaction truth (queueing,
consensus, cut times) comes beside them for checking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import simpy

from . import constants as K
from .logs import orderer_log, peer_log, write_log
from .model import follower_acks_needed
from .records import write_records
from .workload import Workload, arrival_times, client_of

SIM_EPOCH = 1_704_067_200.0  # 2024-01-01 00:00:00 UTC: simulated time 0 in the output
DISTS = ("det", "exp")


class NoQuorumError(ValueError):
    """Too few followers are alive for a Raft majority: nothing can be ordered."""


@dataclass(frozen=True)
class Link:
    """One direction of a network path: ``alpha + size_KB * 8/1024 / mbps`` seconds per message;
    ``shared=True`` makes it a FIFO transmitter (a message waits for the ones before it)."""

    alpha: float = 0.0
    mbps: float = math.inf
    shared: bool = False

    def tx_time(self, kb: float) -> float:
        return kb * K.KB_TO_MBIT / self.mbps if math.isfinite(self.mbps) else 0.0


@dataclass(frozen=True)
class FabricConfig:
    """The simulated network. Rates in tps, times in seconds, sizes in KB."""

    c: int = 1
    mu_e: float = K.MU[1]
    endorse_dist: str = "det"
    k: int = 3
    mu_r: float = K.MU[4]
    order_dist: str = "det"
    replication: str = "transaction"
    follower_s: float = 0.0
    follower_dist: str = "exp"
    failed_followers: int = 0
    batch_size: int = 50
    batch_timeout: float = K.BATCH_TIMEOUT_S
    mu_v: float = 185.0
    validate_share: float = 0.5
    m_kb: float = K.M_KB
    prep_s: float = 0.0
    client_endorser: Link = field(default_factory=Link)
    client_orderer: Link = field(default_factory=Link)
    leader_follower: Link = field(default_factory=Link)
    orderer_peer: Link = field(default_factory=Link)
    peer_client: Link = field(default_factory=Link)

    def __post_init__(self) -> None:
        if self.replication not in ("transaction", "block"):
            raise ValueError(f"replication must be 'transaction' or 'block', got "
                             f"{self.replication!r}")
        for name in ("endorse_dist", "order_dist", "follower_dist"):
            if getattr(self, name) not in DISTS:
                raise ValueError(f"{name} must be one of {DISTS}, got {getattr(self, name)!r}")
        if self.c < 1 or self.k < 1 or self.k % 2 == 0 or self.batch_size < 1:
            raise ValueError(f"need c >= 1, an odd k >= 1 and batch_size >= 1 (got c={self.c}, "
                             f"k={self.k}, batch_size={self.batch_size})")
        if min(self.mu_e, self.mu_r, self.mu_v, self.batch_timeout) <= 0:
            raise ValueError("service rates and the BatchTimeout must be positive")
        alive = self.k - 1 - self.failed_followers
        if alive < follower_acks_needed(self.k):
            raise NoQuorumError(f"k = {self.k} OSNs with {self.failed_followers} failed followers "
                                f"leave {alive} of the {follower_acks_needed(self.k)} follower "
                                f"acknowledgements a Raft majority needs: nothing can be ordered")


def quorum_time(ack_times: list[float], k: int) -> float:
    """When the leader holds a majority: the ``floor(k/2)``-th smallest follower acknowledgement
    (``inf`` marks a failed follower). Raises :class:`NoQuorumError` if that many never come."""
    need = follower_acks_needed(k)
    if len(ack_times) != k - 1:
        raise ValueError(f"k = {k} OSNs have {k - 1} followers, got {len(ack_times)} ack times")
    if need == 0:
        return -math.inf
    t = sorted(ack_times)[need - 1]
    if not math.isfinite(t):
        raise NoQuorumError(f"only {sum(map(math.isfinite, ack_times))} of the {need} follower "
                            f"acknowledgements a majority of k = {k} needs ever arrive")
    return t


class _Fifo:
    """A link's transmitter: the departure time of a message sent at ``t`` (FIFO, exact when
    messages are offered in time order, which the simulation guarantees)."""

    def __init__(self, link: Link) -> None:
        self.link, self.free = link, 0.0

    def delay(self, t: float, kb: float) -> float:
        tx = self.link.tx_time(kb)
        if self.link.shared:
            self.free = max(self.free, t) + tx
            return self.free - t + self.link.alpha
        return tx + self.link.alpha


class _Raft:
    """The leader's log: replicate an entry of ``kb`` KB at ``t``; returns its commit time.

    Each follower appends entries one at a time (a FIFO server: ``follower_s`` per entry, its
    WAL write), then acknowledges over ``leader_follower.alpha``."""

    def __init__(self, cfg: FabricConfig, rng: np.random.Generator) -> None:
        self.cfg, self.rng = cfg, rng
        self.uplink = _Fifo(cfg.leader_follower)
        self.free = [0.0] * (cfg.k - 1)
        self.last_commit = 0.0
        self.index = 0

    def replicate(self, t: float, kb: float) -> float:
        cfg, nf = self.cfg, self.cfg.k - 1
        self.index += 1
        if nf == 0:
            self.last_commit = max(self.last_commit, t)
            return self.last_commit
        if cfg.follower_dist == "exp" and cfg.follower_s > 0:
            append = self.rng.exponential(cfg.follower_s, nf).tolist()
        else:
            append = [cfg.follower_s] * nf
        alive = nf - cfg.failed_followers
        acks = [math.inf] * nf
        for j in range(nf):
            arrive = t + self.uplink.delay(t, kb)  # the k - 1 copies leave one after another
            if j < alive:
                self.free[j] = max(self.free[j], arrive) + append[j]
                acks[j] = self.free[j] + cfg.leader_follower.alpha
        self.last_commit = max(self.last_commit, quorum_time(acks, cfg.k))
        return self.last_commit


@dataclass
class SimResult:
    """Client records (the measurement schema), per-block events, and the simulator's truth."""

    records: pd.DataFrame
    blocks: pd.DataFrame
    truth: pd.DataFrame
    config: FabricConfig
    workload: Workload


def _service(rng: np.random.Generator, dist: str, rate: float, n: int) -> list[float]:
    if dist == "exp":
        return rng.exponential(1.0 / rate, n).tolist()
    return [1.0 / rate] * n


def simulate(cfg: FabricConfig, wl: Workload, seed: int = 0,
             stop_after: str = "validate") -> SimResult:
    """Run ``wl`` through ``cfg``; every transaction completes (the run ends when all commit).

    ``stop_after="execute"`` ends each transaction at its endorsement (t2): a cheaper run for
    experiments on the endorsing peer alone; those records have status ``NOT_SUBMITTED``."""
    if stop_after not in ("execute", "validate"):
        raise ValueError(f"stop_after must be 'execute' or 'validate', got {stop_after!r}")
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    t_arr = arrival_times(wl, rng).tolist()
    n = len(t_arr)
    s_e = _service(rng, cfg.endorse_dist, cfg.mu_e, n)
    s_r = _service(rng, cfg.order_dist, cfg.mu_r, n)
    endorser, leader = simpy.Resource(env, cfg.c), simpy.Resource(env, 1)
    committer = simpy.Resource(env, 1)
    ce, ec = _Fifo(cfg.client_endorser), _Fifo(cfg.client_endorser)
    co, op, pc = _Fifo(cfg.client_orderer), _Fifo(cfg.orderer_peer), _Fifo(cfg.peer_client)
    raft = _Raft(cfg, rng)
    nan = [math.nan] * n
    t1, t2, t3, t4 = (list(nan) for _ in range(4))
    e_wait, r_wait, t_leader, t_cutter = (list(nan) for _ in range(4))
    t_consensus, t_ordered, block_of = list(nan), list(nan), [-1] * n
    blocks: list[dict[str, float]] = []
    pending: list[int] = []
    gen = [0]

    def cut() -> None:
        txs, now = list(pending), env.now
        pending.clear()
        gen[0] += 1
        b = len(blocks) + 1
        kb = len(txs) * cfg.m_kb
        written = raft.replicate(now, kb) if cfg.replication == "block" else now
        blocks.append({"block": b, "n_tx": len(txs), "t_created": now, "t_written": written,
                       "raft_index": raft.index})
        for i in txs:
            block_of[i] = b
        env.process(deliver(b, txs, written, kb))

    def timer(g: int):
        yield env.timeout(cfg.batch_timeout)
        if gen[0] == g and pending:
            cut()

    def to_cutter(i: int) -> None:
        t_cutter[i] = env.now
        pending.append(i)
        if len(pending) >= cfg.batch_size:
            cut()
        elif len(pending) == 1:
            env.process(timer(gen[0]))

    def deliver(b: int, txs: list[int], ready: float, kb: float):
        yield env.timeout(ready - env.now + op.delay(ready, kb))
        with committer.request() as req:
            yield req
            start = env.now
            yield env.timeout(len(txs) / cfg.mu_v)
        blk = blocks[b - 1]
        blk["t_received"], blk["t_committed"] = start, env.now
        blk["t_validated"] = start + cfg.validate_share * (env.now - start)
        for i in txs:
            t4[i] = env.now + pc.delay(env.now, 0.0)

    def transaction(i: int):
        t1[i] = env.now + cfg.prep_s
        yield env.timeout(cfg.prep_s + ce.delay(t1[i], cfg.m_kb))
        arrived = env.now
        with endorser.request() as req:
            yield req
            e_wait[i] = env.now - arrived
            yield env.timeout(s_e[i])
        back = ec.delay(env.now, cfg.m_kb)  # both links see their messages in time order
        t2[i] = env.now + back
        if stop_after == "execute":
            return
        yield env.timeout(back + co.delay(t2[i], cfg.m_kb))
        t_leader[i] = env.now
        t3[i] = env.now + cfg.client_orderer.alpha
        with leader.request() as req:
            yield req
            r_wait[i] = env.now - t_leader[i]
            yield env.timeout(s_r[i])
        t_ordered[i] = env.now
        if cfg.replication == "transaction":
            t_consensus[i] = raft.replicate(env.now, cfg.m_kb)
            yield env.timeout(t_consensus[i] - env.now)
        to_cutter(i)

    def source():
        for i, t in enumerate(t_arr):
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(transaction(i))

    env.process(source())
    env.run()
    return _assemble(cfg, wl, stop_after, t_arr, t1, t2, t3, t4, block_of, blocks,
                     dict(endorse_wait=e_wait, order_wait=r_wait, t_leader=t_leader,
                          t_ordered=t_ordered, t_consensus=t_consensus, t_cutter=t_cutter))


def _assemble(cfg: FabricConfig, wl: Workload, stop_after: str, t0: list[float], t1: list[float],
              t2: list[float], t3: list[float], t4: list[float], block_of: list[int],
              blocks: list[dict[str, float]], truth: dict[str, list[float]]) -> SimResult:
    n = len(t0)
    rec = pd.DataFrame({"tx_id": [f"sim{i:08d}" for i in range(n)],
                        "client": client_of(wl, n), "t0": t0, "t1": t1, "t2": t2, "t3": t3,
                        "t4": t4, "block": block_of,
                        "status": "VALID" if stop_after == "validate" else "NOT_SUBMITTED"})
    for col in ("t0", "t1", "t2", "t3", "t4"):
        rec[col] = rec[col] + SIM_EPOCH
    blk = pd.DataFrame(blocks, columns=["block", "n_tx", "t_created", "t_written", "raft_index",
                                        "t_received", "t_committed", "t_validated"])
    for col in ("t_created", "t_written", "t_received", "t_validated", "t_committed"):
        blk[col] = blk[col] + SIM_EPOCH
    tr = pd.DataFrame(truth)
    created = np.array([math.nan] + [b["t_created"] for b in blocks])  # by block number
    cut = created[np.maximum(np.asarray(block_of), 0)]
    tr["t_cut"] = cut
    tr["block_wait"] = cut - tr["t_cutter"]
    return SimResult(records=rec, blocks=blk, truth=tr, config=cfg, workload=wl)


def batch_means(x: np.ndarray, batches: int = 20) -> tuple[float, float]:
    """Mean and its standard error by the method of batch means (for correlated output)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size < 2 * batches:
        raise ValueError(f"need at least {2 * batches} observations, got {x.size}")
    m = x[: x.size - x.size % batches].reshape(batches, -1).mean(axis=1)
    return float(x.mean()), float(m.std(ddof=1) / math.sqrt(batches))


def endorse_throughput(res: SimResult, warmup: float = 0.2) -> float:
    """Endorsements completed per second (from t2), after a warm-up fraction of the run."""
    t = np.sort(res.records["t2"].to_numpy())
    lo = int(warmup * t.size)
    return float((t.size - 1 - lo) / (t[-1] - t[lo]))


def write_run(res: SimResult, folder: Path) -> Path:
    """Write a simulated run as a measured one: ``records.csv`` (+ ``.meta.json``),
    ``orderer.log`` and ``peer.log`` in Fabric's log format; returns the folder."""
    folder = Path(folder)
    wl = res.workload
    meta = {"mode": "simulation", "configured_rate_tps": wl.rate, "n_tx": wl.n_tx,
            "workload": wl.kind, "burst_size": wl.burst_size, "clients": wl.clients}
    write_records(res.records, folder / "records.csv", meta=meta)
    write_log(orderer_log(res.blocks), folder / "orderer.log")
    write_log(peer_log(res.blocks), folder / "peer.log")
    return folder
