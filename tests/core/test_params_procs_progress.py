"""core.params (notebook parameters -> config), core.procs (process trees), core.progress."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

import psutil
import pytest

from reprobook.core.errors import ParameterError
from reprobook.core.params import config_from
from reprobook.core.procs import kill_tree
from reprobook.core.progress import PROGRESS_FILE_ENV, Progress, progress


@dataclass(frozen=True)
class Cfg:
    rounds: int
    lr: float = 0.1
    sizes: tuple[int, ...] = (1, 2)


def test_config_from_takes_fields_by_name_and_ignores_the_rest():
    cfg = config_from(Cfg, {"rounds": 3, "sizes": [4, 5], "seed": 9, "profile": "x"}, lr=0.5)
    assert cfg == Cfg(rounds=3, lr=0.5, sizes=(4, 5))  # list -> tuple where the default is one
    assert config_from(Cfg, {"rounds": 1}) == Cfg(rounds=1)


def test_config_from_names_a_missing_field_and_an_unknown_override():
    with pytest.raises(ParameterError, match="field 'rounds' is required"):
        config_from(Cfg, {"lr": 1.0})
    with pytest.raises(ParameterError, match=r"unknown field\(s\) \['rouds'\]"):
        config_from(Cfg, {"rounds": 1}, rouds=2)


def test_kill_tree_stops_children_and_grandchildren():
    code = ("import subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 20
    while time.time() < deadline and not psutil.Process(proc.pid).children():
        time.sleep(0.05)
    (child,) = psutil.Process(proc.pid).children()
    kill_tree(proc.pid, timeout=2)
    proc.wait(5)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_progress_writes_a_few_lines_to_the_runner_file(tmp_path, monkeypatch):
    log = tmp_path / "progress.log"
    monkeypatch.setenv(PROGRESS_FILE_ENV, str(log))
    assert list(progress(range(100), desc="loop", lines=4)) == list(range(100))
    lines = log.read_text().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("loop: 100/100")
    assert "ETA" in lines[0] and "ETA" not in lines[-1]
    with Progress(None, "open-ended") as p:
        p.update(3)
    assert log.read_text().splitlines()[-1].startswith("open-ended: 3 done in")
