"""core.gpusmoke: the registry of the chapters' GPU checks (ARCHITECTURE §7)."""

from __future__ import annotations

import sys
import types

import pytest

from reprobook.core import gpusmoke
from reprobook.core.gpusmoke import Skip


@pytest.fixture
def fake(monkeypatch):
    def ok(device: str, tiny: bool) -> dict:
        """Adds two numbers on the device."""
        return {"sum": 3.0, "device": device, "tiny": tiny}

    def needs_vllm(device: str, tiny: bool) -> dict:
        raise Skip("vllm is not installed")

    def broken(device: str, tiny: bool) -> dict:
        raise RuntimeError("CUDA error: out of memory")

    pkg = types.ModuleType("reprobook.fakechap")
    mod = types.ModuleType("reprobook.fakechap.gpu_smoke")
    mod.CHECKS = [ok, needs_vllm, broken]
    monkeypatch.setitem(sys.modules, "reprobook.fakechap", pkg)
    monkeypatch.setitem(sys.modules, "reprobook.fakechap.gpu_smoke", mod)
    return ("fakechap", "nochapter")  # a name without a module is simply not registered


def test_every_check_runs_and_a_failure_does_not_hide_the_others(fake):
    lines: list[str] = []
    results = gpusmoke.run_all(device="cpu", tiny=True, modules=fake, log=lines.append)
    assert [(r.check, r.status) for r in results] == [
        ("ok", "ok"), ("needs_vllm", "skipped"), ("broken", "failed")]
    assert results[0].detail == {"sum": 3.0, "device": "cpu", "tiny": True}
    assert results[1].reason == "vllm is not installed"
    assert results[2].reason.startswith("RuntimeError: CUDA error: out of memory (test_gpusmoke.py:")
    assert len(lines) == 6
    table = gpusmoke.frame(results)
    assert list(table["status"]) == ["ok", "skipped", "failed"] and "sum = 3" in table["measured"][0]
    assert list(gpusmoke.catalogue(fake)["what it does"]) == ["Adds two numbers on the device.", "", ""]


def test_reference_is_none_without_a_committed_run(sandbox):
    assert gpusmoke.reference() is None
