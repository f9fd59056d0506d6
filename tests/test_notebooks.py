"""Every notebook executed at ci-tiny, and the determinism promise (ARCHITECTURE §6, §9).

In CI, chapters that `make book` executes at cpu-smoke are not executed here as well (see
``tests/conftest.py``: every notebook runs once per CI run); a developer's `make test` runs them all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reprobook.core.chapters import discover
from reprobook.core.claims import load
from reprobook.core.runner import run
from reprobook.core.venvs import MAIN

REPO = Path(__file__).resolve().parents[1]
MAIN_CHAPTERS = [s for s, ch in discover(REPO).items()
                 if ch.environment == MAIN and ch.supports("ci-tiny")]


@pytest.mark.slow
@pytest.mark.parametrize("slug", MAIN_CHAPTERS)
def test_chapter_runs_at_ci_tiny(slug, ci_tiny):
    done = ci_tiny(slug)
    assert done.report.ok, [r.message for r in done.report.results]
    for nb in discover(REPO)[slug].notebooks:
        assert (done.out / "executed" / slug / nb.name).is_file()
    claims = load(done.run_dir / slug / "claims.json")
    assert claims, "every chapter records claims"
    assert all(c.profile == "ci-tiny" for c in claims)


@pytest.mark.slow
def test_same_profile_and_seed_give_the_same_bytes(tmp_path, monkeypatch):
    """The one deliberate double execution: the self-check chapter twice, compared byte for byte."""
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("REPROBOOK_ROOT", raising=False)
    files = {}
    for name in ("first", "second"):
        out = tmp_path / name
        monkeypatch.setenv("REPROBOOK_RUNS_DIR", str(out / "runs"))
        report = run("ci-tiny", ["selfcheck"], None, out_root=out / "executed",
                     progress=False, dashboard=False, use_cache=False)
        assert report.ok
        d = out / "runs" / "ci-tiny" / "selfcheck"
        files[name] = {f: (d / f).read_bytes() for f in ("metrics.json", "claims.json")}
    assert files["first"] == files["second"]
    assert b"digest_a" in files["first"]["metrics.json"]
