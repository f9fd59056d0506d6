"""The runner: executes chapters' notebooks with papermill under a profile (ARCHITECTURE §3).

For each selected chapter (in ``_toc.yml`` order), after validating every parameter of every
selected notebook (a typo fails before anything runs):

1. computes the chapter's content key (:mod:`.runcache`); if the last complete run had the same key
   and its outputs are intact, the chapter is reported "cached" and skipped (``force`` re-runs);
2. clears ``runs/<profile>/<slug>/`` and executes each notebook in a child process with the chapter
   environment's kernel and ``cwd`` = the repository root, into ``book/executed/<slug>/``;
3. writes provenance (profile, parameters, commit, source hash, hardware, packages, wall time, cache
   key) into each executed notebook's metadata and ``runs/<profile>/<slug>/provenance.json``;
4. checks the chapter's claims again from their stored criteria (:func:`.claims.verify`).

Time budgets guard against hangs, not against a busy machine. A notebook is stopped only at
``hang_factor`` times its expected time (``per_notebook_s``), or by papermill's
``cell_timeout_s`` where a profile sets one; a notebook or chapter that takes longer than expected
but finishes is reported as over budget in the time table, never failed, and an earlier notebook's
time never shortens a later one's. A failing notebook stops its chapter, keeps the failed output
notebook and is reported by cell; the run exits non-zero.

While a notebook runs, its progress (:mod:`.progress`) goes to a log file that ``verbose`` streams
to the terminal; otherwise a heartbeat line shows which cell is running. After the run the
dashboard page is regenerated from every chapter's claims.

Chapters run side by side while their declared ``cores`` (chapter.yaml) fit in the machine's usable
cores (``jobs``): most chapters keep one core busy, so two of them share a 2-core machine. A
notebook's torch thread count is its chapter's ``cores`` in every case (``REPROBOOK_THREADS``), so
running chapters together or alone gives the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import nbformat

from . import chapters as _chapters
from . import claims as _claims
from . import provenance, runcache
from .errors import ChapterError, ProfileError
from .paths import executed_root, repo_root, run_dir, runs_root
from .procs import kill_tree
from .profiles import Budget, Profile, load_profile, resolve
from .progress import PROGRESS_FILE_ENV, Progress
from .venvs import load_environments

# OpenMP threads spin while they wait for work; GNU OpenMP spins 300,000 times by default (more with
# OMP_WAIT_POLICY=active). On a busy 2-core machine a spinning thread holds the core its partner
# needs: a 2-thread chapter slowed 8x (lorafa/02 from 77 s to past its 600 s hang guard beside
# `make test`). Spinning 20,000 times, then sleeping, kept a quiet run's speed and cut the busy
# slowdown 2-3x in a micro-benchmark (2026-12-03). Numerics do not depend on it.
OPENMP_WAIT = {"GOMP_SPINCOUNT": "20000"}


HEARTBEAT_S = 60.0


@dataclass
class NotebookResult:
    chapter: str
    notebook: Path
    output: Path | None
    status: str  # "ok", "failed", "timeout", "skipped", "cached"
    wall_s: float = 0.0
    message: str = ""


@dataclass
class ChapterTime:
    """One row of the time report."""

    chapter: str
    status: str  # "ok", "failed", "cached"
    wall_s: float
    budget_s: float | None
    note: str = ""

    @property
    def over_budget(self) -> bool:
        return self.budget_s is not None and self.status == "ok" and self.wall_s > self.budget_s


@dataclass
class RunnerReport:
    profile: str
    results: list[NotebookResult] = field(default_factory=list)
    skipped_chapters: dict[str, str] = field(default_factory=dict)
    times: list[ChapterTime] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status in ("ok", "skipped", "cached") for r in self.results)

    def time_table(self) -> str:
        """The chapters' wall times against their budgets, as a plain-text table."""
        rows = [("chapter", "status", "wall s", "budget s", "note")]
        for t in self.times:
            note = t.note or ("over budget (reported, not failed)" if t.over_budget else "")
            rows.append((t.chapter, t.status, f"{t.wall_s:.0f}",
                         "-" if t.budget_s is None else f"{t.budget_s:.0f}", note))
        total = sum(t.wall_s for t in self.times if t.status != "cached")
        rows.append(("total executed", "", f"{total:.0f}", "", ""))
        width = [max(len(r[i]) for r in rows) for i in range(4)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:4], width)) + "  " + r[4]
                         for r in rows).rstrip()


def failed_cell(nb_path: Path) -> str:
    """Describe the cell that failed (or was running) in a papermill output notebook."""
    try:
        nb = nbformat.read(nb_path, as_version=4)
    except Exception as exc:  # noqa: BLE001
        return f"(output notebook unreadable: {exc})"
    i = 0  # numbered as in the source notebook: the injected-parameters cell does not count
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        injected = "injected-parameters" in cell.get("metadata", {}).get("tags", [])
        i += 0 if injected else 1
        pm = cell.get("metadata", {}).get("papermill", {})
        if pm.get("exception") or pm.get("status") in ("failed", "running"):
            first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
            err = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
            what = f"{err['ename']}: {err['evalue']}" if err else f"still {pm.get('status')}"
            label = "the injected parameters cell" if injected else f"code cell {i}"
            return f"{label} `{first[:80]}`: {what}"
    return "no failing cell recorded"


def running_cell(nb_path: Path) -> str:
    """'cell i/n' of the cell papermill is executing now (from the output saved per cell)."""
    try:
        nb = nbformat.read(nb_path, as_version=4)
    except Exception:  # noqa: BLE001 - not written yet, or being written
        return "starting"
    code = [c for c in nb.cells if c.cell_type == "code"
            and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for i, c in enumerate(code, 1):
        if c.get("metadata", {}).get("papermill", {}).get("status") == "running":
            return f"cell {i}/{len(code)}"
    return "starting"


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 2048))
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else ""
    except OSError:
        return ""


class _Watch(threading.Thread):
    """While a notebook runs: stream its progress file (verbose) or print a heartbeat."""

    def __init__(self, label: str, out: Path, progress_file: Path, verbose: bool,
                 echo: Callable[[str], None], every: float = HEARTBEAT_S) -> None:
        super().__init__(daemon=True)
        self.label, self.out, self.progress_file = label, out, progress_file
        self.verbose, self.echo, self.every = verbose, echo, every
        self.stop = threading.Event()
        self.t0 = time.perf_counter()

    def _drain(self, pos: int) -> int:
        try:
            with open(self.progress_file, encoding="utf-8", errors="replace") as f:
                f.seek(pos)
                chunk = f.read()
                pos = f.tell()
        except OSError:
            return pos
        for line in chunk.splitlines():
            self.echo(f"  {self.label}: {line}")
        return pos

    def run(self) -> None:
        pos, last_beat = 0, time.perf_counter()
        while not self.stop.wait(1.0 if self.verbose else 5.0):
            if self.verbose:
                pos = self._drain(pos)
            elif time.perf_counter() - last_beat >= self.every:
                last_beat = time.perf_counter()
                el = time.perf_counter() - self.t0
                tail = _last_line(self.progress_file)
                self.echo(f"  ... {self.label}: {el:.0f} s, {running_cell(self.out)}"
                          + (f" | {tail}" if tail else ""))
        if self.verbose:
            self._drain(pos)


def execute_notebook(src: Path, out: Path, params: dict[str, Any], kernel: str,
                     cell_timeout_s: float | None, limit_s: float | None, root: Path,
                     verbose: bool = False, label: str = "",
                     echo: Callable[[str], None] | None = None,
                     threads: int | None = None) -> tuple[str, float, str]:
    """Run one notebook in a child process; returns (status, wall seconds, message).

    ``limit_s`` is the hang guard: past it the whole process tree (kernel included) is stopped.
    """
    echo = echo or (lambda s: print(s, file=sys.stderr, flush=True))
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="reprobook-nb-"))
    spec, progress_file = work / "spec.json", work / "progress.log"
    progress_file.touch()
    spec.write_text(json.dumps({"input": str(src), "output": str(out), "parameters": params,
                                "kernel": kernel, "cwd": str(root),
                                "cell_timeout_s": cell_timeout_s, "log_output": verbose}))
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update({"REPROBOOK_UNDER_RUNNER": "1", "PYTHONHASHSEED": "0", "REPROBOOK_ROOT": str(root),
                "REPROBOOK_RUNS_DIR": str(runs_root()), PROGRESS_FILE_ENV: str(progress_file),
                "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"})
    for key, value in OPENMP_WAIT.items():  # unless the user chose a policy
        if "OMP_WAIT_POLICY" not in env:
            env.setdefault(key, value)
    if threads is not None:  # the chapter's fixed thread count (chapter.yaml `cores`)
        env.update({"REPROBOOK_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
                    "MKL_NUM_THREADS": str(threads)})
    watch = _Watch(label or src.stem, out, progress_file, verbose, echo)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "reprobook.core.execute", str(spec)], cwd=root,
                            env=env, stdout=None if verbose else subprocess.PIPE,
                            stderr=None if verbose else subprocess.PIPE, text=True,
                            start_new_session=True)
    watch.start()
    try:
        _, stderr = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        proc.communicate()
        wall = time.perf_counter() - t0
        return "timeout", wall, (f"still running after {limit_s:.0f} s (the hang guard: "
                                 f"{_hang_text(limit_s)}); stopped in {failed_cell(out)}")
    finally:
        watch.stop.set()
        watch.join()
        shutil.rmtree(work, ignore_errors=True)
    wall = time.perf_counter() - t0
    if proc.returncode == 0:
        return "ok", wall, ""
    if proc.returncode == 1 and out.is_file():
        return "failed", wall, f"failed in {failed_cell(out)}"
    tail = "\n".join((stderr or "").strip().splitlines()[-15:])
    return "failed", wall, f"papermill could not execute the notebook:\n{tail}"


def _hang_text(limit_s: float | None) -> str:
    return "hang_factor x per_notebook_s of the profile" if limit_s else "no limit"


def hang_limit(budget: Budget) -> float | None:
    """Seconds after which a notebook is stopped as hung: ``hang_factor * per_notebook_s``."""
    if budget.per_notebook_s is None:
        return None
    return budget.hang_factor * budget.per_notebook_s


def _write_provenance(out: Path, meta: dict[str, Any]) -> None:
    nb = nbformat.read(out, as_version=4)
    nb.metadata["reprobook"] = meta
    nbformat.write(nb, out)


def _require(profile: Profile) -> None:
    """Fail fast when the machine lacks what the profile needs (e.g. ``requires: [cuda]``)."""
    if "cuda" in profile.requires:
        import torch

        if not torch.cuda.is_available():
            raise ProfileError(
                f"profile {profile.name!r} needs a CUDA GPU and torch sees none (torch "
                f"{torch.__version__}, CUDA build {torch.version.cuda}); run it on a GPU "
                f"machine, or choose a CPU profile (ci-tiny, cpu-smoke, cpu-full)")


def select_runnable(profile: Profile, all_chapters: dict[str, _chapters.Chapter],
                    slugs: list[str] | None) -> tuple[list[_chapters.Chapter], dict[str, str]]:
    """The chapters to run: all that support the profile (others skipped, with the reason), or
    exactly the named ones — naming a chapter the profile does not support is an error."""
    selected = _chapters.select(all_chapters, slugs)
    unsupported = {ch.slug: (f"chapter {ch.slug!r} does not support profile {profile.name!r} "
                             f"(it supports {list(ch.profiles or [])})")
                   for ch in selected if not ch.supports(profile.name)}
    if slugs and unsupported:
        raise ChapterError("; ".join(unsupported.values()))
    return [ch for ch in selected if ch.supports(profile.name)], unsupported


def usable_cores() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class _Context:
    """What every chapter of one run shares (the lock guards the report and the progress)."""

    root: Path
    profile: Profile
    params: dict[Path, dict[str, Any]]
    envs: dict[str, Any]
    out_root: Path
    git: dict[str, Any]
    report: RunnerReport
    bar: Progress
    say: Callable[[str], None]
    verbose: bool
    use_cache: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    hardware: dict[str, Any] | None = None


def _run_chapter(ch: _chapters.Chapter, cx: _Context) -> None:
    """Execute one chapter's notebooks in order (or reuse its cached run); record the results."""
    profile, env = cx.profile, cx.envs[ch.environment]
    rdir = run_dir(profile.name, ch.slug)
    outs = [cx.out_root / ch.slug / nb.name for nb in ch.notebooks]
    bud = profile.budget_for(ch.slug)
    key = runcache.chapter_key(cx.root, ch, profile.name, cx.params, env)
    hit = runcache.lookup(rdir, outs, key, profile.name) if cx.use_cache else None
    if hit is not None:
        note = f"cached ({key[:12]}, {hit.get('finished_utc', '?')})"
        with cx.lock:
            for nb, out in zip(ch.notebooks, outs):
                cx.report.results.append(NotebookResult(ch.slug, nb, out, "cached"))
                cx.bar.update(note=f"{ch.slug} cached")
            cx.report.times.append(ChapterTime(ch.slug, "cached",
                                               float(hit.get("wall_time_s", 0.0)),
                                               bud.per_chapter_s, note))
        cx.say(f"{ch.slug}: {note}")
        return
    shutil.rmtree(rdir, ignore_errors=True)
    rdir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(cx.out_root / ch.slug, ignore_errors=True)
    t_chapter = time.perf_counter()
    chapter_prov: list[dict[str, Any]] = []
    results: list[NotebookResult] = []
    failed = False
    for nb, out in zip(ch.notebooks, outs):
        label = f"{ch.slug}/{nb.stem}"
        if failed:
            results.append(NotebookResult(ch.slug, nb, None, "skipped", 0.0,
                                          "an earlier notebook of the chapter failed"))
            with cx.lock:
                cx.bar.update(note=f"{label} skipped")
            continue
        cx.say(f"{label}: running")
        status, wall, msg = execute_notebook(
            nb, out, cx.params[nb], env.kernel, bud.cell_timeout_s, hang_limit(bud), cx.root,
            verbose=cx.verbose, label=label, echo=cx.say, threads=ch.cores)
        if bud.per_notebook_s is not None and wall > bud.per_notebook_s:
            cx.say(f"{label}: took {wall:.0f} s, over its expected {bud.per_notebook_s:.0f} s "
                   f"(reported, not failed)")
        with cx.lock:
            cx.bar.update(note=f"{label} {status} in {wall:.1f} s")
            if status == "ok" and cx.hardware is None:
                from .devices import describe_hardware

                cx.hardware = describe_hardware()
        if status == "ok":
            meta = {
                "profile": profile.name, "chapter": ch.slug, "notebook": nb.name,
                "parameters": cx.params[nb], "environment": ch.environment,
                "kernel": env.kernel, "threads": ch.cores, "git_commit": cx.git["commit"],
                "git_dirty": cx.git["dirty"], "source_sha256": provenance.sha256_file(nb),
                "cache_key": key, "hardware": cx.hardware, "host": provenance.host(),
                "packages": provenance.package_versions(provenance.kernel_python(env.kernel)),
                "wall_time_s": round(wall, 2),
                "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            _write_provenance(out, meta)
            chapter_prov.append(meta)
        else:
            failed = True
            cx.say(f"FAILED {label}: {msg}\n  output kept at {out}")
        results.append(NotebookResult(ch.slug, nb, out, status, wall, msg))
    if not failed:
        problems = _claims.verify(_claims.load(rdir / "claims.json"))
        if problems:
            failed = True
            msg = "claims do not verify: " + "; ".join(problems)
            cx.say(f"FAILED {ch.slug}: {msg}")
            results.append(NotebookResult(ch.slug, ch.notebooks[-1], None, "failed", 0.0, msg))
    wall_ch = time.perf_counter() - t_chapter
    (rdir / "provenance.json").write_text(
        json.dumps({"profile": profile.name, "chapter": ch.slug, "notebooks": chapter_prov,
                    "chapter_wall_time_s": round(wall_ch, 2), "threads": ch.cores,
                    "complete": not failed}, indent=2) + "\n", encoding="utf-8")
    with cx.lock:
        cx.report.results.extend(results)
        cx.report.times.append(ChapterTime(ch.slug, "failed" if failed else "ok", wall_ch,
                                           bud.per_chapter_s))
    if not failed:
        runcache.store(rdir, key, wall_ch)


def _schedule(chapters: list[_chapters.Chapter], cores: int,
              work: Callable[[_chapters.Chapter], None]) -> None:
    """Run ``work`` for every chapter, side by side while their ``cores`` fit in ``cores``
    (in order; a later chapter that fits may start while an earlier one waits for cores)."""
    pending = list(chapters)
    running: dict[str, tuple[threading.Thread, int]] = {}
    errors: list[BaseException] = []
    cond = threading.Condition()

    def body(ch: _chapters.Chapter) -> None:
        try:
            work(ch)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)
        finally:
            with cond:
                running.pop(ch.slug, None)
                cond.notify_all()

    with cond:
        while pending or running:
            if errors:
                pending.clear()
            free = cores - sum(c for _, c in running.values())
            start = next((ch for ch in pending if min(ch.cores, cores) <= free), None)
            if start is not None:
                pending.remove(start)
                th = threading.Thread(target=body, args=(start,), daemon=True,
                                      name=f"chapter-{start.slug}")
                running[start.slug] = (th, min(start.cores, cores))
                th.start()
                continue
            cond.wait()
    if errors:
        raise errors[0]


def run(profile_name: str, slugs: list[str] | None = None,
        overrides: dict[str, Any] | None = None, *, out_root: Path | None = None,
        progress: bool = True, verbose: bool = False, dashboard: bool = True,
        force: bool = False, use_cache: bool = True, jobs: int | None = None,
        echo: Callable[[str], None] | None = None) -> RunnerReport:
    """Execute the selected chapters under ``profile_name``; see the module docstring.

    ``jobs`` is the number of CPU cores the run may keep busy (default: the usable cores):
    chapters run side by side while the sum of their ``cores`` (chapter.yaml) fits; ``jobs=1``
    runs one chapter after another. Each notebook runs torch with its chapter's ``cores`` threads
    whatever ``jobs`` is, so results do not depend on it.
    """
    echo = echo or (lambda s: print(s, file=sys.stderr, flush=True))
    root = repo_root()
    profile = load_profile(profile_name, root)
    all_chapters = _chapters.discover(root)
    runnable, skipped = select_runnable(profile, all_chapters, slugs)
    report = RunnerReport(profile=profile.name, skipped_chapters=skipped)
    for msg in skipped.values():
        echo(f"skip: {msg}")
    params = resolve(profile, runnable, all_chapters, overrides, root)  # validate all first
    _require(profile)
    bar = Progress(sum(len(ch.notebooks) for ch in runnable), "notebooks", unit="nb",
                   lines=10**6, bar=progress and sys.stderr.isatty())
    cx = _Context(root=root, profile=profile, params=params, envs=load_environments(root),
                  out_root=out_root or executed_root(), git=provenance.git_state(root),
                  report=report, bar=bar, say=bar.write if progress else echo, verbose=verbose,
                  use_cache=use_cache and not force)
    try:
        _schedule(runnable, max(1, jobs or usable_cores()), lambda ch: _run_chapter(ch, cx))
    finally:
        bar.close()
    order = [ch.slug for ch in runnable]
    report.times.sort(key=lambda t: order.index(t.chapter))
    report.results.sort(key=lambda r: (order.index(r.chapter), r.notebook.name))
    if dashboard:
        from .dashboard import write_dashboard

        write_dashboard()
    return report
