"""The client records schema: round trip and bad lines naming file and line."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from reprobook.fabric.analysis import achieved_rate, repeats, summarize
from reprobook.fabric.records import COLUMNS, RecordError, read_meta, read_records, write_records

HEADER = ",".join(COLUMNS)
GOOD = "t1,0,100.0,100.001,100.010,100.012,100.300,3,VALID"


def _file(tmp_path, *lines):
    p = tmp_path / "records.csv"
    p.write_text("\n".join([HEADER, *lines]) + "\n")
    return p


def test_round_trip(tmp_path, fixtures):
    df = read_records(fixtures / "records.csv")
    assert len(df) == 7 and math.isnan(df.loc[6, "t2"]) and df.loc[6, "block"] == -1
    path = write_records(df, tmp_path / "r.csv", meta={"configured_rate_tps": 10.0})
    back = read_records(path)
    pd.testing.assert_frame_equal(back, df)
    assert read_meta(path) == {"configured_rate_tps": 10.0}
    assert read_meta(fixtures / "records.csv") == {}


@pytest.mark.parametrize("line,match", [
    ("t1,0,100.0,,100.010,100.012,100.300,3,VALID", r"records\.csv:3: missing field 't1'"),
    ("t1,0,100.0,-1,100.010,100.012,100.300,3,VALID", r"records\.csv:3: negative time t1"),
    ("t1,0,100.0,100.001,100.000,100.012,100.300,3,VALID",
     r"records\.csv:3: t2 = 100\.000000 is before the previous timestamp"),
    ("t1,0,100.0,100.001,soon,100.012,100.300,3,VALID", r"records\.csv:3: t2 = 'soon' is not"),
    ("t1,0,100.0,100.001,100.010,100.012,100.300,-1,VALID", r"records\.csv:3: a VALID transaction"),
    ("t1,0,100.0,100.001,100.010,100.012,100.300,x,VALID", r"records\.csv:3: block and client"),
    (",0,100.0,100.001,100.010,100.012,100.300,3,VALID", r"records\.csv:3: missing field 'tx_id'"),
    ("t1,0,100.0,100.001,100.010,100.012,100.300,3,", r"records\.csv:3: missing field 'status'"),
    ("t1,0,100.0", r"records\.csv:3: 3 fields"),
])
def test_bad_lines(tmp_path, line, match):
    with pytest.raises(RecordError, match=match):
        read_records(_file(tmp_path, GOOD.replace("t1,", "t0,", 1), line))


def test_bad_files(tmp_path):
    with pytest.raises(RecordError, match="no such file"):
        read_records(tmp_path / "nope.csv")
    p = tmp_path / "h.csv"
    p.write_text("id,t0\n")
    with pytest.raises(RecordError, match=r"h\.csv:1: header must be"):
        read_records(p)
    with pytest.raises(RecordError, match="no records"):
        read_records(_file(tmp_path))


def test_achieved_rate_flags_a_slow_load_generator(tmp_path):
    lines = [f"t{i},0,{100 + 0.02 * i:.3f},{100.001 + 0.02 * i:.3f},{100.01 + 0.02 * i:.3f},"
             f"{100.012 + 0.02 * i:.3f},{100.3 + 0.02 * i:.3f},1,VALID" for i in range(51)]
    df = read_records(_file(tmp_path, *lines))
    assert achieved_rate(df, 50.0)["deviates"] is False
    slow = achieved_rate(df, 80.0)
    assert slow["deviates"] is True and slow["relative_diff"] == pytest.approx(-0.375)
    assert achieved_rate(df, None)["deviates"] is None


def test_repeats_combine_runs():
    a = pd.DataFrame({"phase": ["execute", "order"], "mean_ms": [10.0, 100.0]})
    b = pd.DataFrame({"phase": ["execute", "order"], "mean_ms": [12.0, 110.0]})
    r = repeats([a, b]).set_index("phase")
    assert r.loc["execute", "mean_ms"] == 11.0 and r.loc["order", "runs"] == 2
    assert r.loc["execute", "sd_across_runs_ms"] == pytest.approx(2 ** 0.5)
    with pytest.raises(ValueError):
        repeats([])
    ph = pd.DataFrame({c: [0.01, 0.02] for c in ("execute", "order", "validate", "ack", "notify",
                                                 "raft", "total")} | {"t0": [1.0, 2.0]})
    assert summarize(ph).set_index("phase").loc["order", "mean_ms"] == pytest.approx(15.0)
