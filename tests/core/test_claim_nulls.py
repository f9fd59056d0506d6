"""Every claim of every chapter can fail (ARCHITECTURE §4): the claims recorded by each chapter's
ci-tiny run are judged again from their stored criteria, and each claim's null — what a method
without the paper's effect would measure — must come out "not reproduced" or "not testable"."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprobook.core import claims as C
from reprobook.core.chapters import discover
from reprobook.core.venvs import MAIN

REPO = Path(__file__).resolve().parents[2]
CHAPTERS = [s for s, ch in discover(REPO).items() if ch.environment == MAIN and ch.supports("ci-tiny")]


@pytest.mark.slow
@pytest.mark.parametrize("slug", CHAPTERS)
def test_every_claim_of_the_chapter_rejects_its_null(slug, ci_tiny):
    done = ci_tiny(slug)
    assert done.report.ok, [r.message for r in done.report.results]
    rows = C.load(done.run_dir / slug / "claims.json")
    claims = C.claims_only(rows)
    assert claims, f"{slug} records no claims"
    for c in claims:
        crit = C.criterion_from_spec(c.criterion_spec)
        assert c.null_means, f"{c.id}: no null"
        assert crit.judge(c.null_value) in (C.Verdict.NOT_REPRODUCED, C.Verdict.NOT_TESTABLE), c.id
    assert C.verify(rows) == []
