"""Where each model fails, and what the ensemble chose: per-situation errors and action traces.

The abstract's premise is that every car-following model has strengths and weaknesses depending on
the scenario. :func:`errors_by_situation` bins every simulated sample by the *observed* situation
(speed band, and whether the human was braking, cruising or accelerating; or, on synthetic data,
the hidden regime) and reports each model's spacing RMSE per bin.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .schema import Event
from .simulate import Rollout

SPEED_BANDS = ((0.0, 5.0, "v < 5 m/s"), (5.0, 12.0, "5-12 m/s"), (12.0, np.inf, "v > 12 m/s"))
PHASES = ((-np.inf, -0.5, "braking"), (-0.5, 0.5, "cruising"), (0.5, np.inf, "accelerating"))


def situations(ro: Rollout) -> pd.DataFrame:
    """One row per simulated sample: event index, observed speed band and phase."""
    b, m = ro.batch, ro.mask
    ev, t = np.nonzero(m)
    v, a = b.v[ev, t], b.a[ev, t]
    band = np.select([(v >= lo) & (v < hi) for lo, hi, _ in SPEED_BANDS],
                     [n for *_, n in SPEED_BANDS], "")
    phase = np.select([(a >= lo) & (a < hi) for lo, hi, _ in PHASES], [n for *_, n in PHASES], "")
    return pd.DataFrame({"event": ev, "t": t, "speed band": band, "phase": phase})


def errors_by_situation(rollouts: dict[str, Rollout], by: str = "speed band",
                        regimes: Sequence[Event] | None = None) -> pd.DataFrame:
    """Spacing RMSE of each method per situation bin (rows: bins; columns: methods)."""
    first = next(iter(rollouts.values()))
    sit = situations(first)
    if regimes is not None:
        reg = np.stack([np.pad(e.regime, (0, first.s.shape[1] - len(e)), mode="edge")
                        for e in regimes])  # type: ignore[arg-type]
        sit["regime"] = np.where(reg[sit["event"], sit["t"]] == 1, "approach (Gipps-like)",
                                 "following (IDM-like)")
    out = {}
    for name, ro in rollouts.items():
        err = (ro.s - ro.batch.s)[sit["event"], sit["t"]] ** 2
        out[name] = pd.Series(err).groupby(sit[by].to_numpy()).mean() ** 0.5
    table = pd.DataFrame(out)
    table.insert(0, "samples", sit.groupby(by).size())
    order = {"speed band": [n for *_, n in SPEED_BANDS], "phase": [n for *_, n in PHASES]}
    if by in order:
        table = table.reindex([n for n in order[by] if n in table.index])
    table.index.name = by
    return table


def worst_event(per_event: pd.DataFrame) -> str:
    """The event on which a method's spacing RMSE is largest."""
    return str(per_event.loc[per_event["spacing_rmse"].idxmax(), "event"])


def choice_shares(actions: np.ndarray, names: Sequence[str], mode: str) -> pd.Series:
    """How often (select) or how much (weight) each low-level model was used over all steps."""
    if mode == "select":
        counts = np.bincount(actions.ravel(), minlength=len(names))
        return pd.Series(counts / counts.sum(), index=list(names))
    return pd.Series(actions.reshape(-1, actions.shape[-1]).mean(0), index=list(names))


def curve_bins(curve: pd.DataFrame, steps: int, bins: int = 10,
               reference: dict[str, float] | None = None) -> pd.DataFrame:
    """Mean training-episode spacing RMSE in ``bins`` equal slices of the training steps.

    With ``reference`` (event id -> a fixed controller's RMSE on that training event) each
    episode's RMSE is taken relative to the reference's on the same event: the environments of
    every configuration draw the same sequence of events, so raw curves mostly show how hard the
    events drawn in each slice were, not what the agent learned."""
    edges = np.linspace(0, steps, bins + 1)
    mid = (edges[:-1] + edges[1:]) / 2
    idx = np.clip(np.searchsorted(edges, curve["timesteps"].to_numpy(), side="right") - 1,
                  0, bins - 1)
    y = curve["spacing_rmse"].to_numpy(float)
    if reference is not None:
        y = y - curve["event"].map(reference).to_numpy(float)
    g = pd.Series(y).groupby(idx).mean()
    return pd.DataFrame({"timesteps": mid, "spacing_rmse": g.reindex(range(bins)).to_numpy()})
