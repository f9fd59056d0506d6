"""Check the built HTML book in a real browser (headless Chromium through Playwright).

Every page of ``_build/html`` is served on 127.0.0.1 and loaded in Chromium. A page fails on an
uncaught JavaScript error, a console error not caused by a blocked external request, a local
resource that does not load (HTTP >= 400), a broken image (missing file, or one that does not
decode), or an internal link to a missing page or anchor. Requests to other hosts are blocked (the
book must not need the network) and counted. Screenshots of chosen pages are saved.

Chromium is Debian's (``/usr/bin/chromium``), never a downloaded browser build; set
``REPROBOOK_CHROMIUM`` to use another executable.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static", "_panels_static"}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@dataclass(frozen=True)
class Problem:
    page: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: {self.kind}: {self.detail}"


@dataclass
class CheckReport:
    pages: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    blocked_external: set[str] = field(default_factory=set)
    screenshots: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def find_chromium() -> str | None:
    env = os.environ.get("REPROBOOK_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            if k in ("id", "name") and v:
                self.ids.add(v)


@functools.lru_cache(maxsize=1024)
def _ids_of(path: Path) -> frozenset[str]:
    p = _Ids()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(p.ids)


def _local_target(site: Path, url_path: str) -> Path | None:
    rel = unquote(url_path).lstrip("/")
    target = site / rel
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def pages_of(site: Path) -> list[str]:
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html")
                  if not (set(p.relative_to(site).parts[:-1]) & SKIP_DIRS))


def check_site(site: Path, screenshots: dict[str, Path] | None = None,
               chromium: str | None = None, timeout_ms: int = 30000) -> CheckReport:
    """Load every page of ``site`` in headless Chromium; see the module docstring."""
    from playwright.sync_api import sync_playwright

    site = site.resolve()
    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"{site}: no index.html; build the book first (make book)")
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("Chromium not found (install Debian's 'chromium' package)")
    report = CheckReport(pages=pages_of(site))
    missing = sorted(set(screenshots or {}) - set(report.pages))
    if missing:
        raise FileNotFoundError(f"{site}: no page(s) {missing} to take a screenshot of")
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def route(r):  # block everything that is not the local server
                if r.request.url.startswith(base) or r.request.url.startswith("data:"):
                    r.continue_()
                else:
                    report.blocked_external.add(urlparse(r.request.url).netloc)
                    r.abort()

            page.route("**/*", route)
            current: dict[str, str] = {"page": ""}
            problems = report.problems

            def add(kind: str, detail: str) -> None:
                problems.append(Problem(current["page"], kind, detail))

            page.on("pageerror", lambda e: add("JavaScript error", str(e)))
            page.on("console", lambda m: m.type == "error" and not _external_noise(m.text, base)
                    and add("console error", m.text))
            page.on("response", lambda r: r.status >= 400 and r.url.startswith(base)
                    and add(f"HTTP {r.status}", r.url[len(base) - 1:]))
            for rel in report.pages:
                current["page"] = rel
                redirect = _meta_refresh(site / rel)
                if redirect is not None:  # e.g. the root index.html Jupyter Book writes
                    url, _ = urldefrag(redirect)
                    if _local_target(site, urlparse(urljoin("/" + rel, url)).path) is None:
                        add("broken redirect", redirect)
                    continue
                page.goto(base + rel, wait_until="load", timeout=timeout_ms)
                _check_images(page, site, base, add)
                _check_links(page, site, base, rel, add)
                if screenshots and rel in screenshots:
                    out = screenshots[rel]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(out), full_page=True)
                    report.screenshots.append(out)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return report


_REFRESH = re.compile(r'<meta[^>]+http-equiv="refresh"[^>]+content="[^"]*url=([^"]+)"', re.I)


def _meta_refresh(path: Path) -> str | None:
    """The target of a meta-refresh redirect page, else None."""
    m = _REFRESH.search(path.read_text(encoding="utf-8", errors="replace")[:4096])
    return m.group(1).strip() if m else None


def _external_noise(text: str, base: str) -> bool:
    """Console errors that only echo a blocked external request."""
    return "net::ERR_FAILED" in text or "net::ERR_BLOCKED" in text


def _check_images(page, site: Path, base: str, add) -> None:
    page.evaluate("""async () => {
        const imgs = Array.from(document.images);
        imgs.forEach(i => { i.loading = 'eager'; });
        await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
            i.addEventListener('load', r); i.addEventListener('error', r); setTimeout(r, 5000); })));
    }""")
    imgs = page.evaluate("""() => Array.from(document.images).map(i => (
        {src: i.currentSrc || i.src, raw: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}))""")
    for img in imgs:
        src = img["src"] or ""
        if src.startswith(base):
            path = urlparse(src).path
            if _local_target(site, path) is None:
                add("broken image", f"{img['raw']} (no such file)")
                continue
        if not img["ok"]:
            if src.startswith(base) or src.startswith("data:"):
                add("broken image", f"{img['raw'][:80] if img['raw'] else src[:80]} does not decode")


def _check_links(page, site: Path, base: str, rel: str, add) -> None:
    hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    for href in sorted(set(hrefs)):
        if not href.startswith(base):
            continue
        url, frag = urldefrag(href)
        target = _local_target(site, urlparse(url).path)
        if target is None:
            add("broken link", href[len(base) - 1:])
        elif frag and target.suffix == ".html" and unquote(frag) not in _ids_of(target):
            add("broken anchor", href[len(base) - 1:])
