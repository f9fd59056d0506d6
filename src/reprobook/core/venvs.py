"""The book's Python virtual environments and their Jupyter kernels (ARCHITECTURE §2).

``environments.yaml`` at the repository root lists each environment: its virtual environment
folder, the Jupyter kernel the runner executes its chapters with, and the ``pyproject.toml``
extra it installs. A chapter names its environment in ``chapter.yaml`` (default ``main``).
The Makefile creates every environment (``reprobook envs`` tells it which).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import VenvError
from .paths import repo_root
from .yamlio import check_keys, read_yaml_mapping

MAIN = "main"


@dataclass(frozen=True)
class Environment:
    """One Python environment: ``venv`` folder, Jupyter ``kernel`` name, pip ``extras``."""

    name: str
    venv: str
    kernel: str
    extras: str


def load_environments(root: Path | None = None) -> dict[str, Environment]:
    """Read ``environments.yaml``; the ``main`` environment must exist and use kernel python3."""
    path = (root or repo_root()) / "environments.yaml"
    data = read_yaml_mapping(path, VenvError)
    envs: dict[str, Environment] = {}
    for name, spec in data.items():
        if not isinstance(spec, dict):
            raise VenvError(f"{path}: environment {name!r} must be a mapping")
        check_keys(path, spec, {"venv", "kernel", "extras"}, VenvError, f"environment {name!r}")
        missing = {"venv", "kernel", "extras"} - set(spec)
        if missing:
            raise VenvError(f"{path}: environment {name!r} lacks {sorted(missing)}")
        envs[name] = Environment(name=name, **{k: str(v) for k, v in spec.items()})
    if MAIN not in envs:
        raise VenvError(f"{path}: the 'main' environment is missing")
    if envs[MAIN].kernel != "python3":
        raise VenvError(f"{path}: the main environment's kernel must be 'python3'")
    return envs
