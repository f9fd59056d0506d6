"""Every GPU smoke check runs on the CPU at tiny size (or skips with a reason)."""

from __future__ import annotations

import pytest

from reprobook.core.gpusmoke import Skip
from reprobook.llmbench.gpu_smoke import CHECKS


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
def test_check_runs_on_cpu_tiny(check):
    try:
        out = check("cpu", True)
    except Skip as exc:
        assert str(exc)
        return
    assert isinstance(out, dict) and out
    assert all(isinstance(v, (int, float, str)) for v in out.values())
