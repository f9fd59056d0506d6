"""What the notebooks run: the overhead job, the fault scenarios and their tables (no plotting)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import cluster
from .config import CYCLE_WARMUP, Fault, RunConfig
from .cluster import NodeLoss, RunReport


def iteration_time(rep: RunReport, skip: int = 3) -> float:
    """Median seconds per iteration of the first launch (rank 0's log), skipping warm-up steps."""
    rows = [r for r in rep.log if r["attempt"] == 0]
    t = np.array([r["t"] for r in rows])
    d = np.diff(t)[skip:]
    if len(d) == 0:
        raise ValueError(f"run {rep.config.run_dir}: too few steps ({len(rows)}) to time iterations")
    return float(np.median(d))


OVERHEAD_METHODS = ("none", "reft", "ckpt")


def overhead_run(base: Path, common: dict, storage_mbps: float, cycle: int, repeats: int,
                 methods: tuple[str, ...] = OVERHEAD_METHODS) -> RunReport:
    """One training job whose steps alternate, in blocks of ``cycle`` iterations, between nothing,
    a REFT snapshot (with the run's parity) and a blocking sharded checkpoint at the emulated
    bandwidth; ``repeats`` rounds of every block, so the methods are paired in the same processes."""
    if cycle < 2:
        raise ValueError("cycle must be >= 2: the first iteration of a block is a transition")
    steps = CYCLE_WARMUP + cycle * len(methods) * repeats
    cfg = cluster.new_run(base, "overhead", **{**common, "steps": steps, "snap_every": 0,
                                               "storage_mbps": storage_mbps, "ckpt_every": 0,
                                               "cycle": cycle, "cycle_methods": methods})
    return cluster.run(cfg)


def overhead_table(rep: RunReport) -> pd.DataFrame:
    """Per round and method, the median time of the block's iterations (its first iteration is a
    transition and dropped), and the overhead against the round's ``none`` block."""
    cfg = rep.config
    rows = sorted((r for r in rep.log if r["attempt"] == 0), key=lambda r: r["step"])
    t = {r["step"]: r["t"] for r in rows}
    blocks: dict[tuple[int, str], list[float]] = {}
    n = len(cfg.cycle_methods)
    for step in range(2, cfg.steps + 1):  # iteration `step` ran between the logs of step-1 and step
        i, prev = cfg.cycle_block(step), cfg.cycle_block(step - 1)
        if i is None or i != prev or step - 1 not in t or step not in t:
            continue  # warm-up, or a transition: the previous step's method is another block's
        blocks.setdefault((i // n, cfg.cycle_methods[i % n]), []).append(t[step] - t[step - 1])
    out = pd.DataFrame([{"round": r, "method": m, "s_per_iter": float(np.median(v)),
                         "iterations": len(v)} for (r, m), v in sorted(blocks.items())])
    base = out[out.method == "none"].set_index("round")["s_per_iter"]
    out["overhead_%"] = 100 * (out["s_per_iter"] / out["round"].map(base) - 1)
    return out


@dataclass(frozen=True)
class Scenario:
    """A run's faults and node losses, and where each of its recoveries must restore from:
    ``expect`` holds (kind, step) per recovery, in order."""

    name: str
    faults: tuple[Fault, ...] = ()
    node_losses: tuple[NodeLoss, ...] = ()
    expect: tuple[tuple[str, int], ...] = ()


def scenarios(steps: int, n_nodes: int, ranks_per_node: int, ckpt_every: int = 0) -> list[Scenario]:
    """The chapter's faults, at fractions of the run, with the restore point each must give: a
    kill, a node loss or every trainer killed at step S restore the in-memory snapshot of S - 1, a
    torn write at S that of S - 1, and more lost nodes than the code tolerates the newest
    persistent checkpoint before S (step 0 without checkpoints)."""
    world = n_nodes * ranks_per_node
    a, b, c = max(2, steps * 3 // 8), max(3, steps // 2), max(4, steps * 5 // 8)
    disk = ("ckpt", (c - 1) // ckpt_every * ckpt_every) if ckpt_every and c - 1 >= ckpt_every \
        else ("none", 0)
    return [
        Scenario("failure-free"),
        Scenario("trainer SIGKILL mid-iteration", faults=(Fault("kill", world - 1, a),),
                 expect=(("reft", a - 1),)),
        Scenario("every trainer SIGKILLed", faults=(Fault("kill", -1, a),),
                 expect=(("reft", a - 1),)),
        Scenario("killed during a snapshot copy (torn write)", faults=(Fault("torn", 0, b),),
                 expect=(("reft", b - 1),)),
        Scenario("whole node lost", node_losses=(NodeLoss(b, (n_nodes - 1,)),),
                 expect=(("reft", b - 1),)),
        Scenario("m + 1 nodes lost", node_losses=(NodeLoss(c, tuple(range(2))),), expect=(disk,)),
        Scenario("all of the above, one after another",
                 faults=(Fault("kill", world - 1, a, attempt=0), Fault("torn", 0, b, attempt=1)),
                 node_losses=(NodeLoss(c, (n_nodes - 1,), attempt=2),),
                 expect=(("reft", a - 1), ("reft", b - 1), ("reft", c - 1))),
    ]


def run_scenarios(base: Path, common: dict, todo: list[Scenario],
                  echo: Callable[[str], None] = print) -> dict[str, RunReport]:
    """Run every scenario from scratch in its own folder; the reports by scenario name."""
    out = {}
    for i, sc in enumerate(todo):
        echo(f"-- {sc.name}")
        cfg = cluster.new_run(base, f"scenario{i}", **common, faults=sc.faults)
        out[sc.name] = cluster.run(cfg, sc.node_losses, echo=echo)
    return out


def recovery_table(reports: dict[str, RunReport],
                   expected: dict[str, tuple[tuple[str, int], ...]] | None = None) -> pd.DataFrame:
    """One row per recovery: cause, what was lost, where it restored from (and whether that is
    where the scenario must restore from), the work redone, the bytes rebuilt, the time."""
    rows = []
    for name, rep in reports.items():
        want = list((expected or {}).get(name, ()))
        for i, r in enumerate(rep.recoveries):
            exp = want[i] if i < len(want) else None
            rows.append({"scenario": name, "cause": r.cause, "lost nodes": list(r.lost_nodes),
                         "failed after step": r.failed_at, "restored from": r.restore.kind,
                         "restored step": r.restore.step,
                         "expected": f"{exp[0]} {exp[1]}" if exp else "",
                         "as expected": exp == (r.restore.kind, r.restore.step) if exp else None,
                         "steps redone": r.lost_steps, "bytes rebuilt": r.rebuilt_bytes,
                         "recovery ms": round(1e3 * r.seconds, 1), "note": r.note})
    return pd.DataFrame(rows)


def equality_table(reports: dict[str, RunReport], reference: str = "failure-free") -> pd.DataFrame:
    """Per run: same per-step losses as the reference, re-executed steps consistent, final weights
    bitwise equal (sha256 of every tensor)."""
    from .state import digest

    ref = reports[reference]
    ref_digest = digest(ref.final_state())
    rows = []
    for name, rep in reports.items():
        losses, rl = rep.losses(), ref.losses()
        rows.append({"run": name, "recoveries": len(rep.recoveries),
                     "steps": len(losses), "losses equal": losses == rl,
                     "max |loss diff|": max((abs(losses[s] - rl[s]) for s in rl if s in losses), default=float("nan")),
                     "re-executed steps agree": rep.reexecuted_agree(),
                     "final weights bitwise equal": digest(rep.final_state()) == ref_digest,
                     "wall s": round(rep.wall_s, 1)})
    return pd.DataFrame(rows)


def common_config(**kw) -> dict:
    """Keyword arguments for :func:`reprobook.reft.cluster.new_run` from notebook parameters."""
    fields = set(RunConfig.__dataclass_fields__)
    bad = sorted(set(kw) - fields)
    if bad:
        raise ValueError(f"unknown run setting(s) {bad}; known: {sorted(fields)}")
    return kw
