"""Claims: the paper's value beside this run's measurement, with a computed verdict (ARCHITECTURE §4).

A **claim** is recorded from a *measurement*, a *criterion* and a *null*. The verdict is the
criterion applied to the measurement, never typed by hand. The null is what a method *without* the
paper's effect would measure (a zero paired difference, the baseline's own value, recovery from
disk instead of memory, a ratio of 1); recording a claim judges the null as well, and a criterion
that would call its null "reproduced" or "partially" is rejected with :class:`ClaimError` — a claim
that cannot fail is no claim::

    record(id="fedimpro-beats-fedavg", claim="FedImpro > FedAvg accuracy, a = 0.05",
           source="Table 1", paper_value="83.4 vs 78.1", measured=[d0, d1, d2],
           criterion=PairedTest(), null=Null([0.0, 0.0, 0.0], "no paired difference"))

A **sanity check** is an identity that holds by construction, a formula checked against itself or
an analytic evaluation. It is recorded with :func:`check` (``run.sanity(...)`` in a notebook), shown
in its own table, and never counted as a reproduced claim.

Verdicts of claims: ``reproduced``, ``partially``, ``not reproduced``, ``not testable at this
profile``; of sanity checks: ``holds``, ``fails``. Every criterion serialises itself
(:meth:`Criterion.spec`) so that a stored ``claims.json`` can be judged again (:func:`verify`).
Statistics come from scipy: a one-sided paired t-test over seeds (:class:`PairedTest`), tolerances
from a measured standard error (:class:`CloseTo`), goodness-of-fit p-values (:class:`FitNotRejected`)
and likelihood-ratio tests (:class:`LikelihoodRatio`).
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, Sequence

from .errors import ReprobookError

NOT_TRANSCRIBED = "not transcribed"
CLAIM, SANITY = "claim", "sanity"
HOLDS, FAILS = "holds", "fails"


class ClaimError(ReprobookError):
    """A claim is malformed, or its criterion does not reject its own null."""


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
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in x.items()) + "}"
    return str(x)


def _number(measured: Any, what: str) -> float:
    if isinstance(measured, bool) or not isinstance(measured, (int, float)):
        raise TypeError(f"{what} needs a number, got {type(measured).__name__} {measured!r}")
    return float(measured)


def _numbers(measured: Any, what: str) -> list[float]:
    if not isinstance(measured, (list, tuple)):
        raise TypeError(f"{what} needs a list of numbers (one per seed), got {measured!r}")
    return [_number(m, what) for m in measured]


_REGISTRY: dict[str, type["Criterion"]] = {}


class Criterion(ABC):
    """A stated rule that turns a measurement into a verdict. Subclasses are frozen dataclasses."""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if not cls.__name__.startswith("_"):
            _REGISTRY[cls.__name__] = cls

    @abstractmethod
    def describe(self) -> str: ...

    @abstractmethod
    def judge(self, measured: Any) -> Verdict: ...

    def format(self, measured: Any) -> str:
        return _fmt(measured)

    def spec(self) -> dict[str, Any]:
        """The criterion as JSON: its class name and fields (see :func:`criterion_from_spec`)."""
        return {"type": type(self).__name__,
                **{f.name: getattr(self, f.name) for f in fields(self)}}  # type: ignore[arg-type]


def criterion_from_spec(spec: dict[str, Any]) -> Criterion:
    """Rebuild a criterion from :meth:`Criterion.spec`."""
    spec = dict(spec)
    name = spec.pop("type", None)
    if name not in _REGISTRY:
        raise ClaimError(f"unknown criterion type {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name](**spec)


@dataclass(frozen=True)
class _Bound(Criterion):
    """A one-sided threshold; subclasses set the comparison."""

    threshold: float
    partial: float | None = None
    unit: str = ""  # what is counted or measured, e.g. "of 2 traces"
    _op: ClassVar[str] = ">="

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

    _op: ClassVar[str] = ">="

    @staticmethod
    def _holds(measured: float, bound: float) -> bool:
        return measured >= bound


@dataclass(frozen=True)
class AtMost(_Bound):
    """Reproduced if ``measured <= threshold``; partially if ``<= partial`` (when given)."""

    _op: ClassVar[str] = "<="

    @staticmethod
    def _holds(measured: float, bound: float) -> bool:
        return measured <= bound


@dataclass(frozen=True)
class Within(Criterion):
    """Reproduced if ``|measured - target| <= rel_tol * |target|``; partially within
    ``partial_rel_tol``. Use :class:`CloseTo` where the tolerance should come from a measured
    standard error; ``Within`` is for tolerances stated by the paper (e.g. "within 10%")."""

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
class CloseTo(Criterion):
    """"Close to ``target``" with a tolerance from the measured spread.

    ``measured`` is either a list of per-seed (or per-repeat) values — their mean is compared and
    the standard error is ``std(ddof=1) / sqrt(n)`` of the list — or one number with the standard
    error given as ``se``. Reproduced if ``|mean - target| <= z * SE``; partially if within
    ``partial_z * SE``. ``min_tol`` is an absolute floor on the tolerance (for example the
    resolution of the measurement), so that a zero spread does not demand exact equality.
    """

    target: float
    z: float = 2.0
    partial_z: float | None = None
    se: float | None = None
    min_tol: float = 0.0

    def _mean_se(self, measured: Any) -> tuple[float, float]:
        if isinstance(measured, (list, tuple)):
            xs = _numbers(measured, "CloseTo")
            if len(xs) < 2:
                raise ValueError(f"CloseTo needs >= 2 values to measure a spread, got {len(xs)}")
            mean = sum(xs) / len(xs)
            var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
            return mean, math.sqrt(var / len(xs))
        if self.se is None:
            raise ValueError("CloseTo on one number needs its standard error `se`")
        return _number(measured, "CloseTo"), float(self.se)

    def describe(self) -> str:
        se = "" if self.se is None else f" (SE {_fmt(self.se)})"
        s = f"reproduced if within {_fmt(self.z)} standard errors{se} of {_fmt(self.target)}"
        if self.min_tol:
            s += f" (tolerance at least {_fmt(self.min_tol)})"
        if self.partial_z is not None:
            s += f"; partially within {_fmt(self.partial_z)} SE"
        return s

    def judge(self, measured: Any) -> Verdict:
        mean, se = self._mean_se(measured)
        err = abs(mean - self.target)
        if err <= max(self.z * se, self.min_tol):
            return Verdict.REPRODUCED
        if self.partial_z is not None and err <= max(self.partial_z * se, self.min_tol):
            return Verdict.PARTIALLY
        return Verdict.NOT_REPRODUCED

    def format(self, measured: Any) -> str:
        mean, se = self._mean_se(measured)
        n = f" over {len(measured)}" if isinstance(measured, (list, tuple)) else ""
        return f"{mean:.4g} +- {se:.2g} (SE{n})"


def paired_stats(diffs: Sequence[float], margin: float = 0.0) -> dict[str, float]:
    """Mean, standard error, 95% t-interval, one-sided p-value (H1: mean > margin) and wins.

    The t-test is :func:`scipy.stats.ttest_1samp`; with zero spread the p-value is 0 when every
    difference exceeds the margin and 1 otherwise (the t statistic is undefined there).
    """
    from scipy import stats

    d = [float(x) for x in diffs]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) if n > 1 else float("nan")
    se = sd / math.sqrt(n) if n > 1 else float("nan")
    if n > 1 and sd > 0:
        p = float(stats.ttest_1samp(d, margin, alternative="greater").pvalue)
        half = float(stats.t.ppf(0.975, n - 1)) * se
    else:
        p = 0.0 if mean > margin else 1.0
        half = 0.0
    return {"n": n, "mean": mean, "se": se, "ci_low": mean - half, "ci_high": mean + half,
            "p": p, "wins": sum(x > margin for x in d)}


@dataclass(frozen=True)
class PairedTest(Criterion):
    """Method vs baseline over seeds: ``measured`` is the list of per-seed paired differences,
    oriented so that a positive difference is the paper's effect (method - baseline, or
    baseline - method when lower is better).

    One-sided paired t-test of ``mean > margin`` (:func:`paired_stats`). Reproduced if the mean
    exceeds the margin with p < ``alpha``; partially if the mean exceeds it on a majority of seeds
    but the test is not significant; not reproduced otherwise. Needs >= 2 seeds.
    """

    alpha: float = 0.05
    margin: float = 0.0

    def _stats(self, measured: Any) -> dict[str, float]:
        d = _numbers(measured, "PairedTest")
        if len(d) < 2:
            raise ValueError(f"PairedTest needs >= 2 paired seeds, got {len(d)}")
        return paired_stats(d, self.margin)

    def describe(self) -> str:
        return (f"paired over seeds, one-sided t-test of mean difference > {_fmt(self.margin)}: "
                f"reproduced if p < {_fmt(self.alpha)}; partially if the mean exceeds it on most "
                f"seeds without significance")

    def judge(self, measured: Any) -> Verdict:
        s = self._stats(measured)
        if s["mean"] > self.margin and s["p"] < self.alpha:
            return Verdict.REPRODUCED
        if s["mean"] > self.margin and s["wins"] > s["n"] / 2:
            return Verdict.PARTIALLY
        return Verdict.NOT_REPRODUCED

    def format(self, measured: Any) -> str:
        s = self._stats(measured)
        return (f"mean diff {s['mean']:+.4g} (95% CI [{s['ci_low']:+.3g}, {s['ci_high']:+.3g}], "
                f"p = {s['p']:.3g}, > {_fmt(self.margin)} on {s['wins']}/{s['n']} seeds)")


@dataclass(frozen=True)
class FitNotRejected(Criterion):
    """A goodness-of-fit test does not reject the model: ``measured`` is the test's p-value
    (e.g. :func:`scipy.stats.goodness_of_fit`, a parametric-bootstrap KS test). Reproduced if
    ``p >= alpha``; partially if ``p >= partial_alpha`` (when given)."""

    alpha: float = 0.05
    partial_alpha: float | None = None

    def describe(self) -> str:
        s = f"goodness of fit: reproduced if p >= {_fmt(self.alpha)} (the fit is not rejected)"
        if self.partial_alpha is not None:
            s += f"; partially if p >= {_fmt(self.partial_alpha)}"
        return s

    def judge(self, measured: Any) -> Verdict:
        p = _number(measured, "FitNotRejected")
        if p >= self.alpha:
            return Verdict.REPRODUCED
        if self.partial_alpha is not None and p >= self.partial_alpha:
            return Verdict.PARTIALLY
        return Verdict.NOT_REPRODUCED

    def format(self, measured: Any) -> str:
        return f"p = {_number(measured, 'FitNotRejected'):.3g}"


@dataclass(frozen=True)
class LikelihoodRatio(Criterion):
    """Model A beats model B by a likelihood-ratio test: ``measured = {"R": R, "p": p}`` with
    ``R`` the log-likelihood ratio (> 0 favours A) and ``p`` its significance (e.g. Vuong's test,
    ``powerlaw.Fit.distribution_compare``). Reproduced if R > 0 with p < ``alpha``; partially if
    R > 0 without significance; not reproduced if R <= 0."""

    alpha: float = 0.05
    favoured: str = "the paper's model"

    def _rp(self, measured: Any) -> tuple[float, float]:
        if not isinstance(measured, dict) or set(measured) != {"R", "p"}:
            raise TypeError(f"LikelihoodRatio needs {{'R': ..., 'p': ...}}, got {measured!r}")
        return _number(measured["R"], "LikelihoodRatio R"), _number(measured["p"], "LikelihoodRatio p")

    def describe(self) -> str:
        return (f"likelihood ratio: reproduced if R > 0 (favours {self.favoured}) with "
                f"p < {_fmt(self.alpha)}; partially if R > 0 without significance")

    def judge(self, measured: Any) -> Verdict:
        r, p = self._rp(measured)
        if r > 0 and p < self.alpha:
            return Verdict.REPRODUCED
        if r > 0:
            return Verdict.PARTIALLY
        return Verdict.NOT_REPRODUCED

    def format(self, measured: Any) -> str:
        r, p = self._rp(measured)
        return f"R = {r:.4g}, p = {p:.3g}"


@dataclass(frozen=True)
class Equals(Criterion):
    """Reproduced if the measurement equals ``expected`` exactly (booleans, strings, counts)."""

    expected: Any

    def describe(self) -> str:
        return f"reproduced if == {_fmt(self.expected)}"

    def judge(self, measured: Any) -> Verdict:
        return Verdict.REPRODUCED if measured == self.expected else Verdict.NOT_REPRODUCED


@dataclass(frozen=True)
class NotTestable(Criterion):
    """The claim cannot be tested at this profile; ``reason`` says why (and which profile can)."""

    reason: str

    def describe(self) -> str:
        return self.reason

    def judge(self, measured: Any) -> Verdict:
        return Verdict.NOT_TESTABLE


@dataclass(frozen=True)
class Null:
    """What a method without the paper's effect would measure, and what that means.

    ``value`` has the measurement's form (a list of zero differences, the baseline's own number,
    ``{"R": 0, "p": 1}``); ``means`` says in words what it stands for ("no paired difference",
    "cameras that never rotate", "recovery from the disk checkpoint").
    """

    value: Any
    means: str


def decidable(criterion: Criterion, null: "Null", why: str = "") -> Criterion:
    """``criterion`` if it rejects ``null``, else :class:`NotTestable` saying so.

    Where a tolerance comes from a measured spread, a run at a small scale can be too noisy to
    tell the paper's effect from its absence; such a claim is not testable at this profile, which
    is what this returns (instead of a verdict that could not have come out otherwise).
    """
    v = criterion.judge(_jsonable(null.value))
    if v in _NULL_OK:
        return criterion
    return NotTestable(reason=f"at this scale the criterion ({criterion.describe()}) would also "
                              f"pass its null ({null.means}: {_fmt(_jsonable(null.value))})"
                              + (f"; {why}" if why else ""))


@dataclass(frozen=True)
class Claim:
    """One row of a claims table, or of a sanity-check table (``kind``); JSON-serialisable."""

    id: str
    kind: str
    claim: str
    source: str
    paper_value: str
    measured: Any
    measured_text: str
    criterion: str
    criterion_spec: dict[str, Any]
    verdict: str
    null_value: Any
    null_means: str
    null_verdict: str
    chapter: str
    profile: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _jsonable(x: Any) -> Any:
    """numpy/torch scalars and arrays as plain JSON values."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist"):
        return _jsonable(x.tolist())
    if hasattr(x, "item"):
        return x.item()
    return x


_NULL_OK = (Verdict.NOT_REPRODUCED, Verdict.NOT_TESTABLE)


def evaluate(*, id: str, claim: str, source: str, paper_value: Any, measured: Any,
             criterion: Criterion, null: Null, chapter: str, profile: str,
             measured_text: str | None = None) -> Claim:
    """Apply ``criterion`` to ``measured`` and to ``null``; build the claim row.

    Raises :class:`ClaimError` if the criterion says "reproduced" or "partially" at the null.
    """
    if not id or not claim or not source:
        raise ClaimError("a claim needs an id, its statement and its source in the paper")
    if not isinstance(null, Null):
        raise ClaimError(f"claim {id!r}: `null` must be a Null(value, means) — what a method "
                         f"without the paper's effect would measure")
    measured, null_value = _jsonable(measured), _jsonable(null.value)
    verdict = criterion.judge(measured)
    null_verdict = criterion.judge(null_value)
    if null_verdict not in _NULL_OK:
        raise ClaimError(
            f"claim {id!r}: its criterion ({criterion.describe()}) judges the null "
            f"({null.means}: {_fmt(null_value)}) as '{null_verdict.value}'; a claim must come out "
            f"'not reproduced' when the paper's effect is absent — tighten the criterion, or "
            f"record an identity as a sanity check")
    text = measured_text if measured_text is not None else criterion.format(measured)
    if not isinstance(paper_value, str):
        paper_value = _fmt(paper_value)
    return Claim(id=id, kind=CLAIM, claim=claim, source=source,
                 paper_value=paper_value or NOT_TRANSCRIBED, measured=measured,
                 measured_text=text, criterion=criterion.describe(),
                 criterion_spec=_jsonable(criterion.spec()), verdict=verdict.value,
                 null_value=null_value, null_means=null.means, null_verdict=null_verdict.value,
                 chapter=chapter, profile=profile)


def check(*, id: str, check: str, measured: Any, criterion: Criterion, chapter: str,
          profile: str, source: str = "", measured_text: str | None = None) -> Claim:
    """A sanity check: an identity, a formula against itself, an analytic evaluation.

    Its verdict is ``holds`` when the criterion says reproduced, else ``fails``. It needs no null
    and is never counted as a reproduced claim.
    """
    if not id or not check:
        raise ClaimError("a sanity check needs an id and a statement")
    measured = _jsonable(measured)
    ok = criterion.judge(measured) is Verdict.REPRODUCED
    text = measured_text if measured_text is not None else criterion.format(measured)
    return Claim(id=id, kind=SANITY, claim=check, source=source or "this book",
                 paper_value="", measured=measured, measured_text=text,
                 criterion=criterion.describe(), criterion_spec=_jsonable(criterion.spec()),
                 verdict=HOLDS if ok else FAILS, null_value=None, null_means="",
                 null_verdict="", chapter=chapter, profile=profile)


def load(path: Path) -> list[Claim]:
    """Claims and sanity checks from a ``claims.json`` file (empty list if it does not exist)."""
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        return [Claim(**c) for c in data.get("claims", [])]
    except TypeError as exc:
        raise ClaimError(f"{path}: not a claims file of this version of the book ({exc}); "
                         f"re-run the chapter") from exc


def save(path: Path, new: Sequence[Claim]) -> None:
    """Merge ``new`` into ``path`` by id (a re-recorded id replaces the old row)."""
    rows = {c.id: c for c in load(path)}
    for c in new:
        rows[c.id] = c
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"claims": [c.to_dict() for c in rows.values()]}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, default=float) + "\n",
                    encoding="utf-8")


def claims_only(rows: Sequence[Claim]) -> list[Claim]:
    return [c for c in rows if c.kind == CLAIM]


def sanity_only(rows: Sequence[Claim]) -> list[Claim]:
    return [c for c in rows if c.kind == SANITY]


def verify(rows: Sequence[Claim]) -> list[str]:
    """Judge stored rows again from their criterion specs; return the problems found.

    Every claim's measurement must give its stored verdict and its null must come out
    "not reproduced" or "not testable"; every sanity check must give its stored verdict.
    """
    problems = []
    for c in rows:
        crit = criterion_from_spec(c.criterion_spec)
        got = crit.judge(c.measured)
        if c.kind == SANITY:
            want = HOLDS if got is Verdict.REPRODUCED else FAILS
            if want != c.verdict:
                problems.append(f"sanity check {c.id!r}: stored {c.verdict!r}, judged {want!r}")
            continue
        if got.value != c.verdict:
            problems.append(f"claim {c.id!r}: stored verdict {c.verdict!r}, judged {got.value!r}")
        nv = crit.judge(c.null_value)
        if nv not in _NULL_OK:
            problems.append(f"claim {c.id!r}: its null ({c.null_means}: {_fmt(c.null_value)}) "
                            f"is judged {nv.value!r}")
    return problems


def to_frame(rows: Sequence[Claim]) -> Any:
    """The claims as the book's table: claim, paper's value, this run, null, criterion, verdict."""
    import pandas as pd

    return pd.DataFrame([{
        "claim (paper, section/figure)": f"{c.claim} ({c.source})",
        "paper's value": c.paper_value,
        "this run": f"{c.measured_text} [{c.profile}]",
        "without the effect (null)": f"{c.null_means}: {_fmt(c.null_value)} -> {c.null_verdict}",
        "criterion": c.criterion,
        "verdict": c.verdict,
    } for c in claims_only(rows)])


def sanity_frame(rows: Sequence[Claim]) -> Any:
    """The sanity checks as a table: check, this run, criterion, result."""
    import pandas as pd

    return pd.DataFrame([{
        "sanity check": c.claim,
        "this run": f"{c.measured_text} [{c.profile}]",
        "criterion": c.criterion,
        "result": c.verdict,
    } for c in sanity_only(rows)])
