"""Every notebook executed at ci-tiny, and the determinism promise (DESIGN.md §6, §9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprobook.core.chapters import discover
from reprobook.core.claims import load
from reprobook.core.environments import MAIN
from reprobook.core.runner import run

REPO = Path(__file__).resolve().parents[1]
MAIN_CHAPTERS = [s for s, ch in discover(REPO).items() if ch.environment == MAIN]


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("REPROBOOK_ROOT", raising=False)

    def at(name: str) -> Path:
        monkeypatch.setenv("REPROBOOK_RUNS_DIR", str(tmp_path / name / "runs"))
        return tmp_path / name

    return at


@pytest.mark.slow
@pytest.mark.parametrize("slug", MAIN_CHAPTERS)
def test_chapter_runs_at_ci_tiny(slug, outputs):
    out = outputs("a")
    report = run("ci-tiny", [slug], None, out_root=out / "executed", progress=False,
                 dashboard=False)
    assert report.ok, [r.message for r in report.results]
    for nb in discover(REPO)[slug].notebooks:
        assert (out / "executed" / slug / nb.name).is_file()
    claims = load(out / "runs" / "ci-tiny" / slug / "claims.json")
    assert claims, "every chapter records claims"
    assert all(c.profile == "ci-tiny" for c in claims)


@pytest.mark.slow
def test_same_profile_and_seed_give_the_same_bytes(outputs):
    files = {}
    for name in ("first", "second"):
        out = outputs(name)
        report = run("ci-tiny", ["environment"], None, out_root=out / "executed",
                     progress=False, dashboard=False)
        assert report.ok
        d = out / "runs" / "ci-tiny" / "environment"
        files[name] = {f: (d / f).read_bytes() for f in ("metrics.json", "claims.json")}
    assert files["first"] == files["second"]
    assert b"digest_a" in files["first"]["metrics.json"]
