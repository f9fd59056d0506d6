from __future__ import annotations

import pytest

from reprobook.core.chapters import discover, select
from reprobook.core.errors import ChapterError


def test_discovery_order_follows_the_toc(sandbox):
    root = sandbox("zeta", {"01-a.ipynb": ("seed = 0", [])})
    sandbox("alpha", {"01-a.ipynb": ("seed = 0", [])})
    (root / "_toc.yml").write_text("root: x\nchapters:\n - file: book/executed/zeta/01-a\n"
                                   " - file: book/executed/alpha/01-a\n")
    assert list(discover(root)) == ["zeta", "alpha"]


@pytest.mark.parametrize("yaml_text,match", [
    ("title: x\nenvironment: nerf\n", "environment 'nerf' is not in environments.yaml"),
    ("title: x\nprofile: [a]\n", "unknown key"),
    ("environment: main\n", "'title' is required"),
    ("title: x\nprofiles: cpu-smoke\n", "'profiles' must be a list"),
])
def test_bad_chapter_yaml_is_an_error_naming_the_file(sandbox, yaml_text, match):
    root = sandbox("demo", {"01-a.ipynb": ("seed = 0", [])}, chapter_yaml=yaml_text)
    with pytest.raises(ChapterError, match=match) as e:
        discover(root)
    assert "chapter.yaml" in str(e.value)


def test_notebook_names_must_be_numbered(sandbox):
    root = sandbox("demo", {"Train.ipynb": ("seed = 0", [])})
    with pytest.raises(ChapterError, match="NN-step.ipynb"):
        discover(root)


def test_select_unknown_chapter(sandbox):
    root = sandbox("demo", {"01-a.ipynb": ("seed = 0", [])})
    with pytest.raises(ChapterError, match="unknown chapter.*'nope'"):
        select(discover(root), ["nope"])
