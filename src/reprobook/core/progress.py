"""Progress of long loops (ARCHITECTURE §8): one implementation for the runner and every chapter.

Where the lines go:

- under the runner (``$REPROBOOK_PROGRESS_FILE`` set): appended to that file, which the runner
  streams to the terminal with ``--verbose`` and summarises in its heartbeat — never into the
  executed notebook, so the HTML book carries results, not progress bars;
- interactive (Jupyter, or a terminal): a tqdm bar;
- otherwise (a script, a test): about ``lines`` log lines per loop on stderr, with an ETA.

``progress(iterable)`` wraps a loop; :class:`Progress` is the same as an object
(``update``, ``write``, ``close``); :func:`log` sends one line to the same place.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Iterable, Iterator, TypeVar

T = TypeVar("T")
PROGRESS_FILE_ENV = "REPROBOOK_PROGRESS_FILE"


def interactive() -> bool:
    """True in Jupyter or on a terminal, False under the runner."""
    if os.environ.get(PROGRESS_FILE_ENV) or os.environ.get("REPROBOOK_UNDER_RUNNER") == "1":
        return False
    try:
        get_ipython()  # type: ignore[name-defined]  # noqa: F821 - defined inside Jupyter
        return True
    except NameError:
        return sys.stderr.isatty()


def log(message: str) -> None:
    """One progress line: to the runner's progress file, else to stderr."""
    path = os.environ.get(PROGRESS_FILE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(message.rstrip("\n") + "\n")
    else:
        print(message, file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


class Progress:
    """A progress bar (tqdm) or a few log lines with elapsed time and ETA."""

    def __init__(self, total: int | None = None, desc: str = "", unit: str = "it",
                 lines: int = 10, bar: bool | None = None) -> None:
        self.total, self.desc, self.n = total, desc, 0
        self.t0 = time.perf_counter()
        self.every = max(1, total // lines) if total else 1
        self._bar: Any = None
        if interactive() if bar is None else bar:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def eta(self) -> float | None:
        if not self.total or not self.n:
            return None
        return self.elapsed / self.n * (self.total - self.n)

    def update(self, n: int = 1, note: str = "") -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
            if note:
                self._bar.set_postfix_str(note)
            return
        if self.total and (self.n % self.every == 0 or self.n == self.total):
            eta = self.eta()
            tail = f", ETA {_clock(eta)}" if eta is not None and self.n < self.total else ""
            log(f"{self.desc}: {self.n}/{self.total}{' ' + note if note else ''} "
                f"({_clock(self.elapsed)} elapsed{tail})")

    def write(self, message: str) -> None:
        """A status line above the bar (or a log line)."""
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            log(message)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif not self.total:
            log(f"{self.desc}: {self.n} done in {_clock(self.elapsed)}")

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(it: Iterable[T], total: int | None = None, desc: str = "",
             lines: int = 10) -> Iterator[T]:
    """Iterate over ``it`` showing progress (see the module docstring for where it goes)."""
    if total is None and hasattr(it, "__len__"):
        total = len(it)  # type: ignore[arg-type]
    with Progress(total, desc, lines=lines) as p:
        for item in it:
            yield item
            p.update()
