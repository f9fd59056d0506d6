from __future__ import annotations

import json

from reprobook.core import claims as C
from reprobook.core.claims import AtLeast, AtMost, NotTestable, Null
from reprobook.core.dashboard import render, write_dashboard


def test_dashboard_lists_runs_and_references_with_provenance(sandbox):
    root = sandbox("demo", {"01-a.ipynb": ("seed = 0", [])})
    (root / "book" / "chapters" / "demo").mkdir(parents=True)
    (root / "book" / "chapters" / "demo" / "index.md").write_text("# d\n")
    mk = lambda i, m, crit, prof: C.evaluate(  # noqa: E731
        id=i, claim="speed | ratio", source="Fig. 3", paper_value="$5", measured=m,
        criterion=crit, null=Null(0.0, "no speed-up"), chapter="demo", profile=prof)
    sanity = C.check(id="s", check="an identity", measured=0.0, criterion=AtMost(0.0),
                     chapter="demo", profile="cpu-smoke")
    C.save(root / "runs" / "cpu-smoke" / "demo" / "claims.json",
           [mk("a", 2.0, AtLeast(1.0), "cpu-smoke"), mk("b", None, NotTestable("needs 8 GPUs"), "cpu-smoke"),
            sanity])
    ref = root / "results" / "reference" / "gpu-1x" / "demo"
    C.save(ref / "claims.json", [mk("a", 0.5, AtLeast(1.0), "gpu-1x")])
    (ref / "provenance.json").write_text(json.dumps({"chapter": "demo", "complete": True,
        "chapter_wall_time_s": 12.5, "notebooks": [{"hardware": {"gpus": [{"name": "NVIDIA H100"}]},
        "git_commit": "abcdef1234567", "git_dirty": False, "finished_utc": "2026-11-25"}]}))
    page = render(root)
    assert "### Profile `cpu-smoke`" in page and "### Profile `gpu-1x`" in page
    assert "Claims: 1 reproduced, 1 not testable at this profile." in page
    assert "Sanity checks (identities and self-consistency, not counted as claims): 1 of 1 hold" in page
    assert "no speed-up -> not reproduced" in page
    assert "speed \\| ratio" in page and "\\$5" in page  # escaped for Markdown tables / math
    assert "[demo](chapters/demo/index.md)" in page
    assert "NVIDIA H100; commit `abcdef1234`" in page and "**not reproduced**" in page
    assert page.index("Runs on this machine") < page.index("Reference runs on real hardware")
    assert write_dashboard(root).read_text() == page


def test_dashboard_without_runs_still_renders(sandbox):
    root = sandbox("demo", {"01-a.ipynb": ("seed = 0", [])})
    page = render(root)
    assert page.count("None yet.") == 2
