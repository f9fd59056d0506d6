"""Car-following events: the chapter's unit-checked trace schema and its physical-range checks.

One *event* is one follower behind one constant leader, sampled every ``DT`` = 0.1 s:

======== ======= =====================================================================
column   unit    meaning
======== ======= =====================================================================
t        s       time
s        m       bumper-to-bumper gap between the leader's rear and the follower's front
v        m/s     follower speed
v_lead   m/s     leader speed
======== ======= =====================================================================

:func:`check_event` rejects what users of car-following data report as silent failures (missing
values, non-monotonic time, gaps in time, negative spacing, speeds or accelerations beyond
physics) with a :class:`TraceError` naming the file, the event and the file's line. Trace CSV
files (:func:`read_trace_csv`) carry units in their header (``v [km/h]`` is converted, an
undeclared or unknown unit is an error). This schema is the book's design; the paper's (HighD)
events are extracted by :mod:`.highd` into the same form.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from reprobook.core.errors import DataError

from .constants import DT, DT_TOL, G, MAX_GAP, MAX_SPEED

COLUMNS = ("t", "s", "v", "v_lead")
UNITS = {"t": "s", "s": "m", "v": "m/s", "v_lead": "m/s"}
# accepted units per column -> factor to the SI unit above
CONVERT = {"t": {"s": 1.0, "ms": 1e-3}, "s": {"m": 1.0, "ft": 0.3048},
           "v": {"m/s": 1.0, "km/h": 1 / 3.6, "mph": 0.44704},
           "v_lead": {"m/s": 1.0, "km/h": 1 / 3.6, "mph": 0.44704}}


class TraceError(DataError):
    """A trace violates the schema; the message names the file, the event and the line."""


@dataclass(frozen=True, eq=False)
class Event:
    """One car-following event in SI units (see the module docstring)."""

    id: str
    source: str  # the file it came from ("synthetic" for generated events)
    run: str  # the recording / run it belongs to (the unit of the held-out-run split)
    pair: str  # "leader-follower" identifiers within the run
    t: np.ndarray
    s: np.ndarray
    v: np.ndarray
    v_lead: np.ndarray
    rows: np.ndarray  # line of the source file each sample came from (for error messages)
    synthetic: bool = False
    regime: np.ndarray | None = field(default=None)  # synthetic only: the driver's hidden regime

    def __len__(self) -> int:
        return len(self.t)

    def __repr__(self) -> str:  # short: joblib's cache writes the repr of its inputs
        return f"Event({self.id!r}, {len(self.t)} samples)"

    @property
    def duration(self) -> float:
        return float(self.t[-1] - self.t[0])

    @property
    def a(self) -> np.ndarray:
        """Observed follower acceleration a_t = (v_{t+1} - v_t) / dt; the last repeats."""
        a = np.diff(self.v) / DT
        return np.append(a, a[-1] if len(a) else 0.0)

    @property
    def x(self) -> np.ndarray:
        """Follower position by the trapezoid rule, x_0 = 0 (the kinematic model's update)."""
        return np.concatenate([[0.0], np.cumsum((self.v[1:] + self.v[:-1]) * DT / 2)])

    @property
    def x_lead(self) -> np.ndarray:
        """Leader rear position replayed from data: x_lead = x + s (reproduces s exactly)."""
        return self.x + self.s


def _where(ev_source: str, ev_id: str, row: int | None) -> str:
    line = f", line {row}" if row is not None else ""
    return f"{ev_source}: event {ev_id}{line}"


def check_event(ev: Event) -> Event:
    """Raise :class:`TraceError` on the first schema violation; return ``ev`` unchanged."""
    n = len(ev.t)
    for name in COLUMNS:
        arr = getattr(ev, name)
        if len(arr) != n:
            raise TraceError(f"{_where(ev.source, ev.id, None)}: column {name!r} has {len(arr)} "
                             f"values, 't' has {n}")
    if n < 2:
        raise TraceError(f"{_where(ev.source, ev.id, None)}: {n} sample(s); an event needs >= 2")
    rows = ev.rows if len(ev.rows) == n else np.arange(n)

    def fail(i: int, problem: str) -> None:
        raise TraceError(f"{_where(ev.source, ev.id, int(rows[i]))}: {problem}")

    for name in COLUMNS:
        bad = np.flatnonzero(~np.isfinite(getattr(ev, name)))
        if bad.size:
            fail(bad[0], f"missing value in column {name!r} [{UNITS[name]}]")
    dt = np.diff(ev.t)
    if (bad := np.flatnonzero(dt <= 0)).size:
        i = bad[0] + 1
        fail(i, f"time is not increasing: t = {ev.t[i]:.3f} s after {ev.t[i - 1]:.3f} s")
    if (bad := np.flatnonzero(np.abs(dt - DT) > DT_TOL)).size:
        i = bad[0] + 1
        fail(i, f"gap in time: {dt[i - 1]:.3f} s between samples, the schema needs {DT} s "
                f"(cut the trace into separate events at gaps)")
    if (bad := np.flatnonzero(ev.s <= 0)).size:
        fail(bad[0], f"non-positive spacing s = {ev.s[bad[0]]:.3f} m (vehicles overlap)")
    if (bad := np.flatnonzero(ev.s > MAX_GAP)).size:
        fail(bad[0], f"spacing s = {ev.s[bad[0]]:.1f} m exceeds {MAX_GAP} m: not car-following "
                     f"(or not in metres)")
    for name in ("v", "v_lead"):
        x = getattr(ev, name)
        if (bad := np.flatnonzero((x < 0) | (x > MAX_SPEED))).size:
            fail(bad[0], f"{name} = {x[bad[0]]:.3f} m/s outside [0, {MAX_SPEED}] m/s")
        acc = np.abs(np.diff(x)) / DT
        if (bad := np.flatnonzero(acc > G)).size:
            fail(bad[0] + 1, f"{name} changes by {acc[bad[0]]:.1f} m/s^2, more than 1 g")
    return ev


def check_events(events: Sequence[Event]) -> list[Event]:
    """Check every event; ids must be unique."""
    seen: set[str] = set()
    for ev in events:
        if ev.id in seen:
            raise TraceError(f"{ev.source}: event id {ev.id!r} appears twice")
        seen.add(ev.id)
        check_event(ev)
    return list(events)


def _parse_header(path: Path, header: list[str]) -> dict[str, tuple[int, float]]:
    """Map schema column -> (index, factor to SI) from headers like ``v [km/h]``."""
    found: dict[str, tuple[int, float]] = {}
    for j, raw in enumerate(header):
        name, _, unit = raw.strip().partition("[")
        name, unit = name.strip(), unit.rstrip("]").strip()
        if name not in COLUMNS:
            continue
        if not unit:
            raise TraceError(f"{path}: column {name!r} declares no unit; write it as "
                             f"'{name} [{UNITS[name]}]'")
        if unit not in CONVERT[name]:
            raise TraceError(f"{path}: column {name!r} is in {unit!r}; accepted units: "
                             f"{sorted(CONVERT[name])}")
        found[name] = (j, CONVERT[name][unit])
    missing = [c for c in COLUMNS if c not in found]
    if "event_id" not in [h.strip() for h in header]:
        missing.insert(0, "event_id")
    if missing:
        raise TraceError(f"{path}: missing column(s) {missing}; the schema is "
                         f"event_id, " + ", ".join(f"{c} [{UNITS[c]}]" for c in COLUMNS))
    return found


def read_trace_csv(path: str | Path, run: str | None = None) -> list[Event]:
    """Events from a CSV in the book's schema (one row per sample, ``event_id`` groups them)."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise TraceError(f"{path}: empty file, no header") from None
        cols = _parse_header(path, header)
        id_col = [h.strip() for h in header].index("event_id")
        groups: dict[str, list[tuple[int, list[float]]]] = {}
        for line, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise TraceError(f"{path}: line {line} has {len(row)} fields, the header "
                                 f"{len(header)}")
            vals = []
            for c in COLUMNS:
                j, k = cols[c]
                try:
                    vals.append(float(row[j]) * k if row[j].strip() else float("nan"))
                except ValueError:
                    raise TraceError(f"{path}: event {row[id_col]}, line {line}: column {c!r} "
                                     f"is not a number: {row[j]!r}") from None
            groups.setdefault(row[id_col], []).append((line, vals))
    if not groups:
        raise TraceError(f"{path}: no samples after the header")
    events = []
    for eid, samples in groups.items():
        arr = np.array([v for _, v in samples], dtype=float)
        events.append(Event(id=eid, source=str(path.name), run=run or path.stem, pair=eid,
                            t=arr[:, 0], s=arr[:, 1], v=arr[:, 2], v_lead=arr[:, 3],
                            rows=np.array([ln for ln, _ in samples])))
    return check_events(events)


def write_trace_csv(events: Sequence[Event], path: str | Path) -> Path:
    """Write events in the book's schema (SI units in the header)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["event_id", *(f"{c} [{UNITS[c]}]" for c in COLUMNS)])
        for ev in events:
            for i in range(len(ev)):
                w.writerow([ev.id, *(repr(float(getattr(ev, c)[i])) for c in COLUMNS)])
    return path


def bad_input_examples(ev: Event, folder: str | Path) -> list[tuple[str, str]]:
    """Write four corrupted copies of ``ev`` as trace CSVs and return (problem, error message):
    what a reader sees when a trace breaks the schema."""
    import dataclasses

    folder = Path(folder)
    s_neg = ev.s.copy()
    s_neg[5] = -0.4
    t_back = ev.t.copy()
    t_back[7] = t_back[5]
    cases = {"negative spacing": dataclasses.replace(ev, s=s_neg),
             "non-monotonic time": dataclasses.replace(ev, t=t_back),
             "gap in time": dataclasses.replace(ev, t=np.where(np.arange(len(ev)) >= 9,
                                                                  ev.t + 0.5, ev.t))}
    out = []
    for problem, bad in cases.items():
        path = write_trace_csv([bad], folder / f"{problem.replace(' ', '-')}.csv")
        out.append((problem, _error_of(path)))
    path = folder / "missing-column.csv"
    path.write_text("event_id,t [s],s [m],v [m/s]\nx,0.0,10.0,5.0\n", encoding="utf-8")
    out.append(("missing column", _error_of(path)))
    return out


def _error_of(path: Path) -> str:
    try:
        read_trace_csv(path)
    except TraceError as exc:
        return str(exc).replace(str(path.parent) + "/", "")
    return "no error (the check failed to catch it)"
