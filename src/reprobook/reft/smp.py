"""Snapshot management processes (paper Sec. 3: SMPs keep snapshots alive across trainer crashes).

One SMP per node, started by the launcher in its own process session (``start_new_session``), so a
trainer's crash, or the whole trainer group being killed, does not reach it. It

1. creates and pre-faults the shared-memory slots of its node's ranks (two per rank) and of the
   parity blocks it stores, then writes ``<run_dir>/smp<node>.ready``;
2. watches the slots: when every rank of its coding group has committed the snapshot of a step S,
   it reads the group's snapshot regions (on one machine: the peers' ``/dev/shm`` files; across real
   nodes this read is the network transfer), computes the parity blocks it is responsible for
   (:func:`reprobook.reft.coding.node_parity`) and commits them to its parity slot of S — unless a
   source slot changed while it read (then it skips S);
3. exits on SIGTERM.

It imports no torch (NumPy and zfec only), so it starts in a fraction of a second.

It runs at a lower CPU priority (``smp_nice``): the paper puts snapshot management on the node's
spare CPU cores, so under contention the trainers come first and parity may lag behind the newest
snapshot (recovery then restores the newest step whose parity exists).

Run as ``python -m reprobook.reft.smp <config.json> <node> [<launcher pid>]``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from . import coding
from . import slots as S
from .config import RunConfig
from .spec import byte_specs

META_BYTES = 16 * 1024


def group_of(cfg: RunConfig, node: int) -> list[int]:
    """The coding group that node ``node`` belongs to."""
    return next(g for g in cfg.groups() if node in g)


def parity_capacity(cfg: RunConfig) -> int:
    """Bytes a parity slot needs: the group's largest data chunk plus metadata."""
    k = cfg.group_size - cfg.parity
    return -(-cfg.ranks_per_node * (S.HEADER + cfg.capacity) // k) + META_BYTES + 4096


def create_slots(cfg: RunConfig, node: int) -> None:
    """Create and pre-fault node ``node``'s rank slots and parity slots."""
    for r in cfg.ranks_of(node):
        for i in (0, 1):
            S.create(cfg.rank_slot(r, i), cfg.capacity)
    if cfg.parity:
        group = group_of(cfg, node)
        lay = coding.Layout(len(group), cfg.parity)
        for stripe, t in lay.parity_stripes(group.index(node)):
            for i in (0, 1):
                S.create(cfg.parity_slot(node, stripe, t, i), parity_capacity(cfg))


def read_regions(cfg: RunConfig, nodes: list[int], step: int, verify: bool = True) -> tuple[dict[int, np.ndarray], dict[int, int], dict[int, tuple[int, int]]] | None:
    """Every rank's snapshot region of ``step`` on ``nodes``: node data (ranks concatenated),
    per-rank region lengths, and (step, writes) of each source header to re-check after use."""
    idx = S.slot_index(step, cfg.slot_every)
    data, lengths, stamps = {}, {}, {}
    for q in nodes:
        parts = []
        for r in cfg.ranks_of(q):
            try:
                with S.Slot(cfg.rank_slot(r, idx)) as slot:
                    info = slot.info(verify=verify)
                    if info is None or info.step != step:
                        return None
                    stamps[r] = (int(slot.head[1]), int(slot.head[6]))
                    region = slot.raw()
            except (S.SlotError, OSError, ValueError):
                return None
            lengths[r] = len(region)
            parts.append(region)
        data[q] = np.concatenate(parts)
    return data, lengths, stamps


def unchanged(cfg: RunConfig, step: int, stamps: dict[int, tuple[int, int]]) -> bool:
    """Whether the source slots still hold what was read (step and write count)."""
    idx = S.slot_index(step, cfg.slot_every)
    for r, stamp in stamps.items():
        try:
            with S.Slot(cfg.rank_slot(r, idx)) as slot:
                if (int(slot.head[1]), int(slot.head[6])) != stamp or slot.head[5] != 1:
                    return False
        except (S.SlotError, OSError, ValueError):
            return False
    return True


def encode_step(cfg: RunConfig, node: int, step: int) -> bool:
    """Compute and commit this node's parity blocks for ``step``; False if the sources moved on."""
    group = group_of(cfg, node)
    # no checksum pass here: a torn source has no commit flag, and a corrupt one fails its own
    # checksum after reconstruction, which recovery verifies
    got = read_regions(cfg, group, step, verify=False)
    if got is None:
        return False
    data, lengths, stamps = got
    lay = coding.Layout(len(group), cfg.parity)
    local = {group.index(q): d for q, d in data.items()}
    size = coding.chunk_size([len(d) for d in local.values()], lay.k)
    blocks = coding.node_parity(lay, group.index(node), local, cfg.codec, size)
    if not unchanged(cfg, step, stamps):
        return False
    idx = S.slot_index(step, cfg.slot_every)
    meta = np.frombuffer(json.dumps({"step": step, "size": size,
                                     "rank_lengths": {str(r): n for r, n in lengths.items()}}).encode(), dtype=np.uint8)
    for (stripe, t), block in blocks.items():
        specs = byte_specs({"meta": len(meta), "block": len(block)})
        with S.Slot(cfg.parity_slot(node, stripe, t, idx)) as slot:
            buf = slot.begin(specs)
            buf[specs[0].offset:specs[0].offset + len(meta)] = meta
            buf[specs[1].offset:specs[1].offset + len(block)] = block
            slot.commit(step, len(buf))
    return True


def read_parity(cfg: RunConfig, node: int, stripe: int, t: int, step: int) -> tuple[dict, np.ndarray] | None:
    """(meta, block) of a committed, checksum-valid parity slot of ``step``, else None."""
    try:
        with S.Slot(cfg.parity_slot(node, stripe, t, S.slot_index(step, cfg.slot_every))) as slot:
            info = slot.info(verify=True)
            if info is None or info.step != step:
                return None
            parts = {sp.name: np.array(slot.payload[sp.offset:sp.offset + sp.nbytes]) for sp in info.specs}
    except (S.SlotError, OSError):
        return None
    return json.loads(parts["meta"].tobytes().decode()), parts["block"]


def latest_common_step(cfg: RunConfig, ranks: list[int]) -> int:
    """The newest step whose snapshot header every rank shows committed (no checksum: a hint)."""
    best = None
    for r in ranks:
        steps = []
        for i in (0, 1):
            try:
                with S.Slot(cfg.rank_slot(r, i)) as slot:
                    if slot.head[0] == S.MAGIC and slot.head[5] == 1:
                        steps.append(int(slot.head[1]))
            except (S.SlotError, OSError, ValueError):
                pass
        if not steps:
            return -1
        best = max(steps) if best is None else min(best, max(steps))
    return -1 if best is None else best


def serve(cfg: RunConfig, node: int, log: Path, launcher: int | None = None) -> None:
    """Encode until SIGTERM, or until the launcher that started this SMP is gone (then nobody can
    recover from these snapshots any more: the SMP removes its node's shared memory and exits, so
    a killed notebook or test leaves no orphan behind)."""
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    group = group_of(cfg, node)
    ranks = [r for q in group for r in cfg.ranks_of(q)]
    last = 0
    with open(log, "a") as f:
        while not stop["flag"]:
            if launcher is not None and os.getppid() != launcher:
                S.remove_tree(Path(cfg.shm_root) / f"node{node}")
                f.write(json.dumps({"node": node, "exit": "launcher gone"}) + "\n")
                return
            step = latest_common_step(cfg, ranks) if cfg.parity else -1
            if step > last:
                t = time.perf_counter()
                if encode_step(cfg, node, step):
                    last = step
                    f.write(json.dumps({"node": node, "step": step, "encode_s": time.perf_counter() - t}) + "\n")
                    f.flush()
                continue
            time.sleep(cfg.smp_poll_s)


def main(argv: list[str] | None = None) -> int:
    """Run one SMP: ``python -m reprobook.reft.smp <config.json> <node> [<launcher pid>]``."""
    argv = sys.argv[1:] if argv is None else argv
    cfg, node = RunConfig.load(argv[0]), int(argv[1])
    launcher = int(argv[2]) if len(argv) > 2 else None
    if cfg.smp_nice:
        os.nice(cfg.smp_nice)
    create_slots(cfg, node)
    run_dir = Path(cfg.run_dir)
    (run_dir / f"smp{node}.ready").write_text(str(node))
    serve(cfg, node, run_dir / f"smp{node}.log", launcher)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # the slots stay: they belong to the node, not to this process
