"""One fault-tolerant training run: cluster shape, training, snapshots, checkpoints, faults.

Written to ``<run_dir>/config.json`` by the launcher and read by every trainer and SMP, so the
processes need nothing else.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GPTConfig:
    """The sizes of the chapter's GPT (:mod:`reprobook.reft.model`)."""
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 256
    seq_len: int = 64
    vocab: int = 256
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")

    def to_dict(self) -> dict:
        """The sizes as a plain dict."""
        return asdict(self)


FAULT_KINDS = ("kill", "torn", "hold")  # "hold": the trainers stop for the launcher (node loss)
CYCLE_METHODS = ("none", "reft", "ckpt")  # what may follow a step in the overhead experiment
CYCLE_WARMUP = 2  # steps before the overhead cycle's first block (not timed)


@dataclass(frozen=True)
class Fault:
    """A trainer-side fault at a defined point. ``kill`` SIGKILLs ``rank`` (-1: every rank) after
    the backward pass of iteration ``step`` (mid-iteration, before the optimizer step), once every
    rank's snapshot of ``step - 1`` is committed; ``torn`` SIGKILLs ``rank`` half-way through copying
    the snapshot taken after ``step`` (a torn write); ``hold`` stops every rank at the same point as
    ``kill`` and waits there until the launcher has injected a node loss (the launcher adds it for
    each :class:`reprobook.reft.cluster.NodeLoss`). Active in launch ``attempt`` only."""

    kind: str
    rank: int
    step: int
    attempt: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.rank < (-1 if self.kind in ("kill", "hold") else 0):
            raise ValueError(f"fault rank {self.rank}: a rank, or -1 (every rank) for 'kill'")
        if self.step < 1:
            raise ValueError(f"fault step {self.step}: steps count from 1")


@dataclass(frozen=True)
class Restore:
    """Where a launch starts: ``none`` (step 0), ``reft`` (the SMPs' snapshot of ``step``) or
    ``ckpt`` (the persistent checkpoint of ``step``)."""

    kind: str = "none"
    step: int = 0


@dataclass(frozen=True)
class RunConfig:
    """Everything one fault-tolerant run needs: cluster shape, training, snapshots, checkpoints,
    faults (written to ``config.json``).
    """
    run_dir: str
    shm_root: str
    n_nodes: int = 2
    ranks_per_node: int = 1
    steps: int = 30
    snap_every: int = 1         # REFT snapshot every k optimizer steps (0: off)
    parity: int = 1             # m parity blocks per stripe (0: no erasure coding)
    codec: str = "xor"          # "xor" (m = 1) or "rs"
    group_nodes: int = 0        # nodes per coding group (0: all nodes form one group)
    ckpt_every: int = 0         # persistent (disk) checkpoint every k steps (0: off)
    ckpt_dir: str = ""
    storage_mbps: float = 0.0   # emulated storage bandwidth for checkpoints (0: as fast as it goes)
    gpt: GPTConfig = field(default_factory=GPTConfig)
    batch_size: int = 8
    lr: float = 3e-3
    warmup: int = 5
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    attempt: int = 0
    restore: Restore = field(default_factory=Restore)
    faults: tuple[Fault, ...] = ()
    capacity: int = 0           # bytes per rank slot (0: computed by the launcher)
    smp_poll_s: float = 0.005
    smp_nice: int = 10          # SMPs run at lower CPU priority: they use spare cores, not the trainers'
    cycle: int = 0              # overhead experiment: iterations per block of one method
    cycle_methods: tuple[str, ...] = ()  # e.g. ("none", "reft", "ckpt"), alternated in blocks

    def __post_init__(self) -> None:
        if self.n_nodes < 1 or self.ranks_per_node < 1 or self.steps < 1:
            raise ValueError("n_nodes, ranks_per_node and steps must be >= 1")
        g = self.group_size
        if self.parity and not 1 <= self.parity < g:
            raise ValueError(f"parity m = {self.parity} needs a coding group of more than m nodes (group of {g})")
        if self.n_nodes % g:
            raise ValueError(f"{self.n_nodes} nodes do not split into coding groups of {g}")
        if self.codec == "xor" and self.parity > 1:
            raise ValueError("the XOR codec tolerates one lost node: use codec 'rs' for parity > 1")
        bad = sorted(set(self.cycle_methods) - set(CYCLE_METHODS))
        if bad:
            raise ValueError(f"unknown overhead method(s) {bad}; expected some of {CYCLE_METHODS}")
        if self.cycle_methods and self.cycle < 1:
            raise ValueError("cycle_methods needs cycle >= 1 (iterations per block)")
        if (self.ckpt_every or "ckpt" in self.cycle_methods) and not self.ckpt_dir:
            raise ValueError("persistent checkpoints need a ckpt_dir")

    def cycle_block(self, done: int) -> int | None:
        """The overhead cycle's block that step ``done`` belongs to (None: a warm-up step, before
        the first block); block i follows with ``cycle_methods[i % len(cycle_methods)]``."""
        if done <= CYCLE_WARMUP:
            return None
        return (done - 1 - CYCLE_WARMUP) // self.cycle

    @property
    def slot_every(self) -> int:
        """The snapshot period the two alternating slots are indexed by (1 in the overhead cycle,
        where snapshots follow whichever steps the REFT blocks cover)."""
        return self.snap_every or 1

    @property
    def world(self) -> int:
        """Trainer ranks in the run."""
        return self.n_nodes * self.ranks_per_node

    @property
    def group_size(self) -> int:
        """Nodes per coding group (all nodes when ``group_nodes`` is 0)."""
        return self.group_nodes or self.n_nodes

    def groups(self) -> list[list[int]]:
        """The coding groups: consecutive nodes."""
        g = self.group_size
        return [list(range(s, s + g)) for s in range(0, self.n_nodes, g)]

    def ranks_of(self, node: int) -> list[int]:
        """The ranks of node ``node``."""
        return list(range(node * self.ranks_per_node, (node + 1) * self.ranks_per_node))

    def node_of(self, rank: int) -> int:
        """The node of rank ``rank``."""
        return rank // self.ranks_per_node

    def rank_slot(self, rank: int, slot: int) -> Path:
        """The shared-memory file of one of a rank's two snapshot slots."""
        return Path(self.shm_root) / f"node{self.node_of(rank)}" / f"rank{rank}.slot{slot}"

    def parity_slot(self, node: int, stripe: int, t: int, slot: int) -> Path:
        """The shared-memory file of one of a node's parity slots."""
        return Path(self.shm_root) / f"node{node}" / f"parity{stripe}.{t}.slot{slot}"

    def with_(self, **kw: Any) -> "RunConfig":
        """A copy with some settings replaced."""
        return replace(self, **kw)

    def save(self, path: Path) -> None:
        """Write the config as JSON."""
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path | str) -> "RunConfig":
        """Read a config written by :meth:`save`."""
        d = json.loads(Path(path).read_text())
        d["gpt"] = GPTConfig(**d["gpt"])
        d["restore"] = Restore(**d["restore"])
        d["faults"] = tuple(Fault(**f) for f in d["faults"])
        d["cycle_methods"] = tuple(d.get("cycle_methods", ()))
        return cls(**d)
