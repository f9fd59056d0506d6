"""Loading LLM serving traces into one schema (BurstGPT's trace description; the Azure trace for offline runs).

Every loader returns a DataFrame sorted by time with the columns

====================  ===========================================================
``time``              seconds since the first request (float)
``model``             ``ChatGPT`` / ``GPT-4`` (BurstGPT) or the Azure service name
``log_type``          ``Conversation`` / ``API`` (BurstGPT) or the Azure service
``request_tokens``    prompt length
``response_tokens``   output length (0 marks a failed request in BurstGPT)
``failed``            ``response_tokens == 0``
====================  ===========================================================

and ``df.attrs`` with ``source`` (a short name), ``path``, ``synthetic`` (bool) and ``start``
(the wall-clock time of ``time == 0`` where the trace has one). Columns are read by *name*, so
BurstGPT's v1 schema and v3 schema (which inserts ``Session ID`` and ``Elapsed time``) both load.
A malformed file raises :class:`~reprobook.core.errors.DataError` naming the file and the problem.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from reprobook.core.data import fetch, fetch_all
from reprobook.core.errors import DataError, DataUnavailable

COLUMNS = ["time", "model", "log_type", "request_tokens", "response_tokens", "failed"]
BURSTGPT_COLUMNS = {"Timestamp": "time", "Model": "model", "Request tokens": "request_tokens",
                    "Response tokens": "response_tokens", "Log Type": "log_type"}
AZURE_COLUMNS = {"TIMESTAMP": "time", "ContextTokens": "request_tokens",
                 "GeneratedTokens": "response_tokens"}
AZURE_SERVICES = {"code": "AzureLLMInferenceTrace_code.csv",
                  "conv": "AzureLLMInferenceTrace_conv.csv"}


def _lines(mask: np.ndarray) -> list[int]:
    """File line numbers (1-based, after the header) of the first rows where ``mask`` holds."""
    return [int(r) + 2 for r in np.flatnonzero(mask)[:5]]


def _read_csv(path: Path, required: dict[str, str]) -> pd.DataFrame:
    """The file's rows (every row must have the header's number of fields), required columns
    renamed; errors name the file and the line."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: empty file, not a trace ({exc})") from exc
    except pd.errors.ParserError as exc:  # e.g. "Expected 6 fields in line 3, saw 7"
        raise DataError(f"{path}: malformed row: {str(exc).strip()}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text CSV file ({exc})") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    unnamed = [c for c in df.columns if str(c).startswith("Unnamed:")]
    if unnamed:
        raise DataError(f"{path}: the header has empty column name(s) {unnamed}")
    if df.empty:
        raise DataError(f"{path}: the trace has no rows")
    return df[list(required)].rename(columns=required)


def _check_tokens(df: pd.DataFrame, path: Path, names: dict[str, str]) -> None:
    """Token counts must be whole, finite, non-negative numbers (47.9 is an error, not 47)."""
    original = {v: k for k, v in names.items()}
    for col in ("request_tokens", "response_tokens"):
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            raise DataError(f"{path}: column {original[col]!r} has {int(bad.sum())} missing, "
                            f"non-numeric, infinite or negative value(s) (first at line(s) "
                            f"{_lines(bad)})")
        frac = values != np.floor(values)
        if frac.any():
            raise DataError(f"{path}: column {original[col]!r} has {int(frac.sum())} value(s) that "
                            f"are not whole token counts (first at line(s) {_lines(frac)})")
        df[col] = values.astype(np.int64)


def _check_names(df: pd.DataFrame, path: Path, col: str, original: str) -> None:
    empty = df[col].astype(str).str.strip() == ""
    if empty.any():
        raise DataError(f"{path}: column {original!r} is empty in {int(empty.sum())} row(s) "
                        f"(first at line(s) {_lines(empty.to_numpy())})")


def _finish(df: pd.DataFrame, path: Path, source: str, start: pd.Timestamp | None) -> pd.DataFrame:
    if not df["time"].is_monotonic_increasing:
        df = df.sort_values("time", kind="stable")
    df["time"] = df["time"] - df["time"].iloc[0]
    df["failed"] = df["response_tokens"] == 0
    df = df[COLUMNS].reset_index(drop=True)
    df.attrs.update(source=source, path=str(path), synthetic=False,
                    start=None if start is None else str(start))
    return df


def load_burstgpt(path: Path | str) -> pd.DataFrame:
    """A BurstGPT CSV (``BurstGPT_1.csv`` .. ``_3.csv``, with or without failures)."""
    path = Path(path)
    df = _read_csv(path, BURSTGPT_COLUMNS)
    times = pd.to_numeric(df["time"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(times) | (times < 0)
    if bad.any():
        raise DataError(f"{path}: column 'Timestamp' has {int(bad.sum())} missing, non-numeric, "
                        f"infinite or negative value(s) (first at line(s) {_lines(bad)}); expected "
                        f"seconds since the start of the trace")
    df["time"] = times
    _check_tokens(df, path, BURSTGPT_COLUMNS)
    _check_names(df, path, "model", "Model")
    unknown = sorted(set(df["log_type"].astype(str)) - {"Conversation log", "API log"})
    if unknown:
        raise DataError(f"{path}: column 'Log Type' has unknown value(s) {unknown[:5]}; expected "
                        f"'Conversation log' or 'API log'")
    df["log_type"] = df["log_type"].str.replace(" log", "", regex=False)
    df["model"] = df["model"].astype(str)
    return _finish(df, path, source=path.stem, start=None)


def load_azure(path: Path | str, service: str) -> pd.DataFrame:
    """One service of the Azure LLM inference trace 2023 (``code`` or ``conv``)."""
    path = Path(path)
    df = _read_csv(path, AZURE_COLUMNS)
    stamps = pd.to_datetime(df["time"], format="ISO8601", errors="coerce")
    if stamps.isna().any():
        first = int(np.flatnonzero(stamps.isna().to_numpy())[0]) + 2
        raise DataError(f"{path}: column 'TIMESTAMP' has {int(stamps.isna().sum())} unparseable "
                        f"value(s) (first at line {first})")
    start = stamps.min()
    df["time"] = (stamps - start).dt.total_seconds()
    _check_tokens(df, path, AZURE_COLUMNS)
    df["model"] = f"Azure {service}"
    df["log_type"] = service
    return _finish(df, path, source=f"azure-{service}", start=start)


def azure_trace(service: str) -> pd.DataFrame:
    """The Azure trace of one service, through the data layer (cache, mirror, download)."""
    if service not in AZURE_SERVICES:
        raise DataError(f"unknown Azure service {service!r}; known: {sorted(AZURE_SERVICES)}")
    return load_azure(fetch("azure-llm-inference-2023", AZURE_SERVICES[service]), service)


def azure_traces() -> dict[str, pd.DataFrame]:
    """Both Azure services, ``{"code": ..., "conv": ...}``."""
    paths = fetch_all("azure-llm-inference-2023")
    return {s: load_azure(paths[f], s) for s, f in AZURE_SERVICES.items()}


def burstgpt_trace(allow_download: bool = False) -> pd.DataFrame | None:
    """BurstGPT_1 if it is in the cache or the mirror (or downloadable when allowed), else None."""
    try:
        path = fetch("burstgpt", "BurstGPT_1.csv", allow_download=allow_download)
    except DataUnavailable:  # absent (offline): the chapter says so and goes on
        return None
    return load_burstgpt(path)


def load_all(burstgpt_download: bool = False) -> tuple[dict[str, pd.DataFrame], pd.DataFrame | None]:
    """The Azure services (real, through the data layer) and BurstGPT_1 when present; prints
    which traces this run has."""
    azure = azure_traces()
    burst = burstgpt_trace(allow_download=burstgpt_download)
    print("Azure LLM inference trace 2023: code", len(azure["code"]), "requests, conv",
          len(azure["conv"]), "requests; BurstGPT_1.csv:",
          "loaded" if burst is not None else "not available here (offline)")
    return azure, burst
