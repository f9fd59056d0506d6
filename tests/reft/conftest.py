"""Every REFT test leaves no process and no shared-memory file behind, also when it fails."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest


def _shm() -> set[str]:
    return {p.name for p in Path("/dev/shm").glob("reft-*")}


@pytest.fixture(autouse=True)
def no_leftovers():
    before_shm = _shm()
    me = psutil.Process()
    before = {c.pid for c in me.children(recursive=True)}
    yield
    from reprobook.reft import cluster

    for c in list(cluster._LIVE):  # a test that failed inside a Cluster
        c.close()
    left = [c for c in me.children(recursive=True) if c.pid not in before and c.is_running()
            and c.status() != psutil.STATUS_ZOMBIE]
    new_shm = _shm() - before_shm
    for c in left:
        c.kill()
    assert not left, f"processes left running: {[c.cmdline() for c in left]}"
    assert not new_shm, f"shared memory left behind: {sorted(new_shm)}"
