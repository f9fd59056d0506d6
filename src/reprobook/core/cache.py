"""Caching expensive results of a chapter on disk, keyed by their inputs (ARCHITECTURE §5).

One mechanism for every chapter: :func:`memory` returns a :class:`joblib.Memory` rooted at
``data/cache/results/<slug>/``. Decorate a pure function (``memory("cfnerf").cache(train)``) and
joblib keys each call by the function's code and the hash of its arguments (dataclasses,
arrays and tensors included). A call that raises stores nothing. ``clear(slug)`` empties it.
The runner's *notebook* cache is a different thing (whole chapters, :mod:`.runcache`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .paths import cache_root


def location(slug: str) -> Path:
    return cache_root() / "results" / slug


def memory(slug: str):  # -> joblib.Memory
    """The chapter's result cache (``data/cache/results/<slug>/``)."""
    import joblib

    return joblib.Memory(location(slug), verbose=0)


def clear(slug: str) -> None:
    shutil.rmtree(location(slug), ignore_errors=True)
