from __future__ import annotations

import pytest

from reprobook.core.chapters import discover
from reprobook.core.errors import ParameterError, ProfileError
from reprobook.core.profiles import load_profile, parse_override, resolve

PARAMS = "profile = 'x'\nseed = 0\nrounds = 10\nlr = 0.1\nname = 'a'\nflag = False\nsizes = [1, 2]\n"


@pytest.fixture
def book(sandbox):
    return sandbox("demo", {"01-a.ipynb": (PARAMS, ["x = 1"]),
                            "02-b.ipynb": ("profile = 'x'\nseed = 0\nwidth = 4\n", ["y = 2"])})


def test_defaults_and_overrides_layer_and_go_only_where_declared(book):
    (book / "profiles" / "p.yaml").write_text(
        "defaults: {seed: 3}\nchapters: {demo: {rounds: 5, width: 8}}\n")
    chapters = discover(book)
    out = resolve(load_profile("p", book), list(chapters.values()), chapters, {"lr": 1}, book)
    a, b = (out[nb] for nb in chapters["demo"].notebooks)
    assert a == {"seed": 3, "rounds": 5, "lr": 1, "profile": "p"}
    assert b == {"seed": 3, "width": 8, "profile": "p"}  # rounds and lr not declared in 02


def test_unknown_command_line_parameter_names_key_and_notebooks(book):
    chapters = discover(book)
    with pytest.raises(ParameterError) as e:
        resolve(load_profile("tiny", book), list(chapters.values()), chapters,
                {"nonexistent": 1}, book)
    msg = str(e.value)
    assert "'nonexistent'" in msg and "01-a.ipynb" in msg and "02-b.ipynb" in msg


def test_misspelled_chapter_parameter_suggests_the_declared_one(book):
    (book / "profiles" / "p.yaml").write_text("chapters: {demo: {roundz: 5}}\n")
    chapters = discover(book)
    with pytest.raises(ParameterError, match=r"p\.yaml chapters\.demo.*'roundz'.*Did you mean 'rounds'"):
        resolve(load_profile("p", book), list(chapters.values()), chapters, None, book)


def test_unknown_default_is_an_error(book):
    (book / "profiles" / "p.yaml").write_text("defaults: {sede: 1}\n")
    chapters = discover(book)
    with pytest.raises(ParameterError, match="'sede'"):
        resolve(load_profile("p", book), list(chapters.values()), chapters, None, book)


def test_profile_naming_a_missing_chapter_is_an_error(book):
    (book / "profiles" / "p.yaml").write_text("chapters: {nochapter: {seed: 1}}\n")
    chapters = discover(book)
    with pytest.raises(ProfileError, match="nochapter"):
        resolve(load_profile("p", book), list(chapters.values()), chapters, None, book)


@pytest.mark.parametrize("key,value,ok", [
    ("rounds", "ten", False), ("rounds", 3, True), ("lr", 1, True), ("lr", "x", False),
    ("flag", 1, False), ("flag", True, True), ("sizes", [3], True), ("sizes", 3, False),
    ("name", 3, False)])
def test_values_must_match_the_declared_type(book, key, value, ok):
    chapters = discover(book)
    args = (load_profile("tiny", book), list(chapters.values()), chapters, {key: value}, book)
    if ok:
        resolve(*args)
    else:
        with pytest.raises(ParameterError, match=f"01-a.ipynb: parameter '{key}' expects"):
            resolve(*args)


def test_bad_yaml_names_file_and_line(book):
    (book / "profiles" / "bad.yaml").write_text("defaults:\n  seed: [1, 2\n")
    with pytest.raises(ProfileError, match=r"bad\.yaml \(line \d+, column \d+\): not valid YAML"):
        load_profile("bad", book)


@pytest.mark.parametrize("text,match", [
    ("defaults: [1, 2]\n", "'defaults' must be a mapping"),
    ("budget: {per_notebook_s: -1}\n", "budget.per_notebook_s must be a positive"),
    ("budget: {walltime: 3}\n", "unknown key"),
    ("budget: {hang_factor: 0.5}\n", "hang_factor must be >= 1"),
    ("requires: [tpu]\n", "'requires' must be a list drawn from"),
    ("paramters: {}\n", "unknown key"),
    ("- a\n- b\n", "expected a mapping"),
])
def test_malformed_profiles_are_rejected(book, text, match):
    (book / "profiles" / "bad.yaml").write_text(text)
    with pytest.raises(ProfileError, match=match):
        load_profile("bad", book)


def test_missing_profile_lists_known_ones(book):
    with pytest.raises(ProfileError, match=r"no such profile.*'tiny'"):
        load_profile("nope", book)


@pytest.mark.parametrize("text,expected", [
    ("seed=3", ("seed", 3)), ("lr=0.5", ("lr", 0.5)), ("sizes=[1, 2]", ("sizes", [1, 2])),
    ("name=abc", ("name", "abc")), ("flag=true", ("flag", True)), ("s=a=b", ("s", "a=b"))])
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["seed", "1x=3", "=3"])
def test_parse_override_rejects_malformed(text):
    with pytest.raises(ParameterError):
        parse_override(text)


def test_a_chapter_budget_overrides_the_profile_budget_for_that_chapter_only(book):
    (book / "profiles" / "p.yaml").write_text(
        "budget: {per_notebook_s: 10, per_chapter_s: 20}\n"
        "chapter_budgets: {demo: {per_notebook_s: 300, per_chapter_s: 480}}\n")
    prof = load_profile("p", book)
    assert prof.budget_for("demo").per_chapter_s == 480 and prof.budget_for("demo").per_notebook_s == 300
    assert prof.budget_for("other").per_chapter_s == 20
    chapters = discover(book)
    resolve(prof, list(chapters.values()), chapters, None, book)  # a known chapter is fine


@pytest.mark.parametrize("text,match", [
    ("chapter_budgets: {demo: {per_chapter_s: 0}}\n", "chapter_budgets.demo.per_chapter_s must be a positive"),
    ("chapter_budgets: {demo: {walltime: 3}}\n", "unknown key"),
    ("chapter_budgets: [1]\n", "'chapter_budgets' must map"),
])
def test_malformed_chapter_budgets_are_rejected(book, text, match):
    (book / "profiles" / "bad.yaml").write_text(text)
    with pytest.raises(ProfileError, match=match):
        load_profile("bad", book)


def test_a_chapter_budget_for_a_missing_chapter_is_an_error(book):
    (book / "profiles" / "p.yaml").write_text("chapter_budgets: {nochapter: {per_chapter_s: 5}}\n")
    chapters = discover(book)
    with pytest.raises(ProfileError, match="chapter_budgets.nochapter"):
        resolve(load_profile("p", book), list(chapters.values()), chapters, None, book)
