"""Chapter discovery: every ``notebooks/<slug>/`` with a ``chapter.yaml`` is a chapter.

A chapter is added by creating ``src/reprobook/<slug>/``, ``notebooks/<slug>/`` (with
``chapter.yaml``), ``book/chapters/<slug>/`` and its entry in ``_toc.yml``. ``chapter.yaml``::

    title: FedImpro                # shown by `reprobook list`
    environment: main              # optional; a name from environments.yaml
    profiles: [ci-tiny, cpu-smoke] # optional; profiles the chapter supports (default: all)
    cores: 2                       # optional; CPU cores its notebooks keep busy (default 1)

``cores`` is both the torch thread count of the chapter's notebooks (fixed, so results do not
depend on the machine's core count) and what the runner reserves when it runs chapters side by
side; a chapter that starts worker processes counts the cores they use.

Chapters are ordered as they appear in ``_toc.yml``; notebooks as ``NN-step.ipynb`` sort.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .venvs import MAIN, load_environments
from .errors import ChapterError
from .paths import repo_root
from .yamlio import check_keys, read_yaml_mapping

NOTEBOOK_NAME = re.compile(r"^\d\d-[a-z0-9][a-z0-9-]*\.ipynb$")


@dataclass(frozen=True)
class Chapter:
    """One chapter: its slug, title, environment, supported profiles and source notebooks."""

    slug: str
    title: str
    environment: str
    profiles: tuple[str, ...] | None
    notebooks: tuple[Path, ...]
    cores: int = 1

    def supports(self, profile: str) -> bool:
        return self.profiles is None or profile in self.profiles


def toc_order(root: Path) -> list[str]:
    """Slugs in the order their executed notebooks appear in ``_toc.yml``."""
    order: list[str] = []
    toc = (root / "_toc.yml").read_text(encoding="utf-8") if (root / "_toc.yml").is_file() else ""
    for m in re.finditer(r"book/executed/([a-z0-9_-]+)/", toc):
        if m.group(1) not in order:
            order.append(m.group(1))
    return order


def discover(root: Path | None = None) -> dict[str, Chapter]:
    """All chapters, in ``_toc.yml`` order (chapters missing from the toc come last)."""
    root = root or repo_root()
    envs = load_environments(root)
    found: dict[str, Chapter] = {}
    for cfg in sorted((root / "notebooks").glob("*/chapter.yaml")):
        slug = cfg.parent.name
        data = read_yaml_mapping(cfg, ChapterError)
        check_keys(cfg, data, {"title", "environment", "profiles", "cores"}, ChapterError)
        if "title" not in data:
            raise ChapterError(f"{cfg}: 'title' is required")
        env = str(data.get("environment", MAIN))
        if env not in envs:
            raise ChapterError(f"{cfg}: environment {env!r} is not in environments.yaml "
                               f"(known: {sorted(envs)})")
        profiles = data.get("profiles")
        if profiles is not None and not (isinstance(profiles, list)
                                         and all(isinstance(p, str) for p in profiles)):
            raise ChapterError(f"{cfg}: 'profiles' must be a list of profile names")
        cores = data.get("cores", 1)
        if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
            raise ChapterError(f"{cfg}: 'cores' must be a positive integer, got {cores!r}")
        notebooks = sorted(p for p in cfg.parent.glob("*.ipynb"))
        bad = [p.name for p in notebooks if not NOTEBOOK_NAME.match(p.name)]
        if bad:
            raise ChapterError(f"{cfg.parent}: notebook names must look like NN-step.ipynb: {bad}")
        if not notebooks:
            raise ChapterError(f"{cfg.parent}: a chapter needs at least one notebook")
        found[slug] = Chapter(slug=slug, title=str(data["title"]), environment=env,
                              profiles=tuple(profiles) if profiles is not None else None,
                              notebooks=tuple(notebooks), cores=cores)
    order = toc_order(root)
    ranked = sorted(found, key=lambda s: (order.index(s) if s in order else len(order), s))
    return {s: found[s] for s in ranked}


def select(chapters: dict[str, Chapter], slugs: list[str] | None) -> list[Chapter]:
    """The chapters named by ``slugs`` (all when None); an unknown slug is an error."""
    if not slugs:
        return list(chapters.values())
    unknown = [s for s in slugs if s not in chapters]
    if unknown:
        raise ChapterError(f"unknown chapter(s) {unknown}; known: {list(chapters)}")
    return [chapters[s] for s in slugs]
