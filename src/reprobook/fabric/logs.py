"""Orderer and peer logs of Fabric 2.x: write them (from the simulation) and parse them.

Fabric's default log format (``flogging``) is ``%{time:2006-01-02 15:04:05.000 MST} [%{module}]
%{shortfunc} -> %{level:.4s} %{id:03x} %{message}``.
The lines this chapter reads, with the Fabric source that emits them:

- orderer, ``orderer.consensus.etcdraft`` ``propose``: ``Created block [N], there are F blocks in
  flight`` — the block cutter has cut block N (the end of the paper's order phase, t8);
- orderer, ``writeBlock``: ``Writing block [N] (Raft index: I) to ledger`` — Raft committed it;
- peer, ``gossip.privdata`` ``StoreBlock``: ``Received block [N] from buffer`` — the committer
  starts on it (t9);
- peer, ``committer.txvalidator`` ``Validate``: ``[ch] Validated block [N] in Xms``;
- peer, ``kvledger``: ``[ch] Committed block [N] with T transaction(s) in Yms (state_validation=..ms
  block_and_pvtdata_commit=..ms state_commit=..ms) commitHash=[..]`` — committed (t10).

Other lines are skipped (and counted). A line that carries one of these messages but cannot be
read — no timestamp, a missing block number or count, a negative duration, a block reported twice,
an unknown time zone — raises :class:`LogFormatError` naming the file and the line. ANSI colours
and a ``docker compose logs`` prefix (``orderer1 | ...``) are removed first. Time zones:
``UTC``/``GMT`` or a numeric offset; for a named zone pass ``tz_offset_s``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from reprobook.core.errors import DataError

CHANNEL = "mychannel"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
PREFIX = re.compile(
    r"(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}) (?P<tz>[A-Za-z]{2,5}|[+-]\d{4}) "
    r"\[(?P<module>[^\]]+)\] (?P<func>\S+) -> (?P<level>[A-Z]{4,5}) (?P<id>[0-9a-f]+) (?P<msg>.*)$")
# (event, keyword that marks the line, full pattern of the message)
ORDERER_EVENTS = (
    ("created", "Created block [",
     re.compile(r"Created block \[(?P<block>\d+)\], there are (?P<inflight>\d+) blocks in flight")),
    ("written", "Writing block [",
     re.compile(r"Writing block \[(?P<block>\d+)\] \(Raft index: (?P<index>\d+)\) to ledger")),
)
PEER_EVENTS = (
    ("received", "Received block [", re.compile(r"Received block \[(?P<block>\d+)\] from buffer")),
    ("validated", "Validated block [",
     re.compile(r"Validated block \[(?P<block>\d+)\] in (?P<ms>-?\d+)ms")),
    ("committed", "Committed block [",
     re.compile(r"Committed block \[(?P<block>\d+)\] with (?P<n_tx>\d+) transaction\(s\) in "
                r"(?P<ms>-?\d+)ms")),
)


class LogFormatError(DataError):
    """A Fabric log line that should carry a block event cannot be read."""


@dataclass
class ParsedLog:
    """Per-block event times (Unix seconds) read from one log, and how many lines were skipped."""

    path: str
    blocks: pd.DataFrame
    lines: int
    skipped: int


def _stamp(source: str, line: int, ts: str, tz: str, tz_offset_s: float | None) -> float:
    try:
        t = datetime.strptime(ts, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise LogFormatError(f"{source}:{line}: timestamp {ts!r} is not a valid time") from None
    if tz_offset_s is not None:
        return t - tz_offset_s
    if tz in ("UTC", "GMT"):
        return t
    if tz[0] in "+-" and tz[1:].isdigit():
        sign = 1 if tz[0] == "+" else -1
        return t - sign * (int(tz[1:3]) * 3600 + int(tz[3:5]) * 60)
    raise LogFormatError(f"{source}:{line}: time zone {tz!r} is ambiguous: run Fabric with "
                         f"TZ=UTC or pass tz_offset_s")


def parse_log(source: Path | tuple[str, Iterable[str]], role: str,
              tz_offset_s: float | None = None) -> ParsedLog:
    """Parse an orderer (``role="orderer"``) or peer (``role="peer"``) log into one row per block.

    ``source`` is a path or ``(name, lines)``. Orderer columns: ``t_created``, ``t_written``,
    ``raft_index``, ``inflight``; peer columns: ``t_received``, ``t_validated``, ``validate_ms``,
    ``t_committed``, ``n_tx``, ``commit_ms``."""
    events = {"orderer": ORDERER_EVENTS, "peer": PEER_EVENTS}.get(role)
    if events is None:
        raise ValueError(f"role must be 'orderer' or 'peer', got {role!r}")
    if isinstance(source, tuple):
        name, lines = source
    else:
        name, lines = str(source), Path(source).read_text(encoding="utf-8").splitlines()
    rows: dict[int, dict[str, float]] = {}
    seen: dict[tuple[str, int], int] = {}
    total = skipped = 0
    for no, raw in enumerate(lines, start=1):
        total += 1
        text = ANSI.sub("", raw.rstrip("\n"))
        hit = next(((ev, pat) for ev, key, pat in events if key in text), None)
        if hit is None:
            skipped += 1
            continue
        event, pat = hit
        m = PREFIX.search(text)
        if m is None:
            raise LogFormatError(f"{name}:{no}: a {event!r} block event without Fabric's "
                                 f"'date time zone [module] func -> LEVEL id' prefix: "
                                 f"{text[:80]!r}")
        body = pat.search(m["msg"])
        if body is None:
            raise LogFormatError(f"{name}:{no}: cannot read the {event!r} block event (a field is "
                                 f"missing or malformed): {m['msg'][:100]!r}")
        b = int(body["block"])
        if (event, b) in seen:
            raise LogFormatError(f"{name}:{no}: block {b} {event} twice (first on line "
                                 f"{seen[(event, b)]})")
        seen[(event, b)] = no
        fields = body.groupdict()
        if "ms" in fields and int(fields["ms"]) < 0:
            raise LogFormatError(f"{name}:{no}: negative time {fields['ms']} ms for block {b}")
        row = rows.setdefault(b, {"block": b})
        row[f"t_{event}"] = _stamp(name, no, m["ts"], m["tz"], tz_offset_s)
        if event == "created":
            row["inflight"] = int(fields["inflight"])
        elif event == "written":
            row["raft_index"] = int(fields["index"])
        elif event == "validated":
            row["validate_ms"] = int(fields["ms"])
        elif event == "committed":
            row["n_tx"], row["commit_ms"] = int(fields["n_tx"]), int(fields["ms"])
    cols = {"orderer": ["block", "t_created", "t_written", "raft_index", "inflight"],
            "peer": ["block", "t_received", "t_validated", "validate_ms", "t_committed", "n_tx",
                     "commit_ms"]}[role]
    df = pd.DataFrame(sorted(rows.values(), key=lambda r: r["block"]), columns=cols)
    return ParsedLog(path=name, blocks=df, lines=total, skipped=skipped)


def _fmt_time(t: float) -> str:
    ms = int(round(t * 1000.0))
    d = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return f"{d:%Y-%m-%d %H:%M:%S}.{ms % 1000:03d} UTC"


def _line(t: float, module: str, func: str, seq: int, msg: str) -> str:
    return f"{_fmt_time(t)} [{module}] {func} -> INFO {seq:03x} {msg}"


def orderer_log(blocks: pd.DataFrame, node: int = 1, channel: str = CHANNEL) -> list[str]:
    """Lines the OSN leader would log for ``blocks`` (columns block, t_created, t_written,
    raft_index), in time order."""
    tag = f"channel={channel} node={node}"
    created = blocks["t_created"].to_numpy()
    written = np.sort(blocks["t_written"].to_numpy())
    events = []
    done = np.searchsorted(written, created, side="right")
    for pos, (r, n_done) in enumerate(zip(blocks.itertuples(), done)):
        flying = pos - int(n_done)
        events.append((r.t_created, 0, "propose",
                       f"Created block [{r.block}], there are {max(flying, 0)} blocks in "
                       f"flight {tag}"))
        events.append((r.t_written, 1, "writeBlock",
                       f"Writing block [{r.block}] (Raft index: {r.raft_index}) to ledger {tag}"))
    events.sort(key=lambda e: (round(e[0], 3), e[1]))
    return [_line(t, "orderer.consensus.etcdraft", f, i, m) for i, (t, _, f, m) in
            enumerate(events, start=1)]


def peer_log(blocks: pd.DataFrame, channel: str = CHANNEL) -> list[str]:
    """Lines a committing peer would log for ``blocks`` (t_received, t_validated, t_committed,
    n_tx), in time order."""
    events = []
    for r in blocks.itertuples():
        v_ms = int(round((r.t_validated - r.t_received) * 1000))
        c_ms = int(round((r.t_committed - r.t_validated) * 1000))
        events.append((r.t_received, 0, "gossip.privdata", "StoreBlock",
                       f"Received block [{r.block}] from buffer channel={channel}"))
        events.append((r.t_validated, 1, "committer.txvalidator", "Validate",
                       f"[{channel}] Validated block [{r.block}] in {v_ms}ms"))
        events.append((r.t_committed, 2, "kvledger", "CommitLegacy",
                       f"[{channel}] Committed block [{r.block}] with {r.n_tx} transaction(s) in "
                       f"{c_ms}ms (state_validation={c_ms // 3}ms block_and_pvtdata_commit="
                       f"{c_ms - 2 * (c_ms // 3)}ms state_commit={c_ms // 3}ms) "
                       f"commitHash=[{r.block:064x}]"))
    events.sort(key=lambda e: (round(e[0], 3), e[1]))
    return [_line(t, mod, f, i, m) for i, (t, _, mod, f, m) in enumerate(events, start=1)]


def write_log(lines: Sequence[str], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
