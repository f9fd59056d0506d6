"""Per-phase latencies from client records and orderer/peer logs: one code path for a real
Fabric measurement (the harness and the nodes' logs) and for the simulation's output.

Phase boundaries follow the paper's timestamp scheme (revised manuscript eqs. 8-10):

- execute ``T^e = t2 - t1`` (proposal sent to endorsement received; eq. 8's t4 - t1);
- order ``T^r = created(block) - t2`` (transaction submitted to block created: eq. 9's t8 - t4);
- validate ``T^v = committed(block) - created(block)`` (eq. 10's t10 - t8);
- and, outside the paper's three phases, ``ack = t3 - t2`` (broadcast acknowledgement),
  ``notify = t4 - committed(block)`` (commit event to the client), ``total = t4 - t0``.

The orderer's ``Writing block`` time splits ``T^v`` into ``raft`` (created -> written, Raft
consensus on the block in Fabric's etcdraft) and the rest. Clocks of different hosts must be
synchronised (the paper used NTP, 2-3 ms); the logs' millisecond resolution bounds the precision.
Failed transactions are counted and left out of the latencies, never dropped silently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .logs import ParsedLog, parse_log
from .records import read_meta, read_records

PHASE_COLUMNS = ("execute", "order", "validate", "ack", "notify", "raft", "total")


def phase_times(records: pd.DataFrame, orderer: pd.DataFrame, peer: pd.DataFrame) -> pd.DataFrame:
    """One row per VALID transaction with its phase latencies (seconds)."""
    ok = records[records["status"] == "VALID"]
    blk = orderer.set_index("block").join(peer.set_index("block"), how="outer")
    missing = sorted(set(ok["block"]) - set(blk.dropna(subset=["t_created", "t_committed"]).index))
    if missing:
        raise ValueError(f"{len(missing)} blocks of the records are not in both logs (first: "
                         f"{missing[:5]}): the logs do not cover the run")
    b = blk.reindex(ok["block"].to_numpy())
    out = pd.DataFrame({
        "tx_id": ok["tx_id"].to_numpy(), "block": ok["block"].to_numpy(),
        "t0": ok["t0"].to_numpy(),
        "execute": (ok["t2"] - ok["t1"]).to_numpy(),
        "order": b["t_created"].to_numpy() - ok["t2"].to_numpy(),
        "validate": (b["t_committed"] - b["t_created"]).to_numpy(),
        "ack": (ok["t3"] - ok["t2"]).to_numpy(),
        "notify": ok["t4"].to_numpy() - b["t_committed"].to_numpy(),
        "raft": (b["t_written"] - b["t_created"]).to_numpy(),
        "total": (ok["t4"] - ok["t0"]).to_numpy(),
    })
    return out


def summarize(phases: pd.DataFrame, warmup: float = 0.0) -> pd.DataFrame:
    """Mean, standard deviation, median and 95th percentile of every phase (ms), after dropping
    the first ``warmup`` fraction of transactions (by creation time)."""
    p = phases.sort_values("t0")
    p = p.iloc[int(warmup * len(p)):]
    rows = []
    for col in PHASE_COLUMNS:
        x = p[col].to_numpy(float) * 1000.0
        rows.append({"phase": col, "n": int(np.isfinite(x).sum()), "mean_ms": np.nanmean(x),
                     "sd_ms": np.nanstd(x, ddof=1), "p50_ms": np.nanpercentile(x, 50),
                     "p95_ms": np.nanpercentile(x, 95)})
    return pd.DataFrame(rows)


def achieved_rate(records: pd.DataFrame, configured: float | None,
                  tolerance: float = 0.05) -> dict[str, float | bool | None]:
    """The rate at which transactions were actually created, against the configured one.

    A load generator that cannot keep up sends fewer transactions per second than asked, and a
    benchmark that reports the configured rate then misreports it; ``deviates`` flags a relative
    difference above ``tolerance``."""
    t0 = np.sort(records["t0"].to_numpy(float))
    span = float(t0[-1] - t0[0]) if t0.size > 1 else 0.0
    rate = (t0.size - 1) / span if span > 0 else float("nan")
    out: dict[str, float | bool | None] = {"achieved_tps": rate, "configured_tps": configured,
                                           "relative_diff": None, "deviates": None}
    if configured:
        out["relative_diff"] = float(rate / configured - 1.0)
        out["deviates"] = bool(abs(rate / configured - 1.0) > tolerance)
    out["failed"] = int((records["status"] != "VALID").sum())
    return out


def load_run(folder: Path, tz_offset_s: float | None = None) -> dict[str, object]:
    """Read one run folder (``records.csv`` + ``.meta.json``, ``orderer.log``, ``peer.log``)."""
    folder = Path(folder)
    rec = read_records(folder / "records.csv")
    orderer: ParsedLog = parse_log(folder / "orderer.log", "orderer", tz_offset_s)
    peer: ParsedLog = parse_log(folder / "peer.log", "peer", tz_offset_s)
    return {"records": rec, "meta": read_meta(folder / "records.csv"), "orderer": orderer,
            "peer": peer, "phases": phase_times(rec, orderer.blocks, peer.blocks)}


def repeats(summaries: list[pd.DataFrame]) -> pd.DataFrame:
    """Mean and standard deviation across repeated runs of every phase's mean latency (ms)."""
    if not summaries:
        raise ValueError("no runs to combine")
    cat = pd.concat([s.assign(run=i) for i, s in enumerate(summaries)])
    g = cat.groupby("phase", sort=False)["mean_ms"]
    return pd.DataFrame({"runs": g.size(), "mean_ms": g.mean(), "sd_across_runs_ms": g.std(ddof=1)
                         }).reset_index()
