"""Accuracy, safety and comfort of closed-loop rollouts (the brief's metrics; FollowNet's style).

Over the simulated samples of every event (``k0 < t < n``):

- spacing MSE / RMSE [m^2 / m] and speed RMSE [m/s], pooled over all samples (FollowNet reports
  the spacing MSE);
- collisions: events in which the gap reaches s <= 0 at least once (rate per mille of events),
  and the number of samples with a negative (non-positive) gap;
- comfort: mean |jerk| [m/s^3] of the applied acceleration and the share of steps with
  |jerk| > j_max;
- time-to-collision ``TTC = s / (v - v_lead)`` while closing in: share of samples with TTC < 4 s.

The same statistics of the observed human trajectories (``human``) are the reference.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .constants import DT, J_MAX, TTC_THRESHOLD
from .simulate import Batch, Rollout

JERK_TOL = 1e-9


def _jerk(a: np.ndarray, batch: Batch, k0: int) -> tuple[np.ndarray, np.ndarray]:
    """|jerk| of the applied acceleration over steps k0..n-2, and its mask."""
    j = np.abs(np.diff(a, axis=1)) / DT  # j[:, t-1] = (a[t] - a[t-1]) / dt
    t = np.arange(1, a.shape[1])
    mask = (t[None, :] >= k0) & (t[None, :] <= batch.n[:, None] - 2)
    return j, mask


def _ttc_low(s: np.ndarray, v: np.ndarray, v_lead: np.ndarray) -> np.ndarray:
    closing = v - v_lead
    with np.errstate(divide="ignore", invalid="ignore"):
        ttc = np.where(closing > 0, s / closing, np.inf)
    return (s <= 0) | (ttc < TTC_THRESHOLD)


def per_event(ro: Rollout, method: str = "") -> pd.DataFrame:
    """One row per event: accuracy, collision, negative gaps, jerk and TTC statistics."""
    b, m = ro.batch, ro.mask
    cnt = m.sum(1)
    se = np.where(m, (ro.s - b.s) ** 2, 0.0).sum(1)
    ve = np.where(m, (ro.v - b.v) ** 2, 0.0).sum(1)
    neg = np.where(m, ro.s <= 0, False)
    j, jm = _jerk(ro.a, b, ro.k0)
    low = np.where(m, _ttc_low(ro.s, ro.v, b.v_lead), False)
    return pd.DataFrame({
        "method": method, "event": list(b.ids), "samples": cnt, "spacing_sse": se,
        "spacing_mse": se / cnt, "spacing_rmse": np.sqrt(se / cnt), "speed_rmse": np.sqrt(ve / cnt),
        "collision": neg.any(1), "negative_gap_samples": neg.sum(1),
        "min_gap": np.where(m, ro.s, np.inf).min(1),
        "mean_abs_jerk": np.where(jm, j, 0.0).sum(1) / jm.sum(1),
        "jerk_over_share": np.where(jm, j > J_MAX + JERK_TOL, False).sum(1) / jm.sum(1),
        "ttc_low_share": low.sum(1) / cnt,
    })


def human(batch: Batch, k0: int) -> pd.DataFrame:
    """The observed trajectories' own statistics (zero error by definition)."""
    ro = Rollout(batch=batch, s=batch.s, v=batch.v, x=batch.x, a=batch.a, k0=k0)
    return per_event(ro, "human (observed)")


def summarise(ev: pd.DataFrame) -> dict[str, float]:
    """Pool a per-event table (one method) into the chapter's metrics."""
    n = ev["samples"].sum()
    w = ev["samples"] / n
    return {
        "spacing_mse": float(ev["spacing_sse"].sum() / n),
        "spacing_rmse": float(np.sqrt(ev["spacing_sse"].sum() / n)),
        "speed_rmse": float(np.sqrt((ev["speed_rmse"] ** 2 * ev["samples"]).sum() / n)),
        "collision_events": int(ev["collision"].sum()),
        "collision_per_mille": float(1000 * ev["collision"].mean()),
        "negative_gap_samples": int(ev["negative_gap_samples"].sum()),
        "min_gap": float(ev["min_gap"].min()),
        "mean_abs_jerk": float(ev["mean_abs_jerk"].mean()),
        "jerk_over_share": float(ev["jerk_over_share"].mean()),
        "ttc_low_share": float((ev["ttc_low_share"] * w).sum()),
        "events": int(len(ev)),
    }


def oracle(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Per event, the single model with the lowest spacing MSE (the oracle 'best single model')."""
    long = pd.concat(tables, ignore_index=True)
    best = long.loc[long.groupby("event", sort=False)["spacing_mse"].idxmin()]
    return best.assign(chosen=best["method"], method="oracle (best single model per event)")


def jerk_values(ro: Rollout) -> np.ndarray:
    """Every |jerk| sample of a rollout (for distribution comparisons)."""
    j, jm = _jerk(ro.a, ro.batch, ro.k0)
    return j[jm]


def human_jerk_values(batch: Batch, k0: int) -> np.ndarray:
    j, jm = _jerk(batch.a, batch, k0)
    return j[jm]
