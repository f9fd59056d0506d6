"""The run context of one notebook: seeds, device, and where results go (ARCHITECTURE §6, §8).

Every notebook starts with::

    run = session.start("fedimpro", profile=profile, seed=seed, device=device)

which seeds everything, picks the device, and creates ``runs/<profile>/<slug>/``. Then
``run.metrics(...)`` merges numbers into ``metrics.json``, ``run.figure(fig, name)`` saves a figure,
``run.table(df, name)`` saves a CSV, ``run.claim(...)`` records a claim with its computed verdict
(and its null, :mod:`.claims`), ``run.sanity(...)`` records a sanity check.
``metrics.json`` and ``claims.json`` hold only results (no times, no dates), so the same profile +
seed + machine gives the same bytes; timings belong in ``timings.json`` via ``run.timing``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import claims as _claims
from .claims import _jsonable
from . import figures as _figures
from .devices import DeviceChoice, pick
from .paths import run_dir
from .seeds import seed_everything

_CURRENT: Run | None = None


def _merge_json(path: Path, updates: dict[str, Any]) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data.update(_jsonable(updates))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return data


@dataclass
class Run:
    """Results of one chapter under one profile: ``runs/<profile>/<chapter>/``."""

    chapter: str
    profile: str
    seed: int
    device: DeviceChoice
    dir: Path

    @property
    def rel_dir(self) -> str:
        """The run folder relative to the repository root (for printing in the book)."""
        from .paths import repo_root

        try:
            return str(self.dir.relative_to(repo_root()))
        except ValueError:
            return str(self.dir)

    def metrics(self, **values: Any) -> dict[str, Any]:
        """Merge ``values`` into ``metrics.json`` (results only; deterministic)."""
        return _merge_json(self.dir / "metrics.json", values)

    def timing(self, **seconds: float) -> dict[str, Any]:
        """Merge wall-clock measurements into ``timings.json`` (not compared across runs)."""
        return _merge_json(self.dir / "timings.json", seconds)

    def figure(self, fig: Any, name: str) -> Path:
        """Save ``fig`` as PNG + PDF under ``figures/``; the figure stays displayed."""
        return _figures.save(fig, name, self.dir / "figures")

    def table(self, df: Any, name: str, index: bool = False) -> Any:
        """Save a DataFrame as ``tables/<name>.csv`` and return it for display."""
        path = self.dir / "tables" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=index, float_format="%.6g")
        return df

    def claim(self, *, id: str, claim: str, source: str, paper_value: Any, measured: Any,
              criterion: _claims.Criterion, null: _claims.Null,
              measured_text: str | None = None) -> _claims.Claim:
        """Evaluate one claim and its null (:func:`.claims.evaluate`), record it into
        ``claims.json``; returns it. A criterion that passes its own null raises ClaimError."""
        c = _claims.evaluate(id=id, claim=claim, source=source, paper_value=paper_value,
                             measured=measured, criterion=criterion, null=null,
                             chapter=self.chapter, profile=self.profile,
                             measured_text=measured_text)
        _claims.save(self.dir / "claims.json", [c])
        return c

    def sanity(self, *, id: str, check: str, measured: Any, criterion: _claims.Criterion,
               source: str = "", measured_text: str | None = None) -> _claims.Claim:
        """Record a sanity check (an identity, a formula against itself): shown apart from the
        claims and never counted as reproduced (:func:`.claims.check`)."""
        c = _claims.check(id=id, check=check, measured=measured, criterion=criterion,
                          chapter=self.chapter, profile=self.profile, source=source,
                          measured_text=measured_text)
        _claims.save(self.dir / "claims.json", [c])
        return c

    def claims(self) -> list[_claims.Claim]:
        """Every claim and sanity check recorded so far in this chapter's run."""
        return _claims.load(self.dir / "claims.json")

    def claims_table(self) -> Any:
        """This chapter's claims so far, as the book's claims table (full text, no index)."""
        return _styled(_claims.to_frame(self.claims()))

    def sanity_table(self) -> Any:
        """This chapter's sanity checks so far, apart from its claims."""
        return _styled(_claims.sanity_frame(self.claims()))


def _styled(df: Any) -> Any:
    return df.style.hide(axis="index").set_properties(**{"text-align": "left"})


def start(chapter: str, profile: str = "cpu-smoke", seed: int = 0, device: str = "auto",
          precision: str = "auto", threads: int | None = None, style: bool = True) -> Run:
    """Seed, pick the device, create the run folder, set the figure style; returns the run."""
    global _CURRENT
    seed_everything(seed, threads=threads)
    choice = pick(device, precision)
    d = run_dir(profile, chapter)
    d.mkdir(parents=True, exist_ok=True)
    if style:
        _figures.style()
        import pandas as pd

        pd.set_option("display.max_colwidth", None)  # the book shows whole cells, not "..."
    _CURRENT = Run(chapter=chapter, profile=profile, seed=seed, device=choice, dir=d)
    return _CURRENT


def current() -> Run:
    """The run started by :func:`start` in this process."""
    if _CURRENT is None:
        raise RuntimeError("no run started: call reprobook.core.session.start(...) first")
    return _CURRENT
