"""A loader for the real HighD format and FollowNet-like car-following event extraction.

HighD (Krajewski et al., ITSC 2018) is the paper's data set; it needs registration and cannot be
downloaded on the machines that build this book, so the chapter runs on OpenACC and uses this
loader when a reader points ``highd_dir`` at a HighD ``data/`` folder. A recording ``XX`` is three
files: ``XX_tracks.csv`` (one row per vehicle and frame: ``frame, id, x, y, width, height,
xVelocity, ..., dhw, thw, ttc, precedingId, ..., laneId``), ``XX_tracksMeta.csv`` (per vehicle:
``id, width, height, ..., drivingDirection, ...``) and ``XX_recordingMeta.csv`` (``id,
frameRate, ...``). Frames are 25 Hz; ``(x, y)`` is the bounding box's top-left corner, ``width``
the vehicle's length along x; ``drivingDirection`` 1 means negative x velocity; ``precedingId`` 0
means no leader.

Extraction (FollowNet's rules as the brief states them): for every follower, maximal stretches of
consecutive frames with one constant ``precedingId`` and one constant ``laneId`` in which the
leader is present in the same lane; stretches of at least 15 s are resampled from 25 Hz to 10 Hz
by linear interpolation and become events. The gap is bumper to bumper: along the direction of
travel, the leader's rear minus the follower's front.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .constants import DT, HIGHD_FPS, MIN_EVENT_S
from .schema import Event, TraceError, check_events

TRACK_COLS = ("frame", "id", "x", "y", "width", "height", "xVelocity", "precedingId", "laneId")
META_COLS = ("id", "width", "height", "drivingDirection")
REC_COLS = ("id", "frameRate")


def _read(path: Path, cols: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise TraceError(f"{path}: missing HighD file (a recording is XX_tracks.csv, "
                         f"XX_tracksMeta.csv and XX_recordingMeta.csv)")
    df = pd.read_csv(path)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise TraceError(f"{path}: missing column(s) {missing} of the HighD format")
    return df


def read_recording(tracks_csv: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """The tracks (with each row's file line), per-vehicle metadata and the frame rate."""
    tracks_csv = Path(tracks_csv)
    prefix = tracks_csv.name[: -len("_tracks.csv")]
    if not tracks_csv.name.endswith("_tracks.csv"):
        raise TraceError(f"{tracks_csv}: a HighD tracks file is named XX_tracks.csv")
    tracks = _read(tracks_csv, TRACK_COLS).assign(line=lambda d: d.index + 2)
    meta = _read(tracks_csv.with_name(f"{prefix}_tracksMeta.csv"), META_COLS)
    rec = _read(tracks_csv.with_name(f"{prefix}_recordingMeta.csv"), REC_COLS)
    fps = float(rec["frameRate"].iloc[0])
    if fps <= 0:
        raise TraceError(f"{tracks_csv.with_name(prefix + '_recordingMeta.csv')}: frameRate "
                         f"{fps} is not positive")
    bad = set(meta["drivingDirection"]) - {1, 2}
    if bad:
        raise TraceError(f"{tracks_csv.with_name(prefix + '_tracksMeta.csv')}: "
                         f"drivingDirection {sorted(bad)} is not 1 or 2")
    return tracks.sort_values(["id", "frame"], kind="stable"), meta.set_index("id"), fps


def _runs(keys: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index ranges over which the rows of ``keys`` (N, k) stay equal."""
    change = np.flatnonzero(np.any(keys[1:] != keys[:-1], axis=1)) + 1
    bounds = np.concatenate([[0], change, [len(keys)]])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def extract_events(tracks: pd.DataFrame, meta: pd.DataFrame, fps: float = HIGHD_FPS,
                   source: str = "tracks.csv", run: str = "highd",
                   min_event_s: float = MIN_EVENT_S) -> list[Event]:
    """Same-lane, constant-leader events of >= ``min_event_s`` seconds, at 10 Hz."""
    by_id = {int(i): g for i, g in tracks.groupby("id", sort=True)}
    sign = {int(i): (1.0 if d == 2 else -1.0) for i, d in meta["drivingDirection"].items()}
    events = []
    for fid, g in by_id.items():
        frame = g["frame"].to_numpy(int)
        keys = np.stack([g["precedingId"].to_numpy(int), g["laneId"].to_numpy(int),
                         np.concatenate([[0], np.cumsum(np.diff(frame) != 1)])], axis=1)
        for a, b in _runs(keys):
            lead = int(keys[a, 0])
            if lead == 0 or lead not in by_id:
                continue
            lg = by_id[lead].set_index("frame")
            fr = frame[a:b]
            present = np.isin(fr, lg.index.to_numpy())
            ok = present.copy()
            ok[present] = lg.loc[fr[present], "laneId"].to_numpy(int) == keys[a, 1]
            for c, d in _runs(ok[:, None].astype(int)):
                if not ok[c] or (d - c - 1) / fps < min_event_s:
                    continue
                events.append(_event(g.iloc[a + c:a + d], lg.loc[fr[c:d]], sign[fid],
                                     sign[lead], fps, source, run, lead, fid))
    return check_events(events)


def _event(f: pd.DataFrame, lg: pd.DataFrame, sf: float, sl: float, fps: float, source: str,
           run: str, lead: int, fid: int) -> Event:
    """Resample one follower/leader stretch to 10 Hz and compute the bumper-to-bumper gap."""
    tf = (f["frame"].to_numpy(float) - float(f["frame"].iloc[0])) / fps
    t = np.arange(0.0, tf[-1] + 1e-9, DT)
    # along the direction of travel u = sign * x: front = max(u) corner, rear = min(u) corner
    x_f, w_f = f["x"].to_numpy(float), f["width"].to_numpy(float)
    x_l, w_l = lg["x"].to_numpy(float), lg["width"].to_numpy(float)
    front_f = np.maximum(sf * x_f, sf * (x_f + w_f))
    rear_l = np.minimum(sl * x_l, sl * (x_l + w_l))
    gap = np.interp(t, tf, rear_l - front_f)
    v = np.interp(t, tf, np.abs(f["xVelocity"].to_numpy(float)))
    vl = np.interp(t, tf, np.abs(lg["xVelocity"].to_numpy(float)))
    lines = f["line"].to_numpy(int)[np.clip(np.round(t * fps).astype(int), 0, len(f) - 1)]
    return Event(id=f"{run}:{lead}-{fid}:{int(f['frame'].iloc[0])}", source=source, run=run,
                 pair=f"{lead}-{fid}", t=t, s=gap, v=v, v_lead=vl, rows=lines)


def load_highd(data_dir: str | Path, recordings: list[str] | None = None,
               min_event_s: float = MIN_EVENT_S) -> list[Event]:
    """Events of every recording (``XX_tracks.csv``) in a HighD ``data/`` folder."""
    data_dir = Path(data_dir)
    files = sorted(data_dir.glob("*_tracks.csv"))
    if recordings is not None:
        files = [p for p in files if p.name.split("_")[0] in set(recordings)]
    if not files:
        raise TraceError(f"{data_dir}: no HighD recording (XX_tracks.csv) found")
    events: list[Event] = []
    for p in files:
        tracks, meta, fps = read_recording(p)
        events += extract_events(tracks, meta, fps, source=p.name, run=f"highd-{p.name[:2]}",
                                 min_event_s=min_event_s)
    return events
