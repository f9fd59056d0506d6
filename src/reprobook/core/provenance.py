"""Provenance of a run: git commit, source hash, hardware, package versions (ARCHITECTURE §3)."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "torchvision", "lightning", "numpy", "pandas", "scipy", "matplotlib",
            "seaborn", "papermill", "ipykernel", "reprobook")

_VERSIONS_SNIPPET = (
    "import json, sys, platform\n"
    "from importlib import metadata\n"
    "out = {'python': platform.python_version()}\n"
    "for p in json.loads(sys.argv[1]):\n"
    "    try: out[p] = metadata.version(p)\n"
    "    except metadata.PackageNotFoundError: out[p] = None\n"
    "print(json.dumps(out))\n"
)


def git_state(root: Path) -> dict[str, Any]:
    """The commit and whether the working tree differs from it (``None`` outside git)."""
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@lru_cache(maxsize=8)
def package_versions(python: str = sys.executable) -> dict[str, str | None]:
    """Versions of the book's key packages as seen by the interpreter ``python``."""
    try:
        out = subprocess.run([python, "-c", _VERSIONS_SNIPPET, json.dumps(PACKAGES)],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        return json.loads(out)
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError):
        return {"python": None}


def kernel_python(kernel: str) -> str:
    """The interpreter behind a Jupyter kernel (``python3`` is this interpreter)."""
    if kernel == "python3":
        return sys.executable
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager().get_kernel_spec(kernel).argv[0]


def host() -> dict[str, Any]:
    return {"platform": platform.platform(), "machine": platform.machine(),
            "hostname_hash": hashlib.sha256(platform.node().encode()).hexdigest()[:12]}
