"""Schema checks, OpenACC reading and event extraction, splits; errors name file/event/row."""

from dataclasses import replace

import numpy as np
import pytest

from reprobook.ensemblefollower.openacc import (FIRST_DATA_LINE, extract_events, read_openacc,
                                                split_by_run, split_events)
from reprobook.ensemblefollower.schema import (TraceError, check_event, read_trace_csv,
                                               write_trace_csv)

from .conftest import make_event

META = "Date,9,10,2019\nVehicle_order,A,B,C,\nNumber_of_vehicles,3\nACC,0\nDistance_setting,\n"


def openacc_file(tmp_path, n=400, gap=None, time=None, name="handling_part99.csv"):
    """A hand-made OpenACC file: vehicles 1 -> 2 -> 3 (logged as Speed1..3, IVS1, IVS2)."""
    t = np.arange(n) * 0.1 + 100.0 if time is None else time
    v1 = 10 + np.sin(t / 5)
    v2, v3 = v1 - 0.2, v1 - 0.4
    g1 = np.full(n, 15.0) if gap is None else gap
    g2 = np.full(n, 18.0)
    lines = ["Time,Speed1,E1,Speed2,E2,Speed3,E3,IVS1,IVS2"]
    for i in range(n):
        g = "" if np.isnan(g1[i]) else f"{g1[i]}"
        lines.append(f"{t[i]},{v1[i]},0,{v2[i]},0,{v3[i]},0,{g},{g2[i]}")
    path = tmp_path / name
    path.write_text(META + "\n".join(lines) + "\n")
    return path


def test_extraction_cuts_windows_and_counts_drops(tmp_path):
    gap = np.full(400, 15.0)
    gap[100:103] = np.nan  # a hole: the pair 1-2 splits into 10 s + 29.7 s stretches
    gap[300] = -0.3  # a GPS artefact: dropped and counted
    events, counts = extract_events(read_openacc(openacc_file(tmp_path, gap=gap)))
    c = counts.set_index("pair")
    assert c.loc["1-2", "missing value"] == 3 and c.loc["1-2", "gap <= 0"] == 1
    # pair 1-2: [0,100) too short; [103,300) = 197 rows -> one 20 s window (197 < 200) kept;
    # [301,400) = 99 rows -> too short. Pair 2-3: 400 rows -> two 20 s windows.
    assert c.loc["1-2", "events"] == 1 and c.loc["2-3", "events"] == 2
    assert c.loc["1-2", "short stretch"] == 100 + 99
    first = [e for e in events if e.pair == "1-2"][0]
    assert len(first) == 197 and first.rows[0] == 103 + FIRST_DATA_LINE
    assert all(e.run == "handling_part99" for e in events)


def test_openacc_non_monotonic_time_names_file_and_line(tmp_path):
    t = np.arange(50) * 0.1
    t[20] = t[18]
    with pytest.raises(TraceError, match=r"handling_part99.csv: line 27: time is not increasing"):
        read_openacc(openacc_file(tmp_path, n=50, time=t))


def test_openacc_structural_errors(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("Time,Speed1\n0,1\n")
    with pytest.raises(TraceError, match="not an OpenACC file"):
        read_openacc(p)
    p.write_text(META + "Time,Speed1,Speed2,IVS2\n0,1,1,5\n")
    with pytest.raises(TraceError, match="IVS2 has no follower"):
        read_openacc(p)
    p.write_text(META + "T,Speed1\n0,1\n")
    with pytest.raises(TraceError, match="missing column 'Time'"):
        read_openacc(p)


@pytest.mark.parametrize("field,index,value,message", [
    ("s", 7, -0.5, "line 9: non-positive spacing"),
    ("s", 3, np.nan, "line 5: missing value in column 's'"),
    ("v", 4, -1.0, "line 6: v = -1.000 m/s outside"),
    ("v_lead", 6, 30.0, "line 8: v_lead changes by .* more than 1 g"),
    ("s", 2, 400.0, "line 4: spacing s = 400.0 m exceeds"),
])
def test_schema_errors_name_file_event_and_line(field, index, value, message):
    ev = make_event(np.full(20, 10.0), np.full(20, 5.0), np.full(20, 5.0), "pair-7")
    arr = getattr(ev, field).copy()
    arr[index] = value
    with pytest.raises(TraceError, match=rf"test.csv: event pair-7, {message}"):
        check_event(replace(ev, **{field: arr}))


def test_schema_time_errors():
    ev = make_event(np.full(20, 10.0), np.full(20, 5.0), np.full(20, 5.0))
    t = ev.t.copy()
    t[5] = t[3]
    with pytest.raises(TraceError, match="line 7: time is not increasing"):
        check_event(replace(ev, t=t))
    with pytest.raises(TraceError, match="line 12: gap in time: 0.300 s"):
        check_event(replace(ev, t=np.where(np.arange(20) >= 10, ev.t + 0.2, ev.t)))


def test_trace_csv_roundtrip_units_and_errors(tmp_path, simple_events):
    path = write_trace_csv(simple_events, tmp_path / "events.csv")
    back = read_trace_csv(path)
    assert [e.id for e in back] == [e.id for e in simple_events]
    assert np.allclose(back[1].s, simple_events[1].s)
    kmh = tmp_path / "kmh.csv"
    kmh.write_text("event_id,t [s],s [m],v [km/h],v_lead [km/h]\na,0,10,36,36\na,0.1,10,36,36\n")
    assert read_trace_csv(kmh)[0].v[0] == pytest.approx(10.0)
    bad = tmp_path / "bad.csv"
    bad.write_text("event_id,t [s],s,v [m/s],v_lead [m/s]\na,0,10,1,1\n")
    with pytest.raises(TraceError, match="bad.csv: column 's' declares no unit"):
        read_trace_csv(bad)
    bad.write_text("event_id,t [s],s [furlong],v [m/s],v_lead [m/s]\na,0,10,1,1\n")
    with pytest.raises(TraceError, match="is in 'furlong'"):
        read_trace_csv(bad)
    bad.write_text("event_id,t [s],s [m],v [m/s]\na,0,10,1\n")
    with pytest.raises(TraceError, match=r"bad.csv: missing column\(s\) \['v_lead'\]"):
        read_trace_csv(bad)
    bad.write_text("event_id,t [s],s [m],v [m/s],v_lead [m/s]\nq,0,10,1,1\nq,0.1,-2,1,1\n")
    with pytest.raises(TraceError, match="bad.csv: event q, line 3: non-positive spacing"):
        read_trace_csv(bad)


def test_split_by_event_is_disjoint_and_reproducible(simple_events):
    evs = [replace(simple_events[0], id=f"e{i}", run=f"r{i % 3}") for i in range(40)]
    sp = split_events(evs, seed=3)
    ids = [[e.id for e in sp[k]] for k in ("train", "val", "test")]
    assert [len(x) for x in ids] == [28, 6, 6]
    assert len(set(sum(ids, []))) == 40
    assert ids == [[e.id for e in split_events(evs, seed=3)[k]] for k in ("train", "val", "test")]
    held = split_by_run(evs, "r1", seed=0)
    assert {e.run for e in held["test"]} == {"r1"}
    assert "r1" not in {e.run for e in held["train"] + held["val"]}
