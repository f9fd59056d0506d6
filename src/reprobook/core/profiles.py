"""Profiles: named sets of papermill parameters, and their validation (ARCHITECTURE §3).

A profile file ``profiles/<name>.yaml``::

    description: real results at reduced scale
    budget: {per_notebook_s: 120, per_chapter_s: 180, hang_factor: 5}
    requires: [cuda]                        # optional: what the machine must have
    defaults: {seed: 0, device: auto}       # offered to every notebook that declares the key
    chapters:
      fedimpro: {rounds: 30}                # offered to that chapter's notebooks that declare it

Rules (an unknown or mistyped parameter is an error, never papermill's warning):

- a key in ``defaults`` must be declared by at least one notebook of the book;
- a key under ``chapters.<slug>`` must be declared by at least one notebook of that chapter;
- a key given on the command line (``-p key=value``) must be declared by a selected notebook;
- a value must match the type of the notebook's default (an int is accepted for a float).

A key is passed only to the notebooks whose ``parameters`` cell declares it; the runner always
passes ``profile`` (the profile's name) to notebooks that declare it.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .chapters import Chapter
from .errors import ParameterError, ProfileError
from .paths import repo_root
from .yamlio import check_keys, read_yaml_mapping

PROFILE_KEYS = {"description", "budget", "chapter_budgets", "defaults", "chapters", "requires"}
BUDGET_KEYS = {"per_notebook_s", "per_chapter_s", "cell_timeout_s", "hang_factor"}
REQUIREMENTS = {"cuda"}
_MISSING = object()


@dataclass(frozen=True)
class Budget:
    """Expected times in seconds (``None``: none stated) and the hang guard.

    ``per_notebook_s`` and ``per_chapter_s`` are what a notebook and a chapter are expected to take
    on the profile's machine: exceeding them is *reported* in the runner's time table, never
    failed. A notebook is stopped as hung only after ``hang_factor * per_notebook_s``; papermill's
    ``cell_timeout_s`` is an optional per-cell guard for profiles without a notebook budget.
    """

    per_notebook_s: float | None = None
    per_chapter_s: float | None = None
    cell_timeout_s: float | None = None
    hang_factor: float = 5.0


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    description: str
    budget: Budget
    defaults: dict[str, Any] = field(default_factory=dict)
    chapters: dict[str, dict[str, Any]] = field(default_factory=dict)
    chapter_budgets: dict[str, Budget] = field(default_factory=dict)
    requires: tuple[str, ...] = ()

    def budget_for(self, slug: str) -> Budget:
        """The chapter's budget: ``chapter_budgets[slug]`` where the profile grants an exception
        (e.g. CF-NeRF's 8 minutes at cpu-smoke), else the profile's ``budget``."""
        return self.chapter_budgets.get(slug, self.budget)


def profile_names(root: Path | None = None) -> list[str]:
    return sorted(p.stem for p in ((root or repo_root()) / "profiles").glob("*.yaml"))


def load_profile(name: str, root: Path | None = None) -> Profile:
    """Load ``profiles/<name>.yaml`` (or a path); malformed files raise :class:`ProfileError`."""
    root = root or repo_root()
    path = Path(name) if name.endswith((".yaml", ".yml")) else root / "profiles" / f"{name}.yaml"
    if not path.is_file():
        raise ProfileError(f"{path}: no such profile; known profiles: {profile_names(root)}")
    data = read_yaml_mapping(path, ProfileError)
    check_keys(path, data, PROFILE_KEYS, ProfileError)
    budget = _budget(path, data.get("budget") or {}, "budget")
    raw = data.get("chapter_budgets") or {}
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: 'chapter_budgets' must map chapter slugs to budgets")
    chapter_budgets = {slug: _budget(path, b, f"chapter_budgets.{slug}") for slug, b in raw.items()}
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ProfileError(f"{path}: 'defaults' must be a mapping of parameter: value")
    chapters = data.get("chapters") or {}
    if not isinstance(chapters, dict) or not all(isinstance(v, dict) for v in chapters.values()):
        raise ProfileError(f"{path}: 'chapters' must map chapter slugs to mappings of parameters")
    requires = data.get("requires") or []
    if not isinstance(requires, list) or set(requires) - REQUIREMENTS:
        raise ProfileError(f"{path}: 'requires' must be a list drawn from {sorted(REQUIREMENTS)}, "
                           f"got {requires!r}")
    return Profile(name=path.stem, path=path, description=str(data.get("description", "")),
                   budget=budget, defaults=dict(defaults),
                   chapters={k: dict(v) for k, v in chapters.items()},
                   chapter_budgets=chapter_budgets, requires=tuple(requires))


def _budget(path: Path, budget: Any, where: str) -> Budget:
    if not isinstance(budget, dict):
        raise ProfileError(f"{path}: '{where}' must be a mapping")
    check_keys(path, budget, BUDGET_KEYS, ProfileError, where)
    for k, v in budget.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0):
            raise ProfileError(f"{path}: {where}.{k} must be a positive number, got {v!r}")
    if budget.get("hang_factor", 1) < 1:
        raise ProfileError(f"{path}: {where}.hang_factor must be >= 1 (a multiple of the "
                           f"expected time), got {budget['hang_factor']!r}")
    return Budget(**budget)


@dataclass(frozen=True)
class Declared:
    """A parameter declared in a notebook's ``parameters`` cell, with its literal default."""

    name: str
    default: Any  # _MISSING when the default is an expression, not a literal


@lru_cache(maxsize=256)
def _declared_cached(path: str, mtime: float) -> dict[str, Declared]:
    import papermill

    spec = papermill.inspect_notebook(path)
    out: dict[str, Declared] = {}
    for name, info in spec.items():
        try:
            default = ast.literal_eval(str(info["default"]))
        except (ValueError, SyntaxError):
            default = _MISSING
        out[name] = Declared(name=name, default=default)
    return out


def declared_parameters(notebook: Path) -> dict[str, Declared]:
    """The parameters a notebook declares (via :func:`papermill.inspect_notebook`)."""
    return _declared_cached(str(notebook), notebook.stat().st_mtime)


def _type_ok(value: Any, default: Any) -> bool:
    if default is _MISSING or default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def _unknown(key: str, where: str, notebooks: list[Path], root: Path) -> ParameterError:
    names = sorted({n for nb in notebooks for n in declared_parameters(nb)})
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(str(nb.relative_to(root)) if nb.is_relative_to(root) else str(nb)
                       for nb in notebooks)
    return ParameterError(f"{where}: unknown parameter {key!r}: no notebook declares it "
                          f"({listed}; declared: {names}).{hint}")


def resolve(profile: Profile, chapters: list[Chapter], all_chapters: dict[str, Chapter],
            overrides: dict[str, Any] | None = None,
            root: Path | None = None) -> dict[Path, dict[str, Any]]:
    """Parameters for every notebook of ``chapters``: defaults < chapter overrides < ``overrides``.

    Validates the whole profile against the whole book first (so a typo in another chapter's
    section is caught too), then the command-line ``overrides`` against the selected notebooks.
    """
    root = root or repo_root()
    overrides = overrides or {}
    every = [nb for ch in all_chapters.values() for nb in ch.notebooks]
    for key in profile.defaults:
        if not any(key in declared_parameters(nb) for nb in every):
            raise _unknown(key, f"{profile.path} defaults", every, root)
    for slug in profile.chapter_budgets:
        if slug not in all_chapters:
            raise ProfileError(f"{profile.path}: chapter_budgets.{slug}: no such chapter "
                               f"(known: {list(all_chapters)})")
    for slug, params in profile.chapters.items():
        if slug not in all_chapters:
            raise ProfileError(f"{profile.path}: chapters.{slug}: no such chapter "
                               f"(known: {list(all_chapters)})")
        nbs = list(all_chapters[slug].notebooks)
        for key in params:
            if not any(key in declared_parameters(nb) for nb in nbs):
                raise _unknown(key, f"{profile.path} chapters.{slug}", nbs, root)
    selected = [nb for ch in chapters for nb in ch.notebooks]
    for key in overrides:
        if not any(key in declared_parameters(nb) for nb in selected):
            raise _unknown(key, "command line (-p)", selected, root)

    resolved: dict[Path, dict[str, Any]] = {}
    for ch in chapters:
        layered = {**profile.defaults, **profile.chapters.get(ch.slug, {}), **overrides,
                   "profile": profile.name}
        for nb in ch.notebooks:
            declared = declared_parameters(nb)
            params = {k: v for k, v in layered.items() if k in declared}
            for k, v in params.items():
                if not _type_ok(v, declared[k].default):
                    rel = nb.relative_to(root) if nb.is_relative_to(root) else nb
                    raise ParameterError(
                        f"{rel}: parameter {k!r} expects {type(declared[k].default).__name__} "
                        f"(default {declared[k].default!r}), got {type(v).__name__} {v!r} "
                        f"from profile {profile.name!r} or the command line")
            resolved[nb] = params
    return resolved


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` from the command line; the value is read as YAML (``3``, ``[1,2]``)."""
    import yaml

    if "=" not in text:
        raise ParameterError(f"-p {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key.isidentifier():
        raise ParameterError(f"-p {text!r}: {key!r} is not a valid parameter name")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value
