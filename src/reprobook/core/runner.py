"""The runner: executes chapters' notebooks with papermill under a profile (DESIGN.md §3).

For each selected chapter (in ``_toc.yml`` order) it clears ``runs/<profile>/<slug>/``, then for
each notebook: merges and validates the parameters (all notebooks first, so a typo fails before
anything runs), executes it in a child process with the chapter environment's kernel and
``cwd`` = the repository root, within the profile's time budget, into
``book/executed/<slug>/``, and writes provenance into the executed notebook's metadata
(``metadata.reprobook``) and ``runs/<profile>/<slug>/provenance.json``. A failing notebook stops
its chapter, keeps the failed output notebook, and is reported by cell. After the run the
dashboard page is regenerated from every chapter's claims.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import nbformat

from . import chapters as _chapters
from . import provenance
from .environments import load_environments
from .paths import executed_root, repo_root, run_dir, runs_root
from .profiles import load_profile, resolve


@dataclass
class NotebookResult:
    chapter: str
    notebook: Path
    output: Path | None
    status: str  # "ok", "failed", "timeout", "skipped"
    wall_s: float = 0.0
    message: str = ""


@dataclass
class RunReport:
    profile: str
    results: list[NotebookResult] = field(default_factory=list)
    skipped_chapters: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.status in ("ok", "skipped") for r in self.results)


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


def _kill_tree(pid: int) -> None:
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = parent.children(recursive=True) + [parent]
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def execute_notebook(src: Path, out: Path, params: dict[str, Any], kernel: str,
                     cell_timeout_s: float | None, budget_s: float | None, root: Path,
                     log_output: bool = False) -> tuple[str, float, str]:
    """Run one notebook in a child process; returns (status, wall seconds, message)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"input": str(src), "output": str(out), "parameters": params, "kernel": kernel,
                   "cwd": str(root), "cell_timeout_s": cell_timeout_s,
                   "log_output": log_output}, f)
        spec = f.name
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update({"REPROBOOK_UNDER_RUNNER": "1", "PYTHONHASHSEED": "0", "REPROBOOK_ROOT": str(root),
                "REPROBOOK_RUNS_DIR": str(runs_root())})
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "reprobook.core.execute", spec], cwd=root,
                            env=env, stdout=None if log_output else subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=budget_s)
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        proc.communicate()
        wall = time.perf_counter() - t0
        return "timeout", wall, (f"ran past its time budget of {budget_s:.0f} s; "
                                 f"stopped in {failed_cell(out)}")
    finally:
        Path(spec).unlink(missing_ok=True)
    wall = time.perf_counter() - t0
    if proc.returncode == 0:
        return "ok", wall, ""
    if proc.returncode == 1 and out.is_file():
        return "failed", wall, f"failed in {failed_cell(out)}"
    tail = "\n".join((stderr or "").strip().splitlines()[-15:])
    return "failed", wall, f"papermill could not execute the notebook:\n{tail}"


def _write_provenance(out: Path, meta: dict[str, Any]) -> None:
    nb = nbformat.read(out, as_version=4)
    nb.metadata["reprobook"] = meta
    nbformat.write(nb, out)


class _Progress:
    """One bar across all notebooks (tqdm on a terminal, log lines with an ETA otherwise)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.t0, self.bar = total, 0, time.perf_counter(), None
        self.enabled = enabled
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="nb", desc="notebooks", file=sys.stderr)

    def start(self, label: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(label)
        elif self.enabled:
            print(f"[{self.done + 1}/{self.total}] {label} ...", file=sys.stderr, flush=True)

    def finish(self, label: str, status: str, wall: float) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.write(f"{label}: {status} ({wall:.1f} s)")
        elif self.enabled:
            el = time.perf_counter() - self.t0
            eta = el / self.done * (self.total - self.done)
            print(f"[{self.done}/{self.total}] {label}: {status} in {wall:.1f} s "
                  f"(elapsed {el:.0f} s, ETA {eta:.0f} s)", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(profile_name: str, slugs: list[str] | None = None,
        overrides: dict[str, Any] | None = None, *, out_root: Path | None = None,
        progress: bool = True, log_output: bool = False, dashboard: bool = True,
        echo: Callable[[str], None] | None = None) -> RunReport:
    """Execute the selected chapters under ``profile_name``; see the module docstring."""
    echo = echo or (lambda s: print(s, file=sys.stderr, flush=True))
    root = repo_root()
    profile = load_profile(profile_name, root)
    all_chapters = _chapters.discover(root)
    selected = _chapters.select(all_chapters, slugs)
    report = RunReport(profile=profile.name)
    runnable = []
    for ch in selected:
        if ch.supports(profile.name):
            runnable.append(ch)
        else:
            report.skipped_chapters[ch.slug] = (f"chapter {ch.slug!r} does not support profile "
                                                f"{profile.name!r} (supports {list(ch.profiles or [])})")
            echo(f"skip: {report.skipped_chapters[ch.slug]}")
    params = resolve(profile, runnable, all_chapters, overrides, root)  # validate all first
    envs = load_environments(root)
    out_root = out_root or executed_root()
    git = provenance.git_state(root)
    hardware = None
    bar = _Progress(sum(len(ch.notebooks) for ch in runnable), progress)
    try:
        for ch in runnable:
            kernel = envs[ch.environment].kernel
            rdir = run_dir(profile.name, ch.slug)
            shutil.rmtree(rdir, ignore_errors=True)
            rdir.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(out_root / ch.slug, ignore_errors=True)
            t_chapter = time.perf_counter()
            bud = profile.budget_for(ch.slug)
            chapter_prov: list[dict[str, Any]] = []
            failed = False
            for nb in ch.notebooks:
                label = f"{ch.slug}/{nb.stem}"
                if failed:
                    report.results.append(NotebookResult(ch.slug, nb, None, "skipped", 0.0,
                                                         "an earlier notebook of the chapter failed"))
                    bar.finish(label, "skipped", 0.0)
                    continue
                limits = [b for b in (bud.per_notebook_s,
                                      None if bud.per_chapter_s is None else
                                      bud.per_chapter_s - (time.perf_counter() - t_chapter))
                          if b is not None]
                budget = min(limits) if limits else None
                out = out_root / ch.slug / nb.name
                bar.start(label)
                if budget is not None and budget <= 0:
                    status, wall, msg = "timeout", 0.0, (
                        f"chapter budget of {bud.per_chapter_s:.0f} s spent before it started")
                else:
                    status, wall, msg = execute_notebook(
                        nb, out, params[nb], kernel, bud.cell_timeout_s, budget, root,
                        log_output)
                bar.finish(label, status, wall)
                if status == "ok":
                    if hardware is None:
                        from .devices import describe_hardware

                        hardware = describe_hardware()
                    meta = {
                        "profile": profile.name, "chapter": ch.slug, "notebook": nb.name,
                        "parameters": params[nb], "environment": ch.environment, "kernel": kernel,
                        "git_commit": git["commit"], "git_dirty": git["dirty"],
                        "source_sha256": provenance.sha256_file(nb),
                        "hardware": hardware, "host": provenance.host(),
                        "packages": provenance.package_versions(provenance.kernel_python(kernel)),
                        "wall_time_s": round(wall, 2),
                        "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    }
                    _write_provenance(out, meta)
                    chapter_prov.append(meta)
                else:
                    failed = True
                    echo(f"FAILED {label}: {msg}\n  output kept at {out}")
                report.results.append(NotebookResult(ch.slug, nb, out, status, wall, msg))
            (rdir / "provenance.json").write_text(
                json.dumps({"profile": profile.name, "chapter": ch.slug, "notebooks": chapter_prov,
                            "chapter_wall_time_s": round(time.perf_counter() - t_chapter, 2),
                            "complete": not failed}, indent=2) + "\n", encoding="utf-8")
    finally:
        bar.close()
    if dashboard:
        from .dashboard import write_dashboard

        write_dashboard()
    return report
