"""Claims: the paper's value beside this run's measurement, with a computed verdict (DESIGN.md §4).

A claim is recorded from a *measurement* and a *criterion*; the verdict is the criterion applied to
the measurement, never typed by hand. The criterion's own description is printed in the table, so
a reader sees the rule that produced the verdict::

    record("fedimpro-beats-fedavg", claim="FedImpro > FedAvg accuracy, a=0.05",
           source="Table 1, p. 7", paper_value="83.4 vs 78.1",
           measured=[d0, d1, d2], criterion=PairedBetter(min_wins=2))

Verdicts: ``reproduced``, ``partially``, ``not reproduced``, ``not testable at this profile``.
Claims of a chapter run are stored in ``runs/<profile>/<slug>/claims.json`` (merged by id).
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Sequence

NOT_TRANSCRIBED = "not transcribed"


class Verdict(str, Enum):
    REPRODUCED = "reproduced"
    PARTIALLY = "partially"
    NOT_REPRODUCED = "not reproduced"
    NOT_TESTABLE = "not testable at this profile"


def _fmt(x: Any) -> str:
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        return f"{x:.4g}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in x) + "]"
    return str(x)


def _number(measured: Any, what: str) -> float:
    if isinstance(measured, bool) or not isinstance(measured, (int, float)):
        raise TypeError(f"{what} needs a number, got {type(measured).__name__} {measured!r}")
    return float(measured)


class Criterion(ABC):
    """A stated rule that turns a measurement into a verdict."""

    @abstractmethod
    def describe(self) -> str: ...

    @abstractmethod
    def judge(self, measured: Any) -> Verdict: ...

    def format(self, measured: Any) -> str:
        return _fmt(measured)


@dataclass(frozen=True)
class _Bound(Criterion):
    """A one-sided threshold; subclasses set the comparison."""

    threshold: float
    partial: float | None = None
    unit: str = ""  # what is counted or measured, e.g. "of 2 traces"
    _op = ">="

    @staticmethod
    def _holds(measured: float, bound: float) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        u = f" {self.unit}" if self.unit else ""
        s = f"reproduced if {self._op} {_fmt(self.threshold)}{u}"
        return s + (f"; partially if {self._op} {_fmt(self.partial)}{u}"
                    if self.partial is not None else "")

    def judge(self, measured: Any) -> Verdict:
        m = _number(measured, type(self).__name__)
        if self._holds(m, self.threshold):
            return Verdict.REPRODUCED
        if self.partial is not None and self._holds(m, self.partial):
            return Verdict.PARTIALLY
        return Verdict.NOT_REPRODUCED


@dataclass(frozen=True)
class AtLeast(_Bound):
    """Reproduced if ``measured >= threshold``; partially if ``>= partial`` (when given)."""

    _op = ">="

    @staticmethod
    def _holds(measured: float, bound: float) -> bool:
        return measured >= bound


@dataclass(frozen=True)
class AtMost(_Bound):
    """Reproduced if ``measured <= threshold``; partially if ``<= partial`` (when given)."""

    _op = "<="

    @staticmethod
    def _holds(measured: float, bound: float) -> bool:
        return measured <= bound


@dataclass(frozen=True)
class Within(Criterion):
    """Reproduced if ``|measured - target| <= rel_tol * |target|``; partially within ``partial_rel_tol``."""

    target: float
    rel_tol: float
    partial_rel_tol: float | None = None

    def describe(self) -> str:
        s = f"reproduced if within {self.rel_tol:.0%} of {_fmt(self.target)}"
        if self.partial_rel_tol is not None:
            s += f"; partially if within {self.partial_rel_tol:.0%}"
        return s

    def judge(self, measured: Any) -> Verdict:
        err = abs(_number(measured, "Within") - self.target)
        scale = abs(self.target)
        if err <= self.rel_tol * scale:
            return Verdict.REPRODUCED
        if self.partial_rel_tol is not None and err <= self.partial_rel_tol * scale:
            return Verdict.PARTIALLY
        return Verdict.NOT_REPRODUCED


@dataclass(frozen=True)
class Equals(Criterion):
    """Reproduced if the measurement equals ``expected`` exactly (booleans, strings, counts)."""

    expected: Any

    def describe(self) -> str:
        return f"reproduced if == {_fmt(self.expected)}"

    def judge(self, measured: Any) -> Verdict:
        return Verdict.REPRODUCED if measured == self.expected else Verdict.NOT_REPRODUCED


@dataclass(frozen=True)
class PairedBetter(Criterion):
    """Paired comparison over seeds: ``measured`` is the list of per-seed differences
    (method - baseline, or baseline - method when lower is better).

    Reproduced if at least ``min_wins`` differences exceed ``margin`` and their mean does too;
    partially if at least one does; not reproduced otherwise. Needs >= 2 seeds.
    """

    min_wins: int
    margin: float = 0.0

    def describe(self) -> str:
        return (f"paired over seeds: reproduced if difference > {_fmt(self.margin)} on >= "
                f"{self.min_wins} seeds and on average; partially if on >= 1 seed")

    def judge(self, measured: Any) -> Verdict:
        diffs = [_number(d, "PairedBetter") for d in measured]
        if len(diffs) < 2:
            raise ValueError(f"PairedBetter needs >= 2 paired seeds, got {len(diffs)}")
        if self.min_wins > len(diffs):
            raise ValueError(f"min_wins={self.min_wins} exceeds the {len(diffs)} seeds measured")
        wins = sum(d > self.margin for d in diffs)
        mean = sum(diffs) / len(diffs)
        if wins >= self.min_wins and mean > self.margin:
            return Verdict.REPRODUCED
        if wins >= 1:
            return Verdict.PARTIALLY
        return Verdict.NOT_REPRODUCED

    def format(self, measured: Any) -> str:
        diffs = [float(d) for d in measured]
        mean = sum(diffs) / len(diffs)
        wins = sum(d > self.margin for d in diffs)
        return f"mean diff {mean:+.4g} (> {_fmt(self.margin)} on {wins}/{len(diffs)} seeds)"


@dataclass(frozen=True)
class NotTestable(Criterion):
    """The claim cannot be tested at this profile; ``reason`` says why (and which profile can)."""

    reason: str

    def describe(self) -> str:
        return self.reason

    def judge(self, measured: Any) -> Verdict:
        return Verdict.NOT_TESTABLE


@dataclass(frozen=True)
class Claim:
    """One row of a claims table (JSON-serialisable)."""

    id: str
    claim: str
    source: str
    paper_value: str
    measured: Any
    measured_text: str
    criterion: str
    verdict: str
    chapter: str
    profile: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(*, id: str, claim: str, source: str, paper_value: Any, measured: Any,
             criterion: Criterion, chapter: str, profile: str,
             measured_text: str | None = None) -> Claim:
    """Apply ``criterion`` to ``measured`` and build the claim row."""
    if not id or not claim or not source:
        raise ValueError("a claim needs an id, its statement and its source in the paper")
    verdict = criterion.judge(measured)
    text = measured_text if measured_text is not None else criterion.format(measured)
    if not isinstance(paper_value, str):
        paper_value = _fmt(paper_value)
    return Claim(id=id, claim=claim, source=source, paper_value=paper_value or NOT_TRANSCRIBED,
                 measured=measured, measured_text=text, criterion=criterion.describe(),
                 verdict=verdict.value, chapter=chapter, profile=profile)


def load(path: Path) -> list[Claim]:
    """Claims from a ``claims.json`` file (empty list if it does not exist)."""
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Claim(**c) for c in data.get("claims", [])]


def save(path: Path, new: Sequence[Claim]) -> None:
    """Merge ``new`` into ``path`` by claim id (a re-recorded id replaces the old row)."""
    rows = {c.id: c for c in load(path)}
    for c in new:
        rows[c.id] = c
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"claims": [c.to_dict() for c in rows.values()]}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, default=float) + "\n",
                    encoding="utf-8")


def to_frame(claims: Sequence[Claim]) -> Any:
    """The claims as the book's table: claim, paper's value, this run, criterion, verdict."""
    import pandas as pd

    return pd.DataFrame([{
        "claim (paper, section/figure)": f"{c.claim} ({c.source})",
        "paper's value": c.paper_value,
        "this run": f"{c.measured_text} [{c.profile}]",
        "criterion": c.criterion,
        "verdict": c.verdict,
    } for c in claims])
