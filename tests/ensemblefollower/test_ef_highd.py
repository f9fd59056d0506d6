"""The HighD loader on a small hand-made recording: the expected events, and clear errors."""

import numpy as np
import pandas as pd
import pytest

from reprobook.ensemblefollower.highd import load_highd, read_recording
from reprobook.ensemblefollower.schema import TraceError

TRACK_COLUMNS = ["frame", "id", "x", "y", "width", "height", "xVelocity", "yVelocity",
                 "xAcceleration", "yAcceleration", "frontSightDistance", "backSightDistance",
                 "dhw", "thw", "ttc", "precedingXVelocity", "precedingId", "followingId",
                 "leftPrecedingId", "leftAlongsideId", "leftFollowingId", "rightPrecedingId",
                 "rightAlongsideId", "rightFollowingId", "laneId"]
FPS = 25.0


def vehicle(vid, frames, x, speed, length, lane, lead, direction):
    """Rows of one vehicle; ``x``, ``lane`` and ``lead`` are functions of t = (frame - 1) / 25."""
    rows = []
    for f in frames:
        t = (f - 1) / FPS
        rows.append({"frame": f, "id": vid, "x": x(t), "y": 10.0 + lane(t), "width": length,
                     "height": 1.9, "xVelocity": speed if direction == 2 else -speed,
                     "yVelocity": 0.0, "xAcceleration": 0.0, "yAcceleration": 0.0,
                     "frontSightDistance": 100.0, "backSightDistance": 100.0, "dhw": 0.0,
                     "thw": 0.0, "ttc": 0.0, "precedingXVelocity": 0.0, "precedingId": lead(t),
                     "followingId": 0, "leftPrecedingId": 0, "leftAlongsideId": 0,
                     "leftFollowingId": 0, "rightPrecedingId": 0, "rightAlongsideId": 0,
                     "rightFollowingId": 0, "laneId": lane(t)})
    return rows


def write_recording(folder):
    """Vehicles (direction 2 moves to +x, direction 1 to -x; x is the box's left edge):

    1 leads 2 in lane 3 for 20 s, gap 25 + t              -> one event of 200 samples
    3 follows 2 for only 12 s                              -> none (shorter than 15 s)
    7 follows 1 for 4 s, then 2 for 16 s at a 20 m gap     -> one event (leader 2) of 160
    5 leads 6 in lane 6 driving towards -x, gap 30 - t/2   -> one event of 180 samples
    8 follows 1 but changes lane after 10 s                -> none
    9 follows 10, which leaves 9's lane after 8 s          -> none
    """
    f500, c = range(1, 501), lambda v: (lambda t: v)
    rows = []
    rows += vehicle(1, f500, lambda t: 100 + 30 * t, 30.0, 4.5, c(3), c(0), 2)
    rows += vehicle(2, f500, lambda t: 100 - 25 - 4.0 + 29 * t, 29.0, 4.0, c(3), c(1), 2)
    rows += vehicle(3, range(1, 301), lambda t: 60 + 29 * t, 29.0, 4.0, c(3), c(2), 2)
    rows += vehicle(7, f500, lambda t: 100 - 25 - 4.0 - 20 - 4.2 + 29 * t, 29.0, 4.2, c(3),
                    lambda t: 1 if t < 4 else 2, 2)
    rows += vehicle(5, f500, lambda t: 400 - 25 * t, 25.0, 4.5, c(6), c(0), 1)
    rows += vehicle(6, range(1, 451), lambda t: 400 - 25 * t + 4.5 + 30 - 0.5 * t, 25.5, 4.4,
                    c(6), c(5), 1)
    rows += vehicle(8, f500, lambda t: 20 + 30 * t, 30.0, 4.0, lambda t: 3 if t < 10 else 4,
                    c(1), 2)
    rows += vehicle(10, f500, lambda t: 300 + 20 * t, 20.0, 4.0, lambda t: 2 if t < 8 else 1,
                    c(0), 2)
    rows += vehicle(9, f500, lambda t: 270 + 20 * t, 20.0, 4.0, c(2), c(10), 2)
    tracks = pd.DataFrame(rows, columns=TRACK_COLUMNS)
    tracks.to_csv(folder / "01_tracks.csv", index=False)
    g = tracks.groupby("id")
    meta = pd.DataFrame({"id": g.size().index, "width": g["width"].first().to_numpy(),
                         "height": 1.9, "initialFrame": g["frame"].min().to_numpy(),
                         "finalFrame": g["frame"].max().to_numpy(),
                         "numFrames": g.size().to_numpy(),
                         "class": "Car",
                         "drivingDirection": [1 if i in (5, 6) else 2 for i in g.size().index],
                         "traveledDistance": 0.0, "minXVelocity": 0.0, "maxXVelocity": 0.0,
                         "meanXVelocity": 0.0, "minDHW": 0.0, "minTHW": 0.0, "minTTC": 0.0,
                         "numLaneChanges": 0})
    meta.to_csv(folder / "01_tracksMeta.csv", index=False)
    pd.DataFrame([{"id": 1, "frameRate": 25, "locationId": 1, "speedLimit": -1, "month": "x",
                   "weekDay": "x", "startTime": "x", "duration": 20.0,
                   "totalDrivenDistance": 0, "totalDrivenTime": 0, "numVehicles": 9,
                   "numCars": 9, "numTrucks": 0, "upperLaneMarkings": "", "lowerLaneMarkings": ""}]
                 ).to_csv(folder / "01_recordingMeta.csv", index=False)
    return folder


def test_fixture_yields_the_expected_events(tmp_path):
    events = {e.id: e for e in load_highd(write_recording(tmp_path))}
    assert sorted(events) == ["highd-01:1-2:1", "highd-01:2-7:101", "highd-01:5-6:1"]
    e = events["highd-01:1-2:1"]
    assert len(e) == 200 and e.t[-1] == pytest.approx(19.9)
    assert np.allclose(e.s, 25 + e.t) and np.allclose(e.v, 29) and np.allclose(e.v_lead, 30)
    e = events["highd-01:2-7:101"]
    assert len(e) == 160 and np.allclose(e.s, 20.0)
    e = events["highd-01:5-6:1"]  # driving towards -x: the gap is still leader rear - own front
    assert len(e) == 180 and np.allclose(e.s, 30 - 0.5 * e.t)
    assert np.allclose(e.v, 25.5) and np.allclose(e.v_lead, 25.0)
    assert e.rows[0] == 2 + 4 * 500 + 300  # vehicle 6's first line: after 1, 2, 3, 7 and 5


def test_a_stricter_minimum_drops_shorter_events(tmp_path):
    events = load_highd(write_recording(tmp_path), min_event_s=19.0)
    assert [e.id for e in events] == ["highd-01:1-2:1"]


def test_missing_files_and_columns_are_named(tmp_path):
    with pytest.raises(TraceError, match="no HighD recording"):
        load_highd(tmp_path)
    write_recording(tmp_path)
    (tmp_path / "01_recordingMeta.csv").unlink()
    with pytest.raises(TraceError, match="01_recordingMeta.csv: missing HighD file"):
        read_recording(tmp_path / "01_tracks.csv")
    write_recording(tmp_path)
    t = pd.read_csv(tmp_path / "01_tracks.csv").drop(columns=["laneId"])
    t.to_csv(tmp_path / "01_tracks.csv", index=False)
    with pytest.raises(TraceError, match=r"01_tracks.csv: missing column\(s\) \['laneId'\]"):
        read_recording(tmp_path / "01_tracks.csv")
