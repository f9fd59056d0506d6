"""Seeding and determinism (ARCHITECTURE §6).

``seed_everything`` seeds Python, NumPy, torch (CPU and CUDA) and Lightning, asks torch for
deterministic algorithms (warning, not failing, where none exists), and fixes the thread count,
so that the same profile + seed + machine gives the same bytes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random

import numpy as np

DEFAULT_THREADS_ENV = "REPROBOOK_THREADS"


def default_threads() -> int:
    """``$REPROBOOK_THREADS`` if set, else the number of usable cores."""
    env = os.environ.get(DEFAULT_THREADS_ENV)
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def seed_everything(seed: int, threads: int | None = None, deterministic: bool = True) -> int:
    """Seed every generator the book uses and fix the thread count; returns the seed."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses; this process is already hashed
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    import torch

    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = deterministic
    torch.set_num_threads(threads or default_threads())
    try:
        from lightning.pytorch import seed_everything as l_seed
    except ImportError:  # pragma: no cover - lightning is a core dependency
        pass
    else:
        logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
        l_seed(seed, workers=True, verbose=False)
    return seed


def derive_seed(seed: int, *names: str | int) -> int:
    """A stable child seed for a named sub-task (e.g. client 3 of round 7), independent of order."""
    h = hashlib.sha256(repr((seed, *names)).encode()).digest()
    return int.from_bytes(h[:4], "little")
