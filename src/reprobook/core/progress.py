"""Progress for long loops (DESIGN.md §8): a tqdm bar when interactive, a few log lines otherwise.

Under the runner (``REPROBOOK_UNDER_RUNNER=1``) or without a terminal, ``progress`` prints about
ten lines per loop with the elapsed time and an ETA, not one line per step.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def interactive() -> bool:
    if os.environ.get("REPROBOOK_UNDER_RUNNER") == "1":
        return False
    try:
        get_ipython()  # type: ignore[name-defined]  # noqa: F821 - defined inside Jupyter
        return True
    except NameError:
        return sys.stderr.isatty()


def progress(it: Iterable[T], total: int | None = None, desc: str = "",
             lines: int = 10) -> Iterator[T]:
    """Iterate over ``it`` showing progress (tqdm, or ~``lines`` log lines with an ETA)."""
    if total is None and hasattr(it, "__len__"):
        total = len(it)  # type: ignore[arg-type]
    if interactive():
        from tqdm.auto import tqdm

        yield from tqdm(it, total=total, desc=desc)
        return
    t0 = time.perf_counter()
    every = max(1, (total or 0) // lines) if total else 1
    n = 0
    for n, item in enumerate(it, 1):
        yield item
        if total and (n % every == 0 or n == total):
            el = time.perf_counter() - t0
            eta = el / n * (total - n)
            print(f"{desc}: {n}/{total} ({el:.1f} s elapsed, ETA {eta:.1f} s)", flush=True)
    if not total:
        print(f"{desc}: {n} done in {time.perf_counter() - t0:.1f} s", flush=True)
