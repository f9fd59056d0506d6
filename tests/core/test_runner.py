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


def test_a_hung_notebook_is_stopped_at_the_hang_factor_times_its_budget(sandbox):
    root = sandbox("demo", {"01-slow.ipynb": (PARAMS, ["import time\ntime.sleep(300)"])})
    (root / "profiles" / "quick.yaml").write_text("budget: {per_notebook_s: 4, hang_factor: 3}\n")
    t0 = time.perf_counter()
    report = run("quick", None, None, progress=False, dashboard=False)
    assert 12 <= time.perf_counter() - t0 < 60
    (r,) = report.results
    assert r.status == "timeout" and "still running after 12 s" in r.message
    assert "code cell 2 `import time`: still running" in r.message


def test_a_slow_notebook_that_finishes_is_reported_over_budget_not_failed(sandbox):
    """Machine noise must not fail a book: budgets are expectations, the hang guard is 5x."""
    root = sandbox("demo", {"01-slow.ipynb": (PARAMS, ["import time\ntime.sleep(3)"]),
                            "02-next.ipynb": (PARAMS, ["z = 1"])})
    (root / "profiles" / "quick.yaml").write_text(
        "budget: {per_notebook_s: 2, per_chapter_s: 2}\n")
    report = run("quick", None, None, progress=False, dashboard=False)
    assert report.ok and [r.status for r in report.results] == ["ok", "ok"]
    (t,) = report.times
    assert t.over_budget and "over budget" in report.time_table()


def test_an_unchanged_chapter_is_cached_and_an_edit_or_force_reruns_it(sandbox):
    root = sandbox("demo", {"01-ok.ipynb": (PARAMS, [WRITE])})
    first = run("tiny", None, None, progress=False, dashboard=False)
    assert [r.status for r in first.results] == ["ok"]
    out = root / "book" / "executed" / "demo" / "01-ok.ipynb"
    key = nbformat.read(out, as_version=4).metadata["reprobook"]["cache_key"]
    again = run("tiny", None, None, progress=False, dashboard=False)
    assert [r.status for r in again.results] == ["cached"]
    assert again.times[0].note.startswith(f"cached ({key[:12]}, ")
    assert "cached" in again.time_table()
    assert [r.status for r in run("tiny", None, {"seed": 3}, progress=False,
                                  dashboard=False).results] == ["ok"]  # other parameters
    assert [r.status for r in run("tiny", None, {"seed": 3}, progress=False, dashboard=False,
                                  force=True).results] == ["ok"]
    src = root / "src" / "reprobook" / "demo"
    src.mkdir(parents=True)
    (src / "model.py").write_text("X = 1\n")  # an edit in the chapter's code changes the key
    assert [r.status for r in run("tiny", None, {"seed": 3}, progress=False,
                                  dashboard=False).results] == ["ok"]
    out.unlink()  # a missing output is a miss
    assert [r.status for r in run("tiny", None, {"seed": 3}, progress=False,
                                  dashboard=False).results] == ["ok"]


def test_a_failed_run_leaves_no_cache_entry(sandbox):
    root = sandbox("demo", {"01-ok.ipynb": (PARAMS, [WRITE])})
    assert run("tiny", None, None, progress=False, dashboard=False).ok
    nb = root / "notebooks" / "demo" / "01-ok.ipynb"
    from tests.conftest import make_notebook

    make_notebook(nb, PARAMS, ["raise RuntimeError('x')"])
    assert not run("tiny", None, None, progress=False, dashboard=False).ok
    assert not (root / "runs" / "tiny" / "demo" / "cache.json").exists()


def test_verbose_streams_the_notebooks_progress(sandbox, capsys):
    body = ("from reprobook.core.progress import progress\n"
            "for i in progress(range(3), desc='demo loop'):\n    pass\nprint('cell output')")
    root = sandbox("demo", {"01-ok.ipynb": (PARAMS, [body])})
    lines: list[str] = []
    report = run("tiny", None, None, progress=False, dashboard=False, verbose=True,
                 echo=lines.append)
    assert report.ok
    assert any("demo/01-ok: demo loop: 3/3" in ln for ln in lines), lines
    out = nbformat.read(root / "book" / "executed" / "demo" / "01-ok.ipynb", as_version=4)
    text = str([c.get("outputs") for c in out.cells])
    assert "cell output" in text and "demo loop" not in text  # progress stays out of the book


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
    # naming it is an error, not a silent skip with exit status 0
    assert main(["run", "--profile", "tiny", "--chapter", "demo"]) == 2
    assert "does not support profile 'tiny'" in capsys.readouterr().err


def test_a_profile_that_needs_cuda_fails_fast_on_a_cpu_machine(sandbox, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    root = sandbox("demo", {"01-ok.ipynb": (PARAMS, [WRITE])})
    (root / "profiles" / "gpu.yaml").write_text("requires: [cuda]\n")
    t0 = time.perf_counter()
    assert main(["run", "--profile", "gpu", "--no-dashboard"]) == 2
    assert time.perf_counter() - t0 < 30
    err = capsys.readouterr().err
    assert "needs a CUDA GPU" in err and "Traceback" not in err
    assert not (root / "book" / "executed").exists()


@pytest.mark.parametrize("argv,match", [
    (["check-html", "/nonexistent/site"], "no built book here"),
    (["params", "--profile", "tiny", "--chapter", "nope"], "unknown chapter"),
    (["run", "--profile", "tiny", "-p", "novalue"], "expected key=value"),
])
def test_cli_errors_are_one_line_without_traceback(sandbox, argv, match, capsys):
    sandbox("demo", {"01-ok.ipynb": (PARAMS, [WRITE])})
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and "Traceback" not in err and len(err.splitlines()) == 1


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


def test_reference_copies_a_complete_run_for_committing(sandbox, capsys):
    root = sandbox("demo", {"01-ok.ipynb": (PARAMS, [WRITE])})
    assert main(["reference", "--profile", "tiny"]) == 2  # nothing ran yet
    assert "no runs of profile 'tiny'" in capsys.readouterr().err
    assert run("tiny", None, None, progress=False, dashboard=False).ok
    assert main(["reference", "--profile", "tiny"]) == 0
    ref = root / "results" / "reference" / "tiny" / "demo"
    assert (ref / "metrics.json").read_text() == '{"seed": 0}'
    assert (ref / "provenance.json").is_file() and not (ref / "cache.json").exists()


def _spans(root, slugs):
    import json as _json

    return {s: _json.loads((root / "runs" / "tiny" / s / "span.json").read_text()) for s in slugs}


SPAN = ("import json, os, pathlib, time\n"
        "d = pathlib.Path(os.environ['REPROBOOK_RUNS_DIR']) / profile / chapter\n"
        "d.mkdir(parents=True, exist_ok=True)\n"
        "t0 = time.time(); time.sleep(2.0)\n"
        "(d / 'span.json').write_text(json.dumps([t0, time.time(), "
        "os.environ.get('REPROBOOK_THREADS')]))\n")


@pytest.mark.parametrize("jobs,cores_b,overlap", [(2, 1, True), (1, 1, False), (2, 2, False)])
def test_chapters_run_side_by_side_while_their_cores_fit(sandbox, jobs, cores_b, overlap):
    for slug, cores in (("a", 1), ("b", cores_b)):
        root = sandbox(slug, {"01-x.ipynb": (PARAMS + f"chapter = '{slug}'\n", [SPAN])},
                       chapter_yaml=f"title: {slug}\ncores: {cores}\n")
    report = run("tiny", None, None, progress=False, dashboard=False, jobs=jobs)
    assert report.ok and [t.chapter for t in report.times] == ["a", "b"]
    s = _spans(root, ["a", "b"])
    both = s["a"][0] < s["b"][1] and s["b"][0] < s["a"][1]
    assert both is overlap
    assert (s["a"][2], s["b"][2]) == ("1", str(cores_b))  # the chapter's threads, whatever jobs is
