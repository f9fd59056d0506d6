"""Lightning helpers shared by every chapter that trains (DESIGN.md §2, §8)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Iterator

_LOGGERS = ("lightning.pytorch", "lightning.fabric")


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's INFO banners ("GPU available", tips) inside the block.

    Warnings and errors still show. Wrap both the ``Trainer(...)`` construction and ``fit``.
    """
    loggers = [logging.getLogger(n) for n in _LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
            warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)
