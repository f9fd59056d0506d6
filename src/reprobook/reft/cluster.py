"""The launcher: SMPs and trainers as real processes, fault injection, recovery (paper Sec. 3-4).

:class:`Cluster` plays the job scheduler of a training cluster on one machine. Each simulated node
has one SMP and ``ranks_per_node`` trainers; its shared memory lives under
``<shm_root>/node<q>/``. Every process gets its own session, so killing the trainer group leaves
the SMPs running, exactly as a crashed trainer leaves a real node's SMP. Faults:

- a trainer (or all of them) SIGKILLed mid-iteration, or one mid-copy (``Fault`` in the config,
  raised inside the trainer at a defined point: see :mod:`reprobook.reft.trainer`);
- a whole node lost: its trainers and its SMP SIGKILLed and its shared memory deleted
  (:class:`NodeLoss`). The trainers hold at the loss's step (every rank's previous snapshot
  committed), the launcher waits until the SMPs have encoded that snapshot's parity, then removes
  the node. So the restore point of every scenario is determined by the schedule, not by timing:
  a kill or a node loss at step S restores the in-memory snapshot of S - 1, a torn write at S that
  of S - 1, a loss beyond what the code tolerates the newest persistent checkpoint.

After a failure the launcher kills the remaining trainers (as torchrun does), starts a fresh SMP on
every replaced node, and recovers: the restored step is the newest step whose snapshot every rank
holds, valid by checksum; a lost node's snapshot is rebuilt from the survivors' data and parity
(:func:`reprobook.reft.coding.decode`). If more nodes are lost than the code tolerates, the run falls
back to the newest persistent checkpoint (or to step 0 without one) and says so. Everything a
:class:`Cluster` starts is killed and every shared-memory file removed on exit, also on errors.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import coding
from . import slots as S
from .config import Fault, Restore, RunConfig
from .model import GPT
from .spec import ALIGN
from .smp import read_parity, read_regions
from .trainer import LAUNCHER_ENV, hold_file

_LIVE: set["Cluster"] = set()


@atexit.register
def _cleanup_all() -> None:  # pragma: no cover - a last resort on interpreter exit
    for c in list(_LIVE):
        c.close()


@dataclass(frozen=True)
class NodeLoss:
    """Lose ``nodes`` at step ``step`` of launch ``attempt`` (after the backward pass of that
    iteration, once the snapshot of ``step - 1`` and its parity are committed)."""

    step: int
    nodes: tuple[int, ...]
    attempt: int = 0

    def hold(self) -> Fault:
        """The trainer-side fault that stops every rank where this loss happens."""
        return Fault("hold", -1, self.step, self.attempt)


@dataclass
class Recovery:
    """One recovery: its cause, the last logged step, where it restored from, the nodes lost, the
    bytes rebuilt and the time to the recovered state.
    """
    attempt: int
    cause: str
    failed_at: int          # last step rank 0 had logged
    restore: Restore
    lost_nodes: tuple[int, ...]
    rebuilt_bytes: int
    seconds: float          # from the failure to the recovered state (decode + writes), not restart
    note: str = ""

    @property
    def lost_steps(self) -> int:
        """Steps to redo: from the restored step to the last logged one."""
        return self.failed_at - self.restore.step


@dataclass
class RunReport:
    """What :func:`run` did: its config, every recovery, rank 0's per-step log, the wall time."""
    config: RunConfig
    recoveries: list[Recovery] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)
    wall_s: float = 0.0

    def restored_from(self) -> list[str]:
        """Where each recovery restored from: "reft" (SMP memory), "ckpt" (disk) or "none"."""
        return [r.restore.kind for r in self.recoveries]

    def losses(self) -> dict[int, float]:
        """Per step, the loss of its last execution (what the finished run kept)."""
        return {r["step"]: r["loss"] for r in self.log}

    def reexecuted_agree(self) -> bool:
        """Every step executed more than once gave the same loss each time."""
        seen: dict[int, float] = {}
        for r in self.log:
            if r["step"] in seen and seen[r["step"]] != r["loss"]:
                return False
            seen[r["step"]] = r["loss"]
        return True

    def final_state(self) -> dict:
        """The trained model's state dict as rank 0 saved it at the end."""
        import torch

        return torch.load(Path(self.config.run_dir) / "final.pt")


def free_port() -> int:
    """A TCP port on loopback that is free now (for torch.distributed's rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slot_capacity(cfg: RunConfig) -> int:
    """Bytes a rank's shard can need: its ZeRO partition (at most 1/D of the parameters plus the
    largest tensor) times 3 (parameter, m, v), plus RNG and scheduler state."""
    import torch

    with torch.device("meta"):
        model = GPT(cfg.gpt)
    sizes = [p.numel() * p.element_size() for p in model.parameters()]
    part = sum(sizes) // cfg.world + max(sizes)
    return 3 * part + 3 * len(sizes) * ALIGN + (1 << 20)


class Cluster:
    """The processes of one run on this machine: an SMP per node and a trainer per rank."""

    def __init__(self, cfg: RunConfig, python: str = sys.executable):
        if not cfg.capacity:
            cfg = cfg.with_(capacity=slot_capacity(cfg))
        self.cfg = cfg
        self.python = python
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.smps: dict[int, subprocess.Popen] = {}
        self.trainers: dict[int, subprocess.Popen] = {}
        self.cfg_path = self.run_dir / "config.json"
        cfg.save(self.cfg_path)
        _LIVE.add(self)

    # -- processes --------------------------------------------------------------------------
    def _spawn(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
        out = open(log, "ab")
        e = {**os.environ, "OMP_NUM_THREADS": str(self.cfg.threads), **(env or {})}
        p = subprocess.Popen([self.python, *args], stdout=out, stderr=subprocess.STDOUT, env=e,
                             start_new_session=True, cwd=os.getcwd())
        out.close()
        return p

    def start_smps(self, nodes: list[int], timeout: float = 120.0) -> None:
        """Start the SMPs of ``nodes`` (all at once) and wait until each has its slots ready."""
        for node in nodes:
            (self.run_dir / f"smp{node}.ready").unlink(missing_ok=True)
            self.smps[node] = self._spawn(["-m", "reprobook.reft.smp", str(self.cfg_path), str(node), str(os.getpid())],
                                          self.run_dir / f"smp{node}.out")
        t0 = time.monotonic()
        for node in nodes:
            p, ready = self.smps[node], self.run_dir / f"smp{node}.ready"
            while not ready.exists():
                if p.poll() is not None:
                    raise RuntimeError(f"SMP of node {node} exited with {p.returncode}; see {self.run_dir / f'smp{node}.out'}")
                if time.monotonic() - t0 > timeout:
                    raise TimeoutError(f"SMP of node {node} not ready after {timeout:.0f} s")
                time.sleep(0.02)

    def start_smp(self, node: int) -> None:
        """Start the SMP of one node (:meth:`start_smps`)."""
        self.start_smps([node])

    def start_trainers(self, attempt: int, restore: Restore) -> None:
        """Launch every rank of ``attempt``, restoring ``restore`` (a config file per attempt)."""
        cfg = self.cfg.with_(attempt=attempt, restore=restore)
        path = self.run_dir / f"config-attempt{attempt}.json"
        cfg.save(path)
        port = str(free_port())
        for r in range(cfg.world):
            env = {"RANK": str(r), "WORLD_SIZE": str(cfg.world), "LOCAL_RANK": str(r % cfg.ranks_per_node),
                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, LAUNCHER_ENV: str(os.getpid())}
            self.trainers[r] = self._spawn(["-m", "reprobook.reft.trainer", str(path)],
                                           self.run_dir / f"trainer{r}.out", env)

    @staticmethod
    def _kill(p: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def kill_trainers(self, ranks: list[int] | None = None) -> None:
        """SIGKILL the trainers of ``ranks`` (default: all) and reap them."""
        for r in (list(self.trainers) if ranks is None else ranks):
            if r in self.trainers:
                self._kill(self.trainers.pop(r))

    def lose_node(self, node: int) -> None:
        """The node is gone: its trainers and SMP die, its shared memory with them."""
        self.kill_trainers(self.cfg.ranks_of(node))
        if node in self.smps:
            self._kill(self.smps.pop(node))
        S.remove_tree(Path(self.cfg.shm_root) / f"node{node}")

    def trainer_error(self, lines: int = 15) -> str:
        """The end of the output of the first trainer that exited non-zero."""
        for r in sorted(self.trainers):
            if self.trainers[r].poll() not in (None, 0):
                out = (self.run_dir / f"trainer{r}.out").read_text(errors="replace").splitlines()
                return f"rank {r} ({self.run_dir / f'trainer{r}.out'}):\n" + "\n".join(out[-lines:])
        return "(no trainer output)"

    def smps_alive(self) -> bool:
        """Whether every started SMP is still running."""
        return bool(self.smps) and all(p.poll() is None for p in self.smps.values())

    def close(self) -> None:
        """Kill every process of the run and remove its shared memory."""
        self.kill_trainers()
        for q in list(self.smps):
            self._kill(self.smps.pop(q), signal.SIGTERM)
        S.remove_tree(Path(self.cfg.shm_root))
        _LIVE.discard(self)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- watching ---------------------------------------------------------------------------
    def log_rows(self) -> list[dict]:
        """Rank 0's per-step log so far (a line being written is skipped)."""
        path = self.run_dir / "losses.jsonl"
        if not path.exists():
            return []
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written
                pass
        return rows

    def last_step(self, attempt: int) -> int:
        """The last step rank 0 logged in ``attempt`` (-1: none)."""
        steps = [r["step"] for r in self.log_rows() if r["attempt"] == attempt]
        return max(steps, default=-1)

    def parity_step(self, node: int) -> int:
        """The newest step whose parity the SMP of ``node`` has committed (its log; -1: none)."""
        path = self.run_dir / f"smp{node}.log"
        steps = [-1]
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    steps.append(int(json.loads(line).get("step", -1)))
                except (json.JSONDecodeError, ValueError):
                    pass
        return max(steps)

    def watch(self, attempt: int, losses: list[NodeLoss], timeout: float) -> tuple[str, tuple[int, ...]]:
        """Wait for the launch to finish ("done"), a trainer to fail ("crash") or a scheduled node
        loss ("node-loss", with the nodes): the trainers hold at its step, and the SMPs of the lost
        nodes' coding groups have encoded the snapshot of the step before."""
        t0 = time.monotonic()
        due = [nl for nl in losses if nl.attempt == attempt]
        while True:
            codes = {r: p.poll() for r, p in self.trainers.items()}
            if codes and all(c == 0 for c in codes.values()):
                return "done", ()
            if any(c not in (None, 0) for c in codes.values()):
                return "crash", ()
            for nl in due:
                if (self.run_dir / hold_file(attempt, nl.step)).exists():
                    groups = [g for g in self.cfg.groups() if set(g) & set(nl.nodes)]
                    nodes = [q for g in groups for q in g]
                    if not self.cfg.parity or all(self.parity_step(q) >= nl.step - 1 for q in nodes):
                        return "node-loss", nl.nodes
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"attempt {attempt} did not finish in {timeout:.0f} s; see {self.run_dir}/trainer*.out")
            time.sleep(0.01)

    # -- recovery ---------------------------------------------------------------------------
    def valid_steps(self, rank: int) -> set[int]:
        """The steps of the committed, checksum-valid snapshots ``rank`` holds."""
        out = set()
        for i in (0, 1):
            try:
                with S.Slot(self.cfg.rank_slot(rank, i)) as slot:
                    info = slot.info(verify=True)
                    if info is not None:
                        out.add(info.step)
            except (S.SlotError, OSError):
                pass
        return out

    def _rebuild(self, group: list[int], lost: list[int], step: int) -> int | None:
        """Rebuild the lost nodes' snapshots of ``step`` into their (new) slots; bytes rebuilt, or
        None if the survivors' data or parity of that step are not all there."""
        cfg = self.cfg
        lay = coding.Layout(len(group), cfg.parity)
        survivors = [q for q in group if q not in lost]
        got = read_regions(cfg, survivors, step)
        if got is None:
            return None
        data, lengths, _ = got
        parity, meta = {}, None
        for q in survivors:
            for stripe, t in lay.parity_stripes(group.index(q)):
                pr = read_parity(cfg, q, stripe, t, step)
                if pr is not None:
                    meta, parity[(stripe, t)] = pr
        if meta is None:
            return None
        rank_len = {int(r): n for r, n in meta["rank_lengths"].items()}
        node_len = {group.index(q): sum(rank_len[r] for r in cfg.ranks_of(q)) for q in group}
        try:
            rebuilt = coding.decode(len(group), cfg.parity, {group.index(q): d for q, d in data.items()},
                                    parity, node_len, cfg.codec)
        except coding.Unrecoverable:
            return None
        total = 0
        for q in lost:
            blob, off = rebuilt[group.index(q)], 0
            for r in cfg.ranks_of(q):
                region = blob[off:off + rank_len[r]]
                off += rank_len[r]
                with S.Slot(cfg.rank_slot(r, S.slot_index(step, cfg.slot_every))) as slot:
                    slot.write_raw(region)
                    if (info := slot.info(verify=True)) is None or info.step != step:
                        return None
                total += len(region)
        return total

    def latest_checkpoint(self) -> int | None:
        """The newest committed persistent checkpoint's step, or None."""
        d = Path(self.cfg.ckpt_dir) if self.cfg.ckpt_dir else None
        if d is None or not d.exists():
            return None
        steps = [int(p.name.split("-")[1]) for p in d.glob("step-*") if (p / "COMMIT").exists()]
        return max(steps, default=None)

    def recover(self, lost: tuple[int, ...]) -> tuple[Restore, int, str]:
        """The restore point after a failure that took ``lost`` nodes (their SMPs restarted)."""
        cfg = self.cfg
        note = ""
        if cfg.snap_every:
            by_group = []
            ok = True
            for group in cfg.groups():
                gl = [q for q in lost if q in group]
                if len(gl) > cfg.parity:
                    ok = False
                    note = (f"{len(gl)} nodes lost in coding group {group} (tolerates m = {cfg.parity}): "
                            f"in-memory snapshots unrecoverable")
                by_group.append((group, gl))
            if ok:
                surviving = [r for r in range(cfg.world) if cfg.node_of(r) not in lost]
                common = set.intersection(*(self.valid_steps(r) for r in surviving)) if surviving else set()
                for step in sorted(common, reverse=True):
                    rebuilt, good = 0, True
                    for group, gl in by_group:
                        if gl:
                            got = self._rebuild(group, gl, step)
                            if got is None:
                                good = False
                                break
                            rebuilt += got
                    if good:
                        return Restore("reft", step), rebuilt, note
                note = note or "no step whose snapshot every rank holds (and whose parity survives)"
        ck = self.latest_checkpoint()
        if ck is not None:
            return Restore("ckpt", ck), 0, (note + "; " if note else "") + f"fell back to the persistent checkpoint of step {ck}"
        return Restore("none", 0), 0, (note + "; " if note else "") + "no persistent checkpoint: restarting from step 0"


def run(cfg: RunConfig, node_losses: tuple[NodeLoss, ...] = (), *, timeout: float = 600.0,
        max_attempts: int = 8, python: str = sys.executable,
        echo: Callable[[str], None] | None = None) -> RunReport:
    """Train ``cfg.steps`` steps through every fault in ``cfg.faults`` and ``node_losses``."""
    echo = echo or (lambda s: None)
    t0 = time.perf_counter()
    holds = tuple(nl.hold() for nl in node_losses)
    if holds:
        cfg = cfg.with_(faults=cfg.faults + holds)
    report = RunReport(cfg)
    with Cluster(cfg, python=python) as c:
        (c.run_dir / "losses.jsonl").unlink(missing_ok=True)
        c.start_smps(list(range(cfg.n_nodes)))
        restore, attempt = Restore(), 0
        while True:
            c.start_trainers(attempt, restore)
            outcome, nodes = c.watch(attempt, list(node_losses), timeout)
            if outcome == "done":
                break
            failed_at = c.last_step(attempt)
            planned = any(f.attempt == attempt for f in cfg.faults)
            if outcome == "crash" and not planned:
                raise RuntimeError(f"attempt {attempt}: a trainer failed without an injected fault:\n{c.trainer_error()}")
            if outcome == "node-loss":
                for q in nodes:
                    c.lose_node(q)
            c.kill_trainers()
            c.start_smps(list(nodes))  # the replacement nodes
            t_rec = time.perf_counter()
            restore, rebuilt, note = c.recover(nodes)
            rec = Recovery(attempt, outcome, failed_at, restore, nodes, rebuilt, time.perf_counter() - t_rec, note)
            report.recoveries.append(rec)
            echo(f"attempt {attempt}: {outcome}{' of nodes ' + str(list(nodes)) if nodes else ''} after step "
                 f"{failed_at}; restore {restore.kind} step {restore.step} ({rebuilt} B rebuilt, "
                 f"{rec.seconds * 1e3:.0f} ms){'; ' + note if note else ''}")
            attempt += 1
            if attempt >= max_attempts:
                raise RuntimeError(f"gave up after {attempt} attempts")
        report.log = c.log_rows()
    report.wall_s = time.perf_counter() - t0
    return report


def new_run(base: Path, name: str, **kw) -> RunConfig:
    """A config with a fresh run folder under ``base`` and a unique shared-memory root."""
    run_dir = base / name
    shutil.rmtree(run_dir, ignore_errors=True)
    shm = Path("/dev/shm") / f"reft-{uuid.uuid4().hex[:10]}"
    ckpt = str(run_dir / "ckpt") if kw.get("ckpt_every") or "ckpt" in kw.get("cycle_methods", ()) \
        else ""
    return RunConfig(run_dir=str(run_dir), shm_root=str(shm), ckpt_dir=ckpt, **kw)


def states_equal(a: dict, b: dict) -> bool:
    """Whether two state dicts hold the same keys and bitwise-equal tensors."""
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

