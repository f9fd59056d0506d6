"""The GPU smoke run: every GPU path of the book in one short run (ARCHITECTURE §7).

GPU machines are lent rarely and for minutes, so one run must exercise them all. A chapter (or
``reprobook.kernels``) with a GPU path has a module ``gpu_smoke`` with ``CHECKS``: functions
``check(device: str, tiny: bool) -> dict`` that do the real GPU work at a small size and return
what they measured (plain numbers and strings). A check whose dependency is missing raises
:class:`Skip` with the reason; any other exception is recorded as a failure with its message, and the
next check still runs. ``tiny=True`` shrinks the work further (the unit tests call every check on
the CPU that way, so the code cannot rot between GPU loans).

:func:`run_all` imports the modules by name (core imports no chapter statically), runs each check
with CUDA timing, and returns one :class:`SmokeResult` per check.
"""

from __future__ import annotations

import importlib
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

#: Where GPU checks live: ``reprobook.<name>.gpu_smoke`` (chapters) and the kernels package.
MODULES = ("kernels", "fedimpro", "lorafa", "reft", "burstgpt", "llmbench", "fusionai", "parzc",
           "ensemblefollower", "cfnerf")


class Skip(Exception):
    """A check cannot run here; the message says why (e.g. "vllm is not installed")."""


@dataclass
class SmokeResult:
    module: str
    check: str
    status: str  # "ok", "skipped", "failed"
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def checks(modules: tuple[str, ...] = MODULES) -> list[tuple[str, Callable[..., dict]]]:
    """``(module, check)`` for every check of every module that has a ``gpu_smoke``."""
    out = []
    for name in modules:
        try:
            mod = importlib.import_module(f"reprobook.{name}.gpu_smoke")
        except ModuleNotFoundError as exc:
            if exc.name in (f"reprobook.{name}", f"reprobook.{name}.gpu_smoke"):
                continue  # the chapter has no GPU path (or is not in this environment)
            raise
        out += [(name, fn) for fn in getattr(mod, "CHECKS", [])]
    return out


def run_all(device: str = "cuda", tiny: bool = False, modules: tuple[str, ...] = MODULES,
            log: Callable[[str], None] | None = None) -> list[SmokeResult]:
    """Run every check on ``device``; never raises for a failing check (it is recorded)."""
    import torch

    results = []
    for name, fn in checks(modules):
        label = f"{name}.{fn.__name__}"
        if log:
            log(f"gpu smoke: {label} ...")
        t0 = time.perf_counter()
        try:
            detail = fn(device, tiny)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            status, reason = "ok", ""
        except Skip as exc:
            detail, status, reason = {}, "skipped", str(exc)
        except Exception as exc:  # noqa: BLE001 - one failing path must not hide the others
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            detail, status = {}, "failed"
            reason = f"{type(exc).__name__}: {exc} ({tb.filename.rsplit('/', 1)[-1]}:{tb.lineno})"
        results.append(SmokeResult(name, fn.__name__, status, round(time.perf_counter() - t0, 3),
                                   detail, reason))
        if log:
            log(f"gpu smoke: {label} {status} in {results[-1].seconds:.1f} s {reason}")
    return results


def catalogue(modules: tuple[str, ...] = MODULES) -> Any:
    """Every check the GPU smoke run would execute, with the first line of its docstring."""
    import pandas as pd

    return pd.DataFrame([{"chapter": name, "check": fn.__name__,
                          "what it does": (fn.__doc__ or "").strip().splitlines()[0]
                          if fn.__doc__ else ""} for name, fn in checks(modules)])


def reference(root: Any = None) -> Any:
    """The last committed GPU smoke run (``results/reference/gpu-smoke/selfcheck``), or None."""
    import json

    import pandas as pd

    from .paths import reference_root

    base = reference_root() / "gpu-smoke" / "selfcheck"
    table = base / "tables" / "gpu-smoke.csv"
    if not table.is_file():
        return None
    prov = base / "provenance.json"
    meta = json.loads(prov.read_text(encoding="utf-8")) if prov.is_file() else {}
    df = pd.read_csv(table).fillna("")
    nbs = meta.get("notebooks") or [{}]
    df.attrs["provenance"] = {k: nbs[-1].get(k) for k in ("git_commit", "finished_utc", "hardware")}
    return df


def frame(results: list[SmokeResult]) -> Any:
    """The results as a table (one row per check)."""
    import pandas as pd

    return pd.DataFrame([{"chapter": r.module, "check": r.check, "status": r.status,
                          "seconds": r.seconds, "measured": ", ".join(
                              f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                              for k, v in r.detail.items()),
                          "reason": r.reason} for r in results])
