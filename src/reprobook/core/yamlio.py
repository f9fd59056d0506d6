"""Reading YAML files with errors that name the file and the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ReprobookError


def read_yaml_mapping(path: Path, error: type[ReprobookError]) -> dict[str, Any]:
    """Load ``path`` and require a mapping at top level; raise ``error`` naming the file."""
    if not path.is_file():
        raise error(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{path}{where}: not valid YAML: {problem}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping at top level, found {type(data).__name__}")
    return data


def check_keys(path: Path, data: dict[str, Any], allowed: set[str], error: type[ReprobookError],
               where: str = "top level") -> None:
    """Reject keys outside ``allowed`` with a message naming the file and the key."""
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise error(f"{path}: unknown key(s) {unknown} at {where}; allowed: {sorted(allowed)}")
