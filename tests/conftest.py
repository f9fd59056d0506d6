"""Shared fixtures: the real repository, a throw-away "sandbox" book for runner tests, and each
chapter's ci-tiny run (executed once per test session, shared by the tests that read it)."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
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


# Execute once in CI (issue: every notebook runs once per CI run). `.ci/run` sets
# REPROBOOK_BOOK_PROFILE=cpu-smoke because `make book` then executes every chapter that supports
# that profile, and the runner verifies its claims and nulls there; the ci-tiny executions of those
# chapters are skipped here. Everywhere else (a developer's `make test`) they run.
BOOK_PROFILE_ENV = "REPROBOOK_BOOK_PROFILE"


def executed_by_the_book(chapter) -> str | None:  # noqa: ANN001 - a core.chapters.Chapter
    """The reason to skip a chapter's ci-tiny execution in this test session, or None."""
    profile = os.environ.get(BOOK_PROFILE_ENV)
    if profile and chapter.supports(profile):
        return (f"{chapter.slug} is executed at {profile} by `make book` in this CI run "
                f"(${BOOK_PROFILE_ENV}); the runner verifies its claims and nulls there")
    return None


@dataclass
class CiTinyRun:
    report: object
    out: Path  # executed notebooks under out/executed/<slug>/, results under out/runs/ci-tiny/<slug>/

    @property
    def run_dir(self) -> Path:
        return self.out / "runs" / "ci-tiny"


_CI_TINY: dict[str, CiTinyRun] = {}


@pytest.fixture
def ci_tiny(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """``ci_tiny(slug)``: the chapter executed at ci-tiny, once per test session."""
    from reprobook.core.chapters import discover
    from reprobook.core.runner import run

    def get(slug: str) -> CiTinyRun:
        reason = executed_by_the_book(discover(REPO)[slug])
        if reason:
            pytest.skip(reason)
        if slug not in _CI_TINY:
            out = tmp_path_factory.mktemp(f"ci-tiny-{slug}")
            monkeypatch.chdir(REPO)
            monkeypatch.delenv("REPROBOOK_ROOT", raising=False)
            monkeypatch.setenv("REPROBOOK_RUNS_DIR", str(out / "runs"))
            report = run("ci-tiny", [slug], None, out_root=out / "executed", progress=False,
                         dashboard=False, use_cache=False)
            _CI_TINY[slug] = CiTinyRun(report, out)
        return _CI_TINY[slug]

    return get
