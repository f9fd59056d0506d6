"""Benchmark tables on disk: deterministic gzip CSV, checksums and the shipped table.

A table is written as CSV (floats with 9 significant digits, ``nan`` for missing) inside a
gzip stream whose header carries no file name and no time, so the same table always gives the
same bytes. Its *content sha256* is the hash of the uncompressed CSV text.

The shipped table lives in ``data/shipped/parzc/`` with a YAML beside it that records the
generation parameters, the command that regenerates it and the sha256 of what that command
writes. :func:`read_table` and :func:`read_meta` check the hash, the columns and the metadata
and raise :class:`BenchmarkError` naming the file and the problem otherwise
(:func:`reprobook.parzc.benchmark.load_shipped` puts them together; this module never imports
the builder).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from reprobook.core.errors import ReprobookError
from reprobook.core.paths import repo_root

SHIPPED_DIR = Path("data") / "shipped" / "parzc"
SHIPPED_YAML = "mini-nb201.yaml"


class BenchmarkError(ReprobookError):
    """A benchmark table whose hash, columns or metadata do not match."""


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, float_format="%.9g", na_rep="nan",
                     lineterminator="\n").encode("utf-8")


def content_sha256(df: pd.DataFrame) -> str:
    return hashlib.sha256(to_csv_bytes(df)).hexdigest()


def write_table(df: pd.DataFrame, path: Path) -> str:
    """Write ``df`` as deterministic gzip CSV (atomically); returns its content sha256."""
    raw = to_csv_bytes(df)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)
    return hashlib.sha256(raw).hexdigest()


def _raw(path: Path) -> bytes:
    if not path.is_file():
        raise BenchmarkError(f"{path}: benchmark table not found")
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as exc:
        raise BenchmarkError(f"{path}: not a readable gzip CSV ({exc})") from exc


def read_table(path: Path, columns: list[str] | None = None,
               sha256: str | None = None) -> pd.DataFrame:
    """Read a table; check its content sha256 and its columns when given."""
    raw = _raw(Path(path))
    if sha256 is not None:
        got = hashlib.sha256(raw).hexdigest()
        if got != sha256:
            raise BenchmarkError(f"{path}: content sha256 {got} does not match the expected "
                                 f"{sha256}; the file is corrupt, edited or from another "
                                 f"generation -- regenerate it (see its YAML) or restore it")
    df = pd.read_csv(io.BytesIO(raw), dtype={"cell": str})
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        extra = [c for c in df.columns if c not in columns]
        if missing or extra:
            raise BenchmarkError(f"{path}: columns do not match the benchmark schema: missing "
                                 f"{missing[:5]}{'...' if len(missing) > 5 else ''}, "
                                 f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''}")
        df = df[columns]
    if df.empty:
        raise BenchmarkError(f"{path}: the table has no rows")
    return df


def shipped_dir() -> Path:
    return repo_root() / SHIPPED_DIR


def read_meta(yaml_path: Path) -> dict[str, Any]:
    if not yaml_path.is_file():
        raise BenchmarkError(f"{yaml_path}: metadata of the shipped benchmark not found")
    meta = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    need = {"file", "generation", "command", "content_sha256", "rows"}
    if not isinstance(meta, dict) or not need <= set(meta):
        have = sorted(meta) if isinstance(meta, dict) else type(meta).__name__
        raise BenchmarkError(f"{yaml_path}: needs keys {sorted(need)}, has {have}")
    return meta


def write_shipped(df: pd.DataFrame, cfg: Any, out_dir: Path, command: str,
                  seconds: float | None = None) -> Path:
    """Write ``mini-nb201.csv.gz`` and its YAML (generation, command, sha256) to ``out_dir``."""
    import platform

    import torch

    out_dir = Path(out_dir)
    name = SHIPPED_YAML.replace(".yaml", ".csv.gz")
    sha = write_table(df, out_dir / name)
    meta = {
        "description": "mini NAS-Bench-201 for the ParZC chapter: ground truth under two "
                       "seeds and node-wise zero-cost proxies (src/reprobook/parzc/benchmark.py)",
        "file": name,
        "rows": len(df),
        "content_sha256": sha,
        "content_sha256_of": "the uncompressed CSV text (gzip bytes may differ by zlib version)",
        "generation": cfg.as_dict(),
        "command": command,
        "built_with": {"torch": str(torch.__version__), "python": platform.python_version(),
                       "machine": platform.machine(),
                       "seconds": None if seconds is None else round(float(seconds))},
        "note": "the same command on the same machine and packages regenerates the same "
                "sha256; other CPUs or BLAS builds may differ in the last digits of training",
    }
    ypath = out_dir / SHIPPED_YAML
    ypath.write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    return ypath
