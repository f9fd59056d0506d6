"""What the notebooks run: overhead runs, the fault scenarios and their tables (no plotting)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import cluster
from .config import Fault, RunConfig
from .cluster import NodeLoss, RunReport


def iteration_time(rep: RunReport, skip: int = 3) -> float:
    """Median seconds per iteration of the first launch (rank 0's log), skipping warm-up steps."""
    rows = [r for r in rep.log if r["attempt"] == 0]
    t = np.array([r["t"] for r in rows])
    d = np.diff(t)[skip:]
    if len(d) == 0:
        raise ValueError(f"run {rep.config.run_dir}: too few steps ({len(rows)}) to time iterations")
    return float(np.median(d))


def overhead_runs(base: Path, common: dict, storage_mbps: float, only: list[str] | None = None,
                  echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Per-iteration time of the same training without fault tolerance, with a REFT snapshot after
    every step (no coding / XOR), and with a blocking sharded checkpoint at the emulated bandwidth
    after every step."""
    variants = {
        "none": dict(snap_every=0, parity=0),
        "REFT every step, no coding": dict(snap_every=1, parity=0),
        "REFT every step + XOR": dict(snap_every=1, parity=1, codec="xor"),
        f"torch.save every step ({storage_mbps:g} MB/s)": dict(snap_every=0, parity=0, ckpt_every=1,
                                                             storage_mbps=storage_mbps),
    }
    if only:
        unknown = sorted(set(only) - set(variants))
        if unknown:
            raise ValueError(f"unknown overhead method(s) {unknown}; known: {list(variants)}")
        variants = {k: v for k, v in variants.items() if k == "none" or k in only}
    rows = []
    for i, (name, kw) in enumerate(variants.items()):
        rep = cluster.run(cluster.new_run(base, f"overhead{i}", **{**common, **kw}))
        rows.append({"method": name, "s_per_iter": iteration_time(rep),
                     "snapshot_wait_s_total": rep.log[-1]["wait"], "copy_s_last": rep.log[-1]["copy"]})
        echo(f"{name}: {rows[-1]['s_per_iter'] * 1e3:.1f} ms / iteration")
    df = pd.DataFrame(rows)
    df["overhead_%"] = 100 * (df.s_per_iter / df.s_per_iter.iloc[0] - 1)
    return df


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: tuple[Fault, ...] = ()
    node_losses: tuple[NodeLoss, ...] = ()


def scenarios(steps: int, n_nodes: int, ranks_per_node: int) -> list[Scenario]:
    """The chapter's faults, placed at fractions of the run (ranks and nodes chosen to differ)."""
    world = n_nodes * ranks_per_node
    a, b, c = max(2, steps * 3 // 8), max(3, steps // 2), max(4, steps * 5 // 8)
    return [
        Scenario("failure-free"),
        Scenario("trainer SIGKILL mid-iteration", faults=(Fault("kill", world - 1, a),)),
        Scenario("killed during a snapshot copy (torn write)", faults=(Fault("torn", 0, b),)),
        Scenario("whole node lost", node_losses=(NodeLoss(b, (n_nodes - 1,)),)),
        Scenario("m + 1 nodes lost", node_losses=(NodeLoss(c, tuple(range(2))),)),
        Scenario("all of the above, one after another",
                 faults=(Fault("kill", world - 1, a, attempt=0), Fault("torn", 0, b, attempt=1)),
                 node_losses=(NodeLoss(c, (n_nodes - 1,), attempt=2),)),
    ]


def run_scenarios(base: Path, common: dict, todo: list[Scenario],
                  echo: Callable[[str], None] = print) -> dict[str, RunReport]:
    out = {}
    for i, sc in enumerate(todo):
        echo(f"-- {sc.name}")
        cfg = cluster.new_run(base, f"scenario{i}", **common, faults=sc.faults)
        out[sc.name] = cluster.run(cfg, sc.node_losses, echo=echo)
    return out


def recovery_table(reports: dict[str, RunReport]) -> pd.DataFrame:
    rows = []
    for name, rep in reports.items():
        for r in rep.recoveries:
            rows.append({"scenario": name, "cause": r.cause, "lost nodes": list(r.lost_nodes),
                         "failed after step": r.failed_at, "restored from": r.restore.kind,
                         "restored step": r.restore.step, "steps redone": r.lost_steps,
                         "bytes rebuilt": r.rebuilt_bytes, "recovery ms": round(1e3 * r.seconds, 1),
                         "note": r.note})
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


def smp_survival(base: Path, common: dict, after_steps: int = 3, timeout: float = 120.0) -> dict:
    """Kill the whole trainer group once rank 0 has logged ``after_steps`` steps; report whether
    every SMP is still running and which snapshot steps every rank still holds."""
    import time

    from .config import Restore

    cfg = cluster.new_run(base, "smp-survival", **{**common, "steps": 10_000})
    with cluster.Cluster(cfg) as c:
        c.start_smps(list(range(c.cfg.n_nodes)))
        c.start_trainers(0, Restore())
        t0 = time.monotonic()
        while c.last_step(0) < after_steps:
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"trainers logged no step {after_steps} in {timeout:.0f} s; see {c.run_dir}")
            time.sleep(0.05)
        pids = [p.pid for p in c.trainers.values()]
        c.kill_trainers()
        alive = c.smps_alive()
        held = {r: sorted(c.valid_steps(r)) for r in range(c.cfg.world)}
    return {"trainers_killed": pids, "smps_alive": alive, "valid_steps": held,
            "common": sorted(set.intersection(*(set(v) for v in held.values())))}
