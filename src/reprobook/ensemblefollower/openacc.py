"""The OpenACC ZalaZone human platoon runs: reader, event extraction and the 70/15/15 split.

Format (JRC OpenACC, the data mirror's README): 5 metadata lines (``Date``, ``Vehicle_order``,
``Number_of_vehicles``, ``ACC``, ``Distance_setting``), then a CSV header with ``Time`` [s] and per
logged vehicle i ``Speed<i>`` [m/s] (and positions), and ``IVS<i>`` [m], the bumper-to-bumper
spacing between vehicle i and the next logged vehicle behind it. A leader-follower pair is
(i, next logged vehicle); its gap is ``IVS<i>``.

Extraction (this book's design, FollowNet-like): rows with a missing value or a gap <= 0 (GPS
artefacts at standstill, as the data's README prescribes) are dropped and counted; the remaining
contiguous 10 Hz stretches are cut into windows of ``EVENT_S`` seconds, a remainder of at least
``MIN_EVENT_S`` is kept as a shorter event, and windows in which the follower stands still are
dropped (counted). Every event then passes the schema's checks (:func:`.schema.check_event`).
The paper used HighD (:mod:`.highd`); OpenACC is the real data this machine has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .constants import DT, DT_TOL, EVENT_S, MIN_EVENT_S, MIN_MEAN_SPEED, SPLIT
from .schema import Event, TraceError, check_events

DATASET = "openacc-zalazone-human"
META_KEYS = ("Date", "Vehicle_order", "Number_of_vehicles", "ACC", "Distance_setting")
FIRST_DATA_LINE = len(META_KEYS) + 2  # 5 metadata lines, the header, then data (1-based lines)


@dataclass(frozen=True)
class RawRun:
    """One OpenACC file: time and, per pair, the leader's and follower's speed and the gap."""

    path: Path
    acc: str  # the header's ACC flag ("0": human driven)
    time: np.ndarray
    pairs: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]]  # (s, v_lead, v)


def read_openacc(path: str | Path) -> RawRun:
    """Parse one OpenACC CSV; structural problems raise :class:`TraceError` naming the file."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        meta = [f.readline().rstrip("\n") for _ in META_KEYS]
    keys = [m.split(",", 1)[0] for m in meta]
    if keys != list(META_KEYS):
        raise TraceError(f"{path}: not an OpenACC file: its first lines start with {keys}, "
                         f"expected {list(META_KEYS)}")
    acc = meta[3].split(",")[1].strip() if "," in meta[3] else ""
    df = pd.read_csv(path, skiprows=len(META_KEYS))
    if "Time" not in df.columns:
        raise TraceError(f"{path}: missing column 'Time' [s]; columns: {list(df.columns)[:8]}...")
    time = df["Time"].to_numpy(float)
    bad = np.flatnonzero(~(np.diff(time) > 0))
    if bad.size:
        i = bad[0] + 1
        raise TraceError(f"{path}: line {i + FIRST_DATA_LINE}: time is not increasing "
                         f"(Time = {time[i]} s after {time[i - 1]} s)")
    ids = [int(c[5:]) for c in df.columns if c.startswith("Speed")]
    pairs = {}
    for col in (c for c in df.columns if c.startswith("IVS")):
        lead = int(col[3:])
        if lead not in ids:
            raise TraceError(f"{path}: column {col} has no leader speed column 'Speed{lead}'")
        k = ids.index(lead) + 1
        if k >= len(ids):
            raise TraceError(f"{path}: column {col} has no follower: no logged vehicle after "
                             f"{lead} (missing column 'Speed<i>' of the follower)")
        fol = ids[k]
        pairs[(lead, fol)] = (df[col].to_numpy(float), df[f"Speed{lead}"].to_numpy(float),
                              df[f"Speed{fol}"].to_numpy(float))
    if not pairs:
        raise TraceError(f"{path}: no 'IVS<i>' spacing column: no leader-follower pair")
    return RawRun(path=path, acc=acc, time=time, pairs=pairs)


def _segments(ok: np.ndarray, time: np.ndarray) -> list[np.ndarray]:
    """Index runs of consecutive valid rows whose time step is DT."""
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return []
    breaks = (np.diff(idx) > 1) | (np.abs(np.diff(time[idx]) - DT) > DT_TOL)
    return np.split(idx, np.flatnonzero(breaks) + 1)


def extract_events(raw: RawRun, event_s: float = EVENT_S, min_event_s: float = MIN_EVENT_S,
                   min_mean_speed: float = MIN_MEAN_SPEED) -> tuple[list[Event], pd.DataFrame]:
    """Events of one run and a per-pair count of what was dropped and why."""
    win, min_n = int(round(event_s / DT)), int(round(min_event_s / DT)) + 1
    run = raw.path.stem
    events, counts = [], []
    for (lead, fol), (s, vl, v) in raw.pairs.items():
        missing = ~(np.isfinite(s) & np.isfinite(vl) & np.isfinite(v))
        nonpos = ~missing & (np.nan_to_num(s, nan=1.0) <= 0)
        c = {"file": raw.path.name, "pair": f"{lead}-{fol}", "rows": len(s),
             "missing value": int(missing.sum()), "gap <= 0": int(nonpos.sum()),
             "short stretch": 0, "standstill": 0, "events": 0}
        for seg in _segments(~missing & ~nonpos, raw.time):
            starts = list(range(0, len(seg), win))
            for k, a in enumerate(starts):
                part = seg[a:a + win]
                if len(part) < min_n:
                    c["short stretch"] += len(part)
                    continue
                if v[part].mean() < min_mean_speed:
                    c["standstill"] += len(part)
                    continue
                events.append(Event(
                    id=f"{run}:{lead}-{fol}:{raw.time[part[0]]:.1f}", source=raw.path.name,
                    run=run, pair=f"{lead}-{fol}", t=raw.time[part] - raw.time[part[0]],
                    s=s[part], v=v[part], v_lead=vl[part], rows=part + FIRST_DATA_LINE))
                c["events"] += 1
        counts.append(c)
    return check_events(events), pd.DataFrame(counts)


def load_openacc(paths: Sequence[Path] | None = None,
                 **kw: float) -> tuple[list[Event], pd.DataFrame]:
    """All events of the human runs, read through the book's data layer (``core.data``)."""
    if paths is None:
        from reprobook.core.data import fetch_all

        paths = list(fetch_all(DATASET).values())
    events, counts = [], []
    for p in sorted(paths):
        raw = read_openacc(p)
        if raw.acc not in ("0", ""):
            raise TraceError(f"{p}: ACC flag {raw.acc!r}: not a human-driven run")
        ev, c = extract_events(raw, **kw)
        events += ev
        counts.append(c)
    return events, pd.concat(counts, ignore_index=True)


def split_events(events: Sequence[Event], seed: int,
                 shares: tuple[float, float, float] = SPLIT) -> dict[str, list[Event]]:
    """Random 70/15/15 split *by event* (never by sample), reproducible from ``seed``."""
    if len(events) < 3:
        raise ValueError(f"a train/val/test split needs >= 3 events, got {len(events)}")
    order = np.random.default_rng(seed).permutation(len(events))
    n_val = max(1, int(round(shares[1] * len(events))))
    n_test = max(1, int(round(shares[2] * len(events))))
    n_train = len(events) - n_val - n_test
    pick = [events[i] for i in order]
    return {"train": pick[:n_train], "val": pick[n_train:n_train + n_val],
            "test": pick[n_train + n_val:]}


def split_by_run(events: Sequence[Event], test_run: str, seed: int,
                 val_share: float = SPLIT[1]) -> dict[str, list[Event]]:
    """Hold out one whole run (another day's platoon) as the test set; validation by event."""
    runs = sorted({e.run for e in events})
    if test_run not in runs:
        raise ValueError(f"no run {test_run!r}; runs: {runs}")
    rest = [e for e in events if e.run != test_run]
    order = np.random.default_rng(seed).permutation(len(rest))
    n_val = max(1, int(round(val_share * len(rest))))
    return {"train": [rest[i] for i in order[n_val:]], "val": [rest[i] for i in order[:n_val]],
            "test": [e for e in events if e.run == test_run]}
