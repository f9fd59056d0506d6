from __future__ import annotations

import base64
from pathlib import Path

import pytest

from reprobook.core.htmlcheck import check_site, find_chromium

pytestmark = pytest.mark.skipif(find_chromium() is None,
                                reason="Chromium not installed (CI installs it)")

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def site(tmp_path: Path, page: str) -> Path:
    root = tmp_path / "html"
    (root / "_images").mkdir(parents=True)
    (root / "_images" / "fig.png").write_bytes(PNG)
    (root / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/a.html" />')
    (root / "book").mkdir()
    (root / "book" / "b.html").write_text('<html><body><h1 id="top">B</h1></body></html>')
    (root / "book" / "a.html").write_text(f"<html><body>{page}</body></html>")
    return root


GOOD = '<img src="../_images/fig.png"><a href="b.html#top">b</a><a href="https://example.org">x</a>'


def test_a_good_site_passes_and_screenshots(tmp_path):
    shot = tmp_path / "shots" / "a.png"
    report = check_site(site(tmp_path, GOOD), screenshots={"book/a.html": shot})
    assert report.ok, report.problems
    assert report.pages == ["book/a.html", "book/b.html", "index.html"]
    assert shot.read_bytes()[:4] == b"\x89PNG"


def test_removed_image_fails(tmp_path):
    root = site(tmp_path, GOOD)
    (root / "_images" / "fig.png").unlink()
    report = check_site(root)
    kinds = {(p.page, p.kind) for p in report.problems}
    assert ("book/a.html", "broken image") in kinds


def test_undecodable_image_fails(tmp_path):
    root = site(tmp_path, GOOD)
    (root / "_images" / "fig.png").write_bytes(b"not a png")
    assert any(p.kind == "broken image" for p in check_site(root).problems)


@pytest.mark.parametrize("page,kind", [
    ('<a href="missing.html">x</a>', "broken link"),
    ('<a href="b.html#nowhere">x</a>', "broken anchor"),
    ("<script>undefinedFunction();</script>", "JavaScript error"),
    ("<script>console.error('bad thing')</script>", "console error"),
    ('<script src="../_static/nope.js"></script>', "HTTP 404"),
])
def test_each_kind_of_problem_is_caught(tmp_path, page, kind):
    report = check_site(site(tmp_path, page))
    assert [p.kind for p in report.problems if p.page == "book/a.html"][:1] == [kind]


def test_external_requests_are_blocked_not_failed(tmp_path):
    report = check_site(site(tmp_path, '<img src="https://example.org/x.png" style="display:none">'
                                       '<script src="https://cdn.example.org/lib.js"></script>'))
    assert "cdn.example.org" in report.blocked_external
    assert not [p for p in report.problems if p.kind in ("JavaScript error", "HTTP 404")]


def test_broken_redirect(tmp_path):
    root = site(tmp_path, GOOD)
    (root / "index.html").write_text('<meta http-equiv="refresh" content="0; url=book/zz.html" />')
    assert [p.kind for p in check_site(root).problems] == ["broken redirect"]
