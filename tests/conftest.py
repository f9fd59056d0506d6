"""Shared fixtures: the real repository, and a throw-away "sandbox" book for runner tests."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo() -> Path:
    return REPO


def make_notebook(path: Path, params: str, body: list[str], kernel: str = "python3") -> Path:
    """Write a notebook with a tagged parameters cell and the given code cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": kernel, "display_name": "Python 3", "language": "python"}}
    nb.cells = [nbformat.v4.new_markdown_cell("# sandbox"),
                nbformat.v4.new_code_cell(textwrap.dedent(params), metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(textwrap.dedent(src)) for src in body]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """A minimal book in tmp_path; returns a function that adds chapters and profiles to it."""
    root = tmp_path / "book"
    (root / "profiles").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "environments.yaml").write_text(
        "main: {venv: .venv, kernel: python3, extras: all}\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (root / "profiles" / "tiny.yaml").write_text(
        "description: test\nbudget: {per_notebook_s: 60, cell_timeout_s: 60}\n"
        "defaults: {seed: 0}\n")
    monkeypatch.setenv("REPROBOOK_ROOT", str(root))
    monkeypatch.setenv("REPROBOOK_RUNS_DIR", str(root / "runs"))

    def add(slug: str = "demo", notebooks: dict[str, tuple[str, list[str]]] | None = None,
            chapter_yaml: str | None = None) -> Path:
        d = root / "notebooks" / slug
        d.mkdir(parents=True, exist_ok=True)
        (d / "chapter.yaml").write_text(chapter_yaml or f"title: {slug}\n")
        for name, (params, body) in (notebooks or {}).items():
            make_notebook(d / name, params, body)
        return root

    add.root = root  # type: ignore[attr-defined]
    return add
