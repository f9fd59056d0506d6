"""The authors' eight appendix tables (Tables 1-8) through the book's data layer, checked.

``load_tables()`` fetches ``phase_tables.csv`` (manifest ``fabric-phase-tables``) and returns one
DataFrame row per table row, columns by name:

=============  =======  ========================================================================
column         unit     meaning
=============  =======  ========================================================================
table          -        1-8
phase          -        execute (1-2), order (3-6), validate (7-8)
cluster        -        cluster1 (local, HDD, 1 Gbps) or cluster2 (cloud, SSD, 10 Gbps)
c_or_k_or_bs   -        CPU cores c (execute), OSNs k (order), BatchSize (validate)
lam, mu        tps      arrival rate lambda, service rate mu (per core for execute)
rho            -        utilisation as published
Ts             s        service time 1/mu (rounded to 4 decimals by the authors)
Tq_model       s        queueing latency of the paper's model
Tw             s        block waiting time (order)
Tc2l, Tl2f     s        client->leader (measured), leader->followers (derived) latency (order)
Tcomm_meas     s        communication latency derived from the measurement (execute, validate)
bw_meas        Mbps     effective bandwidth of the row (execute, validate)
bw_avg         Mbps     the configuration's fitted bandwidth (leader->followers for order)
T_meas         s        measured phase latency
T_model        s        the paper's model (empty for validate in this transcription)
T_mm1, T_other s        the M/M/1 baseline, the M/H_2/1 baseline (execute only)
=============  =======  ========================================================================

Bad input raises :class:`TableError` naming the file and the line: a missing column or field, a
value that is not a number, a negative time, an unknown phase or cluster, a phase that does not
belong to its table, and a unit slip (a service time that is not ``1/mu`` in seconds; a bandwidth
that is not ``lambda * size * 8/1024 / T_comm`` in Mbps). A published utilisation that disagrees
with ``lambda / (c mu)`` is the authors' value, not an error: :func:`consistency` lists such rows.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd

from reprobook.core.errors import DataError

from . import constants as K

DATASET, FILE = "fabric-phase-tables", "phase_tables.csv"
COLUMNS = ("table", "phase", "cluster", "c_or_k_or_bs", "lam", "mu", "rho", "Ts", "Tq_model",
           "Tw", "Tc2l", "Tl2f", "Tcomm_meas", "bw_meas", "bw_avg", "T_meas", "T_model", "T_mm1",
           "T_other")
TIME_COLUMNS = ("Ts", "Tq_model", "Tw", "Tc2l", "Tl2f", "Tcomm_meas", "T_meas", "T_model",
                "T_mm1", "T_other")
COMMON = ("table", "phase", "cluster", "c_or_k_or_bs", "lam", "mu", "rho", "Ts", "Tq_model",
          "T_meas")
REQUIRED = {
    "execute": COMMON + ("Tcomm_meas", "bw_meas", "bw_avg", "T_model", "T_mm1", "T_other"),
    "order": COMMON + ("Tw", "Tc2l", "Tl2f", "bw_avg", "T_model", "T_mm1"),
    "validate": COMMON + ("Tcomm_meas", "bw_meas", "bw_avg"),
}
PHASES = tuple(REQUIRED)
MSG_KB = {"execute": K.EXEC_MSG_KB, "validate": K.VAL_MSG_KB}


class TableError(DataError):
    """A row of the phase tables is malformed; the message names the file and the line."""


def _number(path: Path, line: int, col: str, text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise TableError(f"{path}:{line}: column {col!r} = {text!r} is not a number") from None
    if not math.isfinite(x):
        raise TableError(f"{path}:{line}: column {col!r} = {text!r} is not a finite number")
    return x


def _check_row(path: Path, line: int, row: dict[str, float | str]) -> None:
    phase, table = str(row["phase"]), int(row["table"])
    if row["cluster"] != K.TABLE_CLUSTER[table]:
        raise TableError(f"{path}:{line}: table {table} is from {K.TABLE_CLUSTER[table]}, "
                         f"the row says {row['cluster']!r}")
    lam, mu, ts = float(row["lam"]), float(row["mu"]), float(row["Ts"])
    if lam <= 0 or mu <= 0:
        raise TableError(f"{path}:{line}: lambda and mu must be positive (tps), got {lam}, {mu}")
    if not 0.85 <= ts * mu <= 1.15:
        raise TableError(f"{path}:{line}: service time Ts = {ts} is not 1/mu = {1 / mu:.4g} s "
                         f"(mu = {mu} tps): wrong unit (ms instead of s?)")
    knob = float(row["c_or_k_or_bs"])
    if knob < 1 or knob != int(knob):
        raise TableError(f"{path}:{line}: c_or_k_or_bs = {knob} is not a positive integer")
    if phase in MSG_KB:
        bw = lam * MSG_KB[phase] * K.KB_TO_MBIT / float(row["Tcomm_meas"])
        if abs(bw / float(row["bw_meas"]) - 1) > 0.02:
            raise TableError(f"{path}:{line}: bandwidth bw_meas = {row['bw_meas']} Mbps is not "
                             f"lambda * {MSG_KB[phase]:g} KB * 8/1024 / Tcomm_meas = {bw:.4f} Mbps "
                             f"(wrong unit, or Tcomm_meas not in seconds?)")


def read_tables(path: Path) -> pd.DataFrame:
    """Parse and check ``phase_tables.csv`` (any path); one row per table row, typed."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    rows: list[dict[str, float | str]] = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise TableError(f"{path}:1: empty file (expected a header with {list(COLUMNS)})")
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise TableError(f"{path}:1: header lacks column(s) {missing}")
        idx = {c: header.index(c) for c in COLUMNS}
        for line, fields in enumerate(reader, start=2):
            if not fields or all(not x.strip() for x in fields):
                continue
            if len(fields) != len(header):
                raise TableError(f"{path}:{line}: {len(fields)} fields, the header has "
                                 f"{len(header)}")
            raw = {c: fields[i].strip() for c, i in idx.items()}
            phase = raw["phase"]
            if phase not in REQUIRED:
                raise TableError(f"{path}:{line}: unknown phase {phase!r}; known: {list(PHASES)}")
            if raw["cluster"] not in K.CLUSTERS:
                raise TableError(f"{path}:{line}: unknown cluster {raw['cluster']!r}; known: "
                                 f"{list(K.CLUSTERS)}")
            table = _number(path, line, "table", raw["table"]) if raw["table"] else math.nan
            if table not in K.TABLE_PHASE:
                raise TableError(f"{path}:{line}: unknown table {raw['table']!r} (1-8)")
            if K.TABLE_PHASE[int(table)] != phase:
                raise TableError(f"{path}:{line}: table {int(table)} holds the "
                                 f"{K.TABLE_PHASE[int(table)]} phase, the row says {phase!r}")
            row: dict[str, float | str] = {"phase": phase, "cluster": raw["cluster"], "line": line}
            for col in COLUMNS:
                if col in ("phase", "cluster"):
                    continue
                if not raw[col]:
                    if col in REQUIRED[phase]:
                        raise TableError(f"{path}:{line}: missing field {col!r} (required for the "
                                         f"{phase} phase)")
                    row[col] = math.nan
                    continue
                row[col] = _number(path, line, col, raw[col])
                if col in TIME_COLUMNS and float(row[col]) < 0:
                    raise TableError(f"{path}:{line}: negative time {col} = {raw[col]} s")
            _check_row(path, line, row)
            rows.append(row)
    if not rows:
        raise TableError(f"{path}: no data rows")
    df = pd.DataFrame(rows)
    df["table"] = df["table"].astype(int)
    df["line"] = df["line"].astype(int)
    knob = df["c_or_k_or_bs"].astype(int)
    df["c"] = knob.where(df["phase"] == "execute", 1)
    df["k"] = knob.where(df["phase"] == "order", 0)
    df["batch_size"] = knob.where(df["phase"] == "validate",
                                  df["table"].map(K.BATCH_SIZE).fillna(0).astype(int))
    return df


def load_tables(path: Path | None = None) -> pd.DataFrame:
    """The eight tables from the data layer (cache, ``$REPROBOOK_DATA_MIRROR``), checked."""
    if path is None:
        from reprobook.core.data import fetch

        path = fetch(DATASET, FILE, allow_download=False)
    return read_tables(path)


def consistency(df: pd.DataFrame, tol: float = 0.001) -> pd.DataFrame:
    """Rows whose published ``rho`` differs from ``lambda / (c mu)`` by more than ``tol``."""
    expected = df["lam"] / (df["c"] * df["mu"])
    bad = (df["rho"] - expected).abs() > tol
    out = df.loc[bad, ["table", "line", "phase", "c_or_k_or_bs", "lam", "mu", "rho"]].copy()
    out["lam / (c mu)"] = expected[bad].round(4)
    return out


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """One line per table: phase, cluster, configurations, rows, load range."""
    g = df.groupby("table")
    return pd.DataFrame({
        "phase": g["phase"].first(), "cluster": g["cluster"].first(),
        "c / k / BatchSize": g["c_or_k_or_bs"].apply(lambda s: sorted(set(s.astype(int)))),
        "rows": g.size(), "lambda (tps)": g["lam"].apply(lambda s: f"{s.min():g}-{s.max():g}"),
        "mu (tps)": g["mu"].apply(lambda s: sorted(set(s))),
        "max rho": g["rho"].max(),
    }).reset_index()
