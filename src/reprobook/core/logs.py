"""Quieter logs in notebooks: Lightning's banners off, warnings and errors kept (ARCHITECTURE §8).

Under the runner, third-party progress bars (transformers, datasets, stable-baselines3) are
switched off by ``TQDM_DISABLE=1`` in the kernel's environment, which also keeps tqdm's
"IProgress not found" warning out of executed notebooks; the book's own progress goes to the
runner's progress file (:mod:`.progress`).
"""

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
