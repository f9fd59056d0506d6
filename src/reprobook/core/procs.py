"""Child processes: stopping a whole process tree (the runner's notebooks, a model server)."""

from __future__ import annotations

import psutil


def kill_tree(pid: int, timeout: float = 5.0) -> None:
    """Terminate ``pid`` and every descendant; kill what is still alive after ``timeout`` s.

    Descendants are collected before anything is signalled, so children re-parented to init when
    their parent dies are stopped too.
    """
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    try:
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        procs = [parent]
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=timeout)
