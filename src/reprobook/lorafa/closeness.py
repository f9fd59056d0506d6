"""How close two fine-tuning methods' accuracies are, with a standard error from the run itself
(the paper's claim that LoRA-FA's accuracy is close to full fine-tuning's and LoRA's).

For a method M and a reference R fine-tuned with the same seeds and evaluated on the same test
examples, the paired difference of seed s is d_s = acc_M(s) - acc_R(s). Its error has two sources:

- the training seeds: the spread of d_s across seeds, SE_seeds = sd(d_s) / sqrt(n_seeds)
  (:func:`reprobook.core.claims.paired_stats`);
- the sample of test examples, which every seed shares, so it does not show in that spread:
  with e_i the seed-averaged difference of correctness on example i (in [-1, 1]),
  SE_test = sd(e_i) / sqrt(n_test).

The claim's standard error is SE = sqrt(SE_seeds^2 + SE_test^2) and its tolerance z * SE. The
head-only control C (the pretrained encoder frozen, only the classifier trained) is what an
adapter that learns nothing measures: its paired difference to R is the claim's null. The claim
is testable only where the reference beats the control by more than the tolerance — otherwise the
run cannot tell "close to R" from "no fine-tuning at all".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reprobook.core.claims import paired_stats


@dataclass(frozen=True)
class Closeness:
    """Paired comparison of ``method`` with ``reference`` (and of ``control`` with it)."""

    method: str
    reference: str
    control: str
    diffs: tuple[float, ...]  # per seed: method - reference
    null_diffs: tuple[float, ...]  # per seed: control - reference
    se_seeds: float
    se_test: float

    @property
    def mean(self) -> float:
        return float(np.mean(self.diffs))

    @property
    def null_mean(self) -> float:
        return float(np.mean(self.null_diffs))

    @property
    def gap(self) -> float:
        """How much the reference beats the control (mean over seeds)."""
        return -self.null_mean

    @property
    def se(self) -> float:
        return math.hypot(self.se_seeds, self.se_test)

    def tolerance(self, z: float) -> float:
        return z * self.se

    def testable(self, z: float) -> bool:
        return self.gap > self.tolerance(z)


def _by_seed(res: pd.DataFrame, variant: str) -> pd.DataFrame:
    rows = res[res["variant"] == variant].set_index("seed").sort_index()
    if rows.empty:
        raise ValueError(f"no runs of {variant!r}; variants here: {sorted(set(res['variant']))}")
    return rows


def paired(res: pd.DataFrame, method: str, reference: str, control: str = "head") -> Closeness:
    """The paired comparison from fine-tuning results: one row per (variant, seed) with columns
    ``variant``, ``seed``, ``accuracy`` and ``correct`` (0/1 per test example, same order)."""
    m, r, c = (_by_seed(res, v) for v in (method, reference, control))
    if not (list(m.index) == list(r.index) == list(c.index)) or len(m) < 2:
        raise ValueError(f"{method!r}, {reference!r} and {control!r} need the same >= 2 seeds; "
                         f"got {list(m.index)}, {list(r.index)}, {list(c.index)}")
    diffs = (m["accuracy"] - r["accuracy"]).tolist()
    per_example = np.mean([np.asarray(a, float) - np.asarray(b, float)
                           for a, b in zip(m["correct"], r["correct"])], axis=0)
    se_test = float(np.std(per_example, ddof=1) / math.sqrt(len(per_example)))
    return Closeness(method=method, reference=reference, control=control,
                     diffs=tuple(float(d) for d in diffs),
                     null_diffs=tuple(float(d) for d in (c["accuracy"] - r["accuracy"])),
                     se_seeds=float(paired_stats(diffs)["se"]), se_test=se_test)
