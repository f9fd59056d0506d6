"""Caching expensive results of a chapter on disk, keyed by their inputs (ARCHITECTURE §5).

One mechanism for every chapter: :func:`memory` returns a :class:`joblib.Memory` rooted at
``data/cache/results/<slug>/<code>/``. Decorate a pure function (``memory("cfnerf").cache(train)``)
and joblib keys each call by the function's code and the hash of its arguments (dataclasses, arrays
and tensors included). ``<code>`` is a hash of the chapter's package and of ``core``, so an edit
anywhere in the code a cached function calls starts a fresh cache (joblib alone would only notice
an edit of the decorated function itself). A call that raises stores nothing. ``clear(slug)``
empties the chapter's cache. The runner's *notebook* cache is another thing (whole chapters,
:mod:`.runcache`).
"""

from __future__ import annotations

import hashlib
import shutil
from functools import lru_cache
from pathlib import Path

from .paths import cache_root

_PKG = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=None)
def code_hash(slug: str) -> str:
    """sha256 (12 hex digits) of the Python sources of ``reprobook.<slug>`` and ``reprobook.core``."""
    h = hashlib.sha256()
    for folder in (_PKG / slug, _PKG / "core"):
        for p in sorted(folder.rglob("*.py")):
            if "__pycache__" not in p.parts:
                h.update(str(p.relative_to(_PKG)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:12]


def location(slug: str) -> Path:
    return cache_root() / "results" / slug / code_hash(slug)


def memory(slug: str):  # -> joblib.Memory
    """The chapter's result cache (``data/cache/results/<slug>/<code hash>/``)."""
    import joblib

    return joblib.Memory(location(slug), verbose=0)


def clear(slug: str) -> None:
    shutil.rmtree(cache_root() / "results" / slug, ignore_errors=True)
