"""The loader of the authors' tables: the real file, and bad input naming file and line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from reprobook.fabric import tables as T


def test_the_eight_tables(tables):
    assert len(tables) == 117
    assert tables.groupby("table").size().to_dict() == {1: 24, 2: 20, 3: 9, 4: 15, 5: 18,
                                                        6: 18, 7: 5, 8: 8}
    assert set(tables.loc[tables["phase"] == "execute", "c"]) == {1, 2, 4}
    assert set(tables.loc[tables["phase"] == "order", "k"]) == {3, 9, 15}
    assert set(tables.loc[tables["phase"] == "validate", "batch_size"]) == {2, 5, 20, 50}
    bad = T.consistency(tables)
    assert set(zip(bad["table"], bad["lam"])) == {(5, 760.0), (7, 109.0)}


def _row(**over: str) -> dict[str, str]:
    lam, tcomm = 100.0, 0.1
    lam = float(over.get("lam", lam)) if over.get("lam", "").replace(".", "").isdigit() else lam
    row = {c: "" for c in T.COLUMNS}
    row.update(table="1", phase="execute", cluster="cluster1", c_or_k_or_bs="1", lam=str(lam),
               mu="500", rho=str(lam / 500), Ts="0.002", Tq_model="0.0001", Tcomm_meas=str(tcomm),
               bw_meas=f"{lam * 6 * 8 / 1024 / tcomm:.4f}", bw_avg="40", T_meas="0.1021",
               T_model="0.11", T_mm1="0.11", T_other="0.11")
    row.update(over)
    return row


def _write(path: Path, rows: list[dict[str, str]], header=T.COLUMNS) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(header), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def test_a_valid_synthetic_table(tmp_path):
    df = T.read_tables(_write(tmp_path / "t.csv", [_row(), _row(lam="150")]))
    assert list(df["line"]) == [2, 3]
    assert df["c"].tolist() == [1, 1]


@pytest.mark.parametrize("over,match", [
    ({"T_meas": ""}, r"t\.csv:3: missing field 'T_meas'"),
    ({"Tq_model": "-0.001"}, r"t\.csv:3: negative time Tq_model"),
    ({"phase": "consensus"}, r"t\.csv:3: unknown phase 'consensus'"),
    ({"phase": "order"}, r"t\.csv:3: table 1 holds the execute phase"),
    ({"cluster": "cluster9"}, r"t\.csv:3: unknown cluster"),
    ({"Ts": "2.0"}, r"t\.csv:3: service time Ts = 2.0 is not 1/mu.*ms instead of s"),
    ({"bw_meas": "4.0"}, r"t\.csv:3: bandwidth bw_meas = 4.0 Mbps"),
    ({"lam": "fast"}, r"t\.csv:3: column 'lam' = 'fast' is not a number"),
    ({"table": "9"}, r"t\.csv:3: unknown table '9'"),
    ({"c_or_k_or_bs": "1.5"}, r"t\.csv:3: c_or_k_or_bs = 1.5"),
])
def test_bad_rows_name_file_and_line(tmp_path, over, match):
    path = _write(tmp_path / "t.csv", [_row(), _row(**over)])
    with pytest.raises(T.TableError, match=match):
        T.read_tables(path)


def test_bad_files(tmp_path):
    with pytest.raises(T.TableError, match="no such file"):
        T.read_tables(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(T.TableError, match="empty file"):
        T.read_tables(tmp_path / "empty.csv")
    path = _write(tmp_path / "h.csv", [_row()], header=[c for c in T.COLUMNS if c != "T_meas"])
    with pytest.raises(T.TableError, match=r"h\.csv:1: header lacks column\(s\) \['T_meas'\]"):
        T.read_tables(path)
    (tmp_path / "short.csv").write_text(",".join(T.COLUMNS) + "\n1,execute\n")
    with pytest.raises(T.TableError, match=r"short\.csv:2: 2 fields"):
        T.read_tables(tmp_path / "short.csv")
