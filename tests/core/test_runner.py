from __future__ import annotations

import time

import nbformat
import pytest

from reprobook.core.cli import main
from reprobook.core.runner import run

PARAMS = "profile = 'x'\nseed = 0\n"
WRITE = ("import json, os, pathlib\n"
         "d = pathlib.Path(os.environ['REPROBOOK_RUNS_DIR']) / profile / 'demo'\n"
         "d.mkdir(parents=True, exist_ok=True)\n"
         "(d / 'metrics.json').write_text(json.dumps({'seed': seed}))\n")


def test_run_executes_and_records_provenance(sandbox):
    root = sandbox("demo", {"01-ok.ipynb": (PARAMS, [WRITE])})
    report = run("tiny", ["demo"], {"seed": 5}, progress=False, dashboard=False)
    assert report.ok and [r.status for r in report.results] == ["ok"]
    out = root / "book" / "executed" / "demo" / "01-ok.ipynb"
    meta = nbformat.read(out, as_version=4).metadata["reprobook"]
    assert meta["profile"] == "tiny" and meta["parameters"] == {"seed": 5, "profile": "tiny"}
    assert len(meta["source_sha256"]) == 64 and meta["wall_time_s"] > 0
    assert meta["packages"]["papermill"] and meta["hardware"]["cpu"]
    assert (root / "runs" / "tiny" / "demo" / "metrics.json").read_text() == '{"seed": 5}'
    assert (root / "runs" / "tiny" / "demo" / "provenance.json").is_file()


def test_a_raising_notebook_is_reported_by_cell_and_kept(sandbox, capsys):
    root = sandbox("demo", {"01-bad.ipynb": (PARAMS, ["x = 1", "y = 2\nraise ValueError('boom')"]),
                            "02-after.ipynb": (PARAMS, ["z = 3"])})
    assert main(["run", "--profile", "tiny", "--no-dashboard"]) == 1
    err = capsys.readouterr().err
    assert "01-bad" in err and "code cell 3" in err and "ValueError: boom" in err
    assert "02-after.ipynb: skipped" not in err  # skipped is not a failure line
    kept = root / "book" / "executed" / "demo" / "01-bad.ipynb"
    assert kept.is_file()
    assert not (root / "book" / "executed" / "demo" / "02-after.ipynb").exists()


def test_a_notebook_past_its_budget_is_stopped(sandbox):
    root = sandbox("demo", {"01-slow.ipynb": (PARAMS, ["import time\ntime.sleep(120)"])})
    (root / "profiles" / "quick.yaml").write_text("budget: {per_notebook_s: 8}\n")
    t0 = time.perf_counter()
    report = run("quick", None, None, progress=False, dashboard=False)
    assert time.perf_counter() - t0 < 40
    (r,) = report.results
    assert r.status == "timeout" and "time budget of 8 s" in r.message
    assert "code cell 2 `import time`: still running" in r.message


def test_unknown_parameter_on_the_command_line_fails_before_running(sandbox, capsys):
    root = sandbox("demo", {"01-ok.ipynb": (PARAMS, [WRITE])})
    assert main(["run", "--profile", "tiny", "-p", "nonexistent=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'nonexistent'" in err and "01-ok.ipynb" in err
    assert not (root / "book" / "executed").exists()


def test_chapter_not_supporting_a_profile_is_skipped_and_said(sandbox, capsys):
    root = sandbox("demo", {"01-ok.ipynb": (PARAMS, [WRITE])},
                   chapter_yaml="title: d\nprofiles: [cpu-smoke]\n")
    report = run("tiny", None, None, progress=False, dashboard=False)
    assert report.ok and not report.results
    assert "does not support profile 'tiny'" in report.skipped_chapters["demo"]
    assert not (root / "runs" / "tiny" / "demo").exists()


def test_params_command_prints_yaml_for_papermill(sandbox, capsys):
    sandbox("demo", {"01-ok.ipynb": (PARAMS + "rounds = 2\n", [WRITE])})
    (sandbox.root / "profiles" / "big.yaml").write_text(
        "defaults: {seed: 4}\nchapters: {demo: {rounds: 9}}\n")
    assert main(["params", "--profile", "big", "--chapter", "demo"]) == 0
    assert capsys.readouterr().out == "profile: big\nrounds: 9\nseed: 4\n"
    assert main(["params", "--profile", "big", "--chapter", "demo", "--notebook", "09-x"]) == 2


@pytest.mark.parametrize("argv", [["run", "--profile", "nope"], ["run", "--profile", "tiny", "--chapter", "nope"]])
def test_unknown_profile_or_chapter(sandbox, argv, capsys):
    sandbox("demo", {"01-ok.ipynb": (PARAMS, [WRITE])})
    assert main(argv) == 2
    assert "nope" in capsys.readouterr().err
