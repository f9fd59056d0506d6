"""Parsers of orderer and peer logs, on hand-made fixtures and malformed lines; the analysis of a
fixture run (records + logs) against hand-computed phase latencies."""

from __future__ import annotations

import pytest

from reprobook.fabric import analysis
from reprobook.fabric.logs import LogFormatError, orderer_log, parse_log, peer_log

T0 = 1709287200.0  # 2024-03-01 10:00:00 UTC


def test_orderer_fixture(fixtures):
    log = parse_log(fixtures / "orderer.log", "orderer")
    b = log.blocks.set_index("block")
    assert list(b.index) == [5, 6, 7]
    assert b.loc[5, "t_created"] == pytest.approx(T0 + 0.120)  # ANSI colours and prefix removed
    assert b.loc[5, "t_written"] == pytest.approx(T0 + 0.135)
    assert b.loc[6, "raft_index"] == 10 and b.loc[7, "inflight"] == 1
    assert (log.lines, log.skipped) == (8, 2)


def test_peer_fixture(fixtures):
    log = parse_log(fixtures / "peer.log", "peer")
    b = log.blocks.set_index("block")
    assert b["n_tx"].tolist() == [2, 3, 1]
    assert b.loc[5, "t_received"] == pytest.approx(T0 + 0.140)
    assert b.loc[5, "t_committed"] == pytest.approx(T0 + 0.200)
    assert b.loc[7, "validate_ms"] == 5 and b.loc[7, "commit_ms"] == 35
    assert log.skipped == 1


def test_analysis_of_the_fixture_run(fixtures, tmp_path):
    run = analysis.load_run(fixtures)
    ph = run["phases"].set_index("tx_id")
    assert len(ph) == 6  # the failed transaction is counted, not timed
    us = 1e-6  # epoch seconds in a double: microsecond precision
    assert ph.loc["a1", "execute"] == pytest.approx(0.010, abs=us)
    assert ph.loc["a1", "order"] == pytest.approx(0.109, abs=us)  # created 0.120 - t2 0.011
    assert ph.loc["a1", "validate"] == pytest.approx(0.080, abs=us)  # committed 0.200 - 0.120
    assert ph.loc["a1", "raft"] == pytest.approx(0.015, abs=us)
    assert ph.loc["c1", "notify"] == pytest.approx(0.010, abs=us)
    rate = analysis.achieved_rate(run["records"], configured=7.5)
    assert rate["failed"] == 1 and rate["deviates"] is False
    assert rate["achieved_tps"] == pytest.approx(6 / 0.8)
    s = analysis.summarize(run["phases"]).set_index("phase")
    assert s.loc["execute", "n"] == 6


def _lines(*msgs: str, ts: str = "2024-03-01 10:00:00.120 UTC") -> tuple[str, list[str]]:
    return ("bad.log", [f"{ts} [orderer.consensus.etcdraft] propose -> INFO 001 {m}" for m in msgs])


@pytest.mark.parametrize("source,role,match", [
    (_lines("Created block [], there are 0 blocks in flight"), "orderer",
     r"bad\.log:1: cannot read the 'created' block event"),
    (("bad.log", ["Created block [3], there are 0 blocks in flight"]), "orderer",
     r"bad\.log:1: .* without Fabric's .* prefix"),
    (_lines("Created block [3], there are 0 blocks in flight",
            "Created block [3], there are 1 blocks in flight"), "orderer",
     r"bad\.log:2: block 3 created twice \(first on line 1\)"),
    (("bad.log", ["2024-03-01 10:00:00.120 UTC [kvledger] commit -> INFO 1 [ch] Committed "
                  "block [4] with 2 transaction(s) in -3ms (state_validation=0ms)"]), "peer",
     r"bad\.log:1: negative time -3 ms"),
    (("bad.log", ["2024-03-01 10:00:00.120 UTC [kvledger] commit -> INFO 1 [ch] Committed "
                  "block [4] with transaction(s) in 3ms"]), "peer", r"bad\.log:1: cannot read"),
    (_lines("Created block [3], there are 0 blocks in flight", ts="2024-13-01 10:00:00.120 UTC"),
     "orderer", r"bad\.log:1: timestamp"),
    (_lines("Created block [3], there are 0 blocks in flight", ts="2024-03-01 10:00:00.120 HKT"),
     "orderer", r"bad\.log:1: time zone 'HKT' is ambiguous"),
])
def test_malformed_lines_name_file_and_line(source, role, match):
    with pytest.raises(LogFormatError, match=match):
        parse_log(source, role)


def test_time_zones():
    msg = "Created block [3], there are 0 blocks in flight"
    src = _lines(msg, ts="2024-03-01 18:00:00.120 +0800")
    assert parse_log(src, "orderer").blocks["t_created"].iloc[0] == pytest.approx(T0 + 0.120)
    src = _lines(msg, ts="2024-03-01 18:00:00.120 HKT")
    t = parse_log(src, "orderer", tz_offset_s=8 * 3600).blocks["t_created"].iloc[0]
    assert t == pytest.approx(T0 + 0.120)
    with pytest.raises(ValueError, match="role"):
        parse_log(src, "client")


def test_written_logs_parse_back(fixtures):
    blocks = parse_log(fixtures / "orderer.log", "orderer").blocks.join(
        parse_log(fixtures / "peer.log", "peer").blocks.set_index("block"), on="block")
    again_o = parse_log(("o", orderer_log(blocks)), "orderer").blocks
    again_p = parse_log(("p", peer_log(blocks)), "peer").blocks
    assert (again_o["t_created"] - blocks["t_created"]).abs().max() < 1e-6
    assert (again_p["t_committed"] - blocks["t_committed"]).abs().max() < 1e-6
    assert again_p["n_tx"].tolist() == blocks["n_tx"].tolist()
