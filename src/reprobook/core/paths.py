"""Where things live: the repository root, run outputs, executed notebooks (ARCHITECTURE §1).

Two environment variables redirect outputs (the tests use them to keep the tree clean):
``REPROBOOK_RUNS_DIR`` (default ``<root>/runs``) and ``REPROBOOK_ROOT`` (default: the nearest
folder above the working directory holding ``_toc.yml`` and ``profiles/``).
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_ROOT = Path(__file__).resolve().parents[3]


def _is_root(p: Path) -> bool:
    return (p / "_toc.yml").is_file() and (p / "profiles").is_dir()


def repo_root() -> Path:
    """The repository root: ``$REPROBOOK_ROOT``, else searched upwards from the cwd."""
    env = os.environ.get("REPROBOOK_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        if _is_root(p):
            return p
    if _is_root(_PACKAGE_ROOT):
        return _PACKAGE_ROOT
    return here


def runs_root() -> Path:
    """Root of fresh run outputs: ``runs/`` (gitignored)."""
    env = os.environ.get("REPROBOOK_RUNS_DIR")
    return Path(env).resolve() if env else repo_root() / "runs"


def run_dir(profile: str, slug: str) -> Path:
    """``runs/<profile>/<slug>/``: metrics.json, claims.json, figures/, tables/."""
    return runs_root() / profile / slug


def reference_root() -> Path:
    """Committed reference runs on real hardware: ``results/reference/<profile>/<slug>/``."""
    return repo_root() / "results" / "reference"


def executed_root() -> Path:
    """Where papermill writes executed notebooks for the book: ``book/executed/``."""
    return repo_root() / "book" / "executed"


def cache_root() -> Path:
    """Downloaded or generated data: ``data/cache/`` (gitignored)."""
    env = os.environ.get("REPROBOOK_CACHE_DIR")
    return Path(env).resolve() if env else repo_root() / "data" / "cache"
