"""The runner's execution cache: skip a chapter whose inputs have not changed (ARCHITECTURE §3).

A chapter's **key** is a sha256 over everything its executed notebooks depend on:

- the profile's name and the resolved parameters of each notebook;
- the bytes of each source notebook;
- every file under ``src/reprobook/<slug>/``, ``src/reprobook/core/`` and ``src/reprobook/kernels/``
  (Python, C++ and CUDA sources; ``__pycache__`` excluded);
- the lock file of the chapter's environment (``requirements/<env>.lock``), ``environments.yaml``
  and the data manifests (``data/manifests/*.yaml``: a data set is verified against them).

jupyter-cache keys a notebook by its code cells only, so it would miss an edit in ``src/`` — where
this book keeps its logic — and a change of parameters or locked packages; hence the runner keys
chapters itself. After a chapter runs completely, its key is written to
``runs/<profile>/<slug>/cache.json`` and into each executed notebook's provenance. A later run with
the same key, whose executed notebooks still carry that key, is skipped ("cached"); ``--force``
re-runs. A failed run leaves no entry (the run folder is cleared when a chapter starts).
Not in the key: the machine, and which optional data files happen to be present (a chapter that
uses data only when available says so in its output): re-run with ``--force`` after adding data.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat

from .chapters import Chapter
from .venvs import Environment

CACHE_FILE = "cache.json"
_SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", "node_modules"}  # installed, not authored


def lock_file(root: Path, env: Environment) -> Path:
    """The lock file of an environment: ``requirements/<name>.lock``."""
    return root / "requirements" / f"{env.name}.lock"


def _tree(root: Path, folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not _SKIP_PARTS & set(p.relative_to(root).parts)
                  and p.suffix not in (".pyc", ".so", ".o"))


def chapter_key(root: Path, chapter: Chapter, profile: str, params: dict[Path, dict[str, Any]],
                env: Environment) -> str:
    """The content key of one chapter under one profile (see the module docstring)."""
    h = hashlib.sha256()

    def feed(label: str, data: bytes) -> None:
        h.update(label.encode() + b"\0" + hashlib.sha256(data).digest())

    feed("profile", profile.encode())
    for nb in chapter.notebooks:
        feed(f"notebook:{nb.name}", nb.read_bytes())
        feed(f"params:{nb.name}", json.dumps(params.get(nb, {}), sort_keys=True,
                                             default=str).encode())
    pkg = root / "src" / "reprobook"
    files = [*_tree(root, pkg / chapter.slug), *_tree(root, pkg / "core"),
             *_tree(root, pkg / "kernels"), *_tree(root, root / "data" / "manifests")]
    for extra in (lock_file(root, env), root / "environments.yaml"):
        if extra.is_file():
            files.append(extra)
    for f in files:
        feed(str(f.relative_to(root)), f.read_bytes())
    return h.hexdigest()


def lookup(run_dir: Path, executed: list[Path], key: str, profile: str) -> dict[str, Any] | None:
    """The cache entry if the chapter's last complete run had ``key`` and its outputs are intact."""
    path = run_dir / CACHE_FILE
    if not path.is_file():
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    if entry.get("key") != key:
        return None
    for out in executed:
        if not out.is_file():
            return None
        try:
            meta = nbformat.read(out, as_version=4).metadata.get("reprobook", {})
        except Exception:  # noqa: BLE001 - an unreadable output is a miss, not an error
            return None
        if meta.get("cache_key") != key or meta.get("profile") != profile:
            return None
    return entry


def store(run_dir: Path, key: str, wall_s: float) -> None:
    """Record a complete run of the chapter under ``key``."""
    entry = {"key": key, "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "wall_time_s": round(wall_s, 2)}
    (run_dir / CACHE_FILE).write_text(json.dumps(entry, indent=2) + "\n", encoding="utf-8")
