"""The per-transaction client records: one schema for the harness and the simulation.

A CSV with a header and one line per transaction::

    tx_id,client,t0,t1,t2,t3,t4,block,status

``t0``..``t4`` are seconds since the Unix epoch (floats; the harness writes microseconds):
t0 the client creates the proposal, t1 sends it for endorsement, t2 holds the endorsement and
submits the transaction, t3 receives the ordering service's acknowledgement, t4 receives the
commit status. ``block`` is the block number from the commit status (-1 if unknown), ``status``
the validation code (``VALID``, or e.g. ``MVCC_READ_CONFLICT``, ``ENDORSEMENT_FAILED``; a failed
transaction has empty times after the failure). A JSON sidecar ``<csv>.meta.json`` may carry the
configured workload (``configured_rate_tps``, ``burst_size``, ``n_tx``, ``mode``).

:func:`read_records` checks every line and raises :class:`RecordError` naming the file and the
line for a missing field, a value that is not a number, a negative time or a timestamp that goes
backwards (``t1 < t0``...).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from reprobook.core.errors import DataError

COLUMNS = ("tx_id", "client", "t0", "t1", "t2", "t3", "t4", "block", "status")
TIMES = ("t0", "t1", "t2", "t3", "t4")


class RecordError(DataError):
    """A client record is malformed; the message names the file and the line."""


def write_records(df: pd.DataFrame, path: Path, meta: dict[str, Any] | None = None) -> Path:
    """Write records in the schema (and the sidecar ``<path>.meta.json`` when ``meta`` is given)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    missing = [c for c in COLUMNS if c not in df]
    if missing:
        raise RecordError(f"{path}: cannot write records without column(s) {missing}")
    df.loc[:, list(COLUMNS)].to_csv(path, index=False, float_format="%.6f")
    if meta is not None:
        Path(f"{path}.meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def _time(path: Path, line: int, col: str, text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise RecordError(f"{path}:{line}: {col} = {text!r} is not a number of seconds") from None
    if not math.isfinite(x):
        raise RecordError(f"{path}:{line}: {col} = {text!r} is not a finite time")
    if x < 0:
        raise RecordError(f"{path}:{line}: negative time {col} = {text}")
    return x


def read_records(path: Path) -> pd.DataFrame:
    """Read and check a records CSV; times as floats (NaN after a failure), block as int."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    out: list[dict[str, Any]] = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != list(COLUMNS):
            raise RecordError(f"{path}:1: header must be {','.join(COLUMNS)}, got "
                              f"{','.join(header or [])!r}")
        for line, fields in enumerate(reader, start=2):
            if not fields:
                continue
            if len(fields) != len(COLUMNS):
                raise RecordError(f"{path}:{line}: {len(fields)} fields, expected {len(COLUMNS)}")
            row: dict[str, Any] = dict(zip(COLUMNS, (x.strip() for x in fields)))
            if not row["tx_id"]:
                raise RecordError(f"{path}:{line}: missing field 'tx_id'")
            if not row["status"]:
                raise RecordError(f"{path}:{line}: missing field 'status'")
            valid = row["status"] == "VALID"
            last = -math.inf
            for col in TIMES:
                if not row[col]:
                    if valid or col == "t0":
                        raise RecordError(f"{path}:{line}: missing field {col!r}")
                    row[col] = math.nan
                    continue
                t = _time(path, line, col, row[col])
                if t < last:
                    raise RecordError(f"{path}:{line}: {col} = {t:.6f} is before the previous "
                                      f"timestamp ({last:.6f}): a negative phase duration")
                row[col], last = t, t
            try:
                row["block"] = int(row["block"]) if row["block"] else -1
                row["client"] = int(row["client"]) if row["client"] else -1
            except ValueError:
                raise RecordError(f"{path}:{line}: block and client must be integers, got "
                                  f"{row['block']!r}, {row['client']!r}") from None
            if valid and row["block"] < 0:
                raise RecordError(f"{path}:{line}: a VALID transaction needs its block number")
            out.append(row)
    if not out:
        raise RecordError(f"{path}: no records")
    return pd.DataFrame(out, columns=list(COLUMNS))


def read_meta(path: Path) -> dict[str, Any]:
    """The sidecar ``<csv>.meta.json`` of a records file ({} when there is none)."""
    meta = Path(f"{path}.meta.json")
    return json.loads(meta.read_text()) if meta.is_file() else {}
