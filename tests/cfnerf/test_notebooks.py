"""The CF-NeRF chapter executed at ci-tiny in its own environment (tests/test_notebooks.py runs the
main environment's chapters)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprobook import kernels
from reprobook.core.chapters import discover
from reprobook.core.claims import load
from reprobook.core.runner import run

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_cfnerf_runs_at_ci_tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("REPROBOOK_ROOT", raising=False)
    monkeypatch.setenv("REPROBOOK_RUNS_DIR", str(tmp_path / "runs"))
    kernels.load("cpp")  # build the extension first: its first build alone exceeds ci-tiny's 30 s
    report = run("ci-tiny", ["cfnerf"], None, out_root=tmp_path / "executed", progress=False, dashboard=False)
    assert report.ok, [r.message for r in report.results]
    for nb in discover(REPO)["cfnerf"].notebooks:
        assert (tmp_path / "executed" / "cfnerf" / nb.name).is_file()
    claims = load(tmp_path / "runs" / "ci-tiny" / "cfnerf" / "claims.json")
    ids = {c.id for c in claims}
    assert {"schedule-steps", "cfnerf-recovers-rotation", "joint-fail-rotation", "cfnerf-beats-joint",
            "kernel-speedup", "schedule-cost"} <= ids
    assert next(c for c in claims if c.id == "schedule-steps").verdict == "reproduced"
