"""Sphinx fixes for the book's HTML (loaded from _config.yml as a local extension).

Sphinx 7 registers an inline script added after ``Builder.init()`` twice (once with filename
``None``, once with ``''``), so sphinx-thebe's ``const THEBE_JS_URL`` is declared twice on every
page and the browser raises "Identifier 'THEBE_JS_URL' has already been declared". This extension
removes exact duplicates from each page's script list; the browser check
(``reprobook check-html``) catches any regression.
"""

from __future__ import annotations

from typing import Any


def _key(js: Any) -> tuple:
    attrs = getattr(js, "attributes", {}) or {}
    return (getattr(js, "filename", str(js)) or "",
            tuple(sorted((k, str(v)) for k, v in attrs.items() if k != "priority")))


def dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    files = context.get("script_files")
    if not files:
        return
    seen: set = set()
    unique = []
    for js in files:
        k = _key(js)
        if k not in seen:
            seen.add(k)
            unique.append(js)
    files[:] = unique


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
