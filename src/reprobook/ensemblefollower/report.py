"""Tables the notebooks show, assembled from experiment results (keeps notebook cells short)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import metrics
from .agents import JobResult
from .claims import jerk_gain
from .constants import FOLLOWNET_HIGHD_COLLISION_PER_MILLE, FOLLOWNET_HIGHD_SPACING_MSE
from .experiment import summary_table
from .simulate import Rollout

ORACLE = "oracle (best single model per event)"


def rl_tables(results: Sequence[JobResult], nojerk: bool = False) -> dict[str, pd.DataFrame]:
    """Per-event test tables of every RL configuration, all seeds stacked (column ``seed``)."""
    out: dict[str, list[pd.DataFrame]] = {}
    for r in results:
        out.setdefault(r.label, []).append(r.per_event_nojerk if nojerk else r.per_event)
    return {k: pd.concat(v, ignore_index=True) for k, v in out.items()}


def all_tables(base: dict[str, tuple[pd.DataFrame, Rollout]], oracle: pd.DataFrame,
               results: Sequence[JobResult]) -> dict[str, pd.DataFrame]:
    return {**{k: v[0] for k, v in base.items()}, ORACLE: oracle, **rl_tables(results)}


def accuracy_summary(tables: dict[str, pd.DataFrame], human: dict[str, float]) -> pd.DataFrame:
    """The accuracy table: spacing / speed RMSE (mean +- std over seeds) per method."""
    s = summary_table(tables).sort_values("spacing_rmse")
    out = pd.DataFrame({
        "method": s["method"], "seeds": s["seeds"],
        "spacing RMSE [m]": [f"{m:.3f} ± {sd:.3f}" if n > 1 else f"{m:.3f}"
                             for m, sd, n in zip(s["spacing_rmse"], s["spacing_rmse_std"],
                                                 s["seeds"])],
        "spacing MSE [m²]": s["spacing_mse"].round(2),
        "speed RMSE [m/s]": s["speed_rmse"].round(3),
        "collision events": s["collision_events"].round(2),
        "mean |jerk| [m/s³]": s["mean_abs_jerk"].round(3)})
    human_row = {"method": "human (observed)", "seeds": 1, "spacing RMSE [m]": "0",
                 "spacing MSE [m²]": 0.0, "speed RMSE [m/s]": 0.0,
                 "collision events": human["collision_events"],
                 "mean |jerk| [m/s³]": round(human["mean_abs_jerk"], 3)}
    return pd.concat([out, pd.DataFrame([human_row])], ignore_index=True)


def rmse_per_seed(tables: dict[str, pd.DataFrame], label: str) -> list[float]:
    """Pooled test spacing RMSE of one RL configuration, one value per seed (in seed order)."""
    pe = tables[label]
    return [metrics.summarise(pe[pe["seed"] == s])["spacing_rmse"]
            for s in sorted(pe["seed"].unique())]


def rmse_of(tables: dict[str, pd.DataFrame], label: str) -> float:
    return metrics.summarise(tables[label])["spacing_rmse"]


def followNet_context(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """FollowNet's HighD spacing MSE and collision rates beside this run's on its data."""
    pairs = [("IDM", "IDM (calibrated)"), ("NN", "MLP"), ("LSTM", "LSTM"),
             ("DDPG", "end-to-end RL (PPO, acceleration)")]
    rows = []
    for fn, ours in pairs:
        if ours not in tables:
            continue
        s = metrics.summarise(tables[ours])
        rows.append({"FollowNet model (HighD)": fn,
                     "FollowNet spacing MSE [m²]": FOLLOWNET_HIGHD_SPACING_MSE[fn],
                     "FollowNet collisions [‰]": FOLLOWNET_HIGHD_COLLISION_PER_MILLE[fn],
                     "this chapter's counterpart": ours,
                     "spacing MSE here [m²]": round(s["spacing_mse"], 2),
                     "collisions here [‰]": round(s["collision_per_mille"], 1)})
    return pd.DataFrame(rows)


def collision_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per method: events with a collision and samples with a negative gap (summed over seeds),
    the smallest gap, and the event-runs simulated."""
    rows = []
    for name, pe in tables.items():
        rows.append({"method": name, "event-runs": len(pe),
                     "events with a collision": int(pe["collision"].sum()),
                     "negative-gap samples": int(pe["negative_gap_samples"].sum()),
                     "smallest gap [m]": round(float(pe["min_gap"].min()), 2),
                     "TTC < 4 s share": round(float(
                         (pe["ttc_low_share"] * pe["samples"]).sum() / pe["samples"].sum()), 4)})
    return pd.DataFrame(rows)


def collided_events(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every (method, seed, event) with a collision or a negative gap (empty when none)."""
    rows = [pe[pe["negative_gap_samples"] > 0].assign(method=name)
            for name, pe in tables.items()]
    cols = ["method", "seed", "event", "negative_gap_samples", "min_gap"]
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)
    if "seed" not in out:
        out["seed"] = np.nan
    out["seed"] = ["-" if pd.isna(s) else str(int(s)) for s in out["seed"]]
    return out.reindex(columns=cols)


def jerk_study(results: Sequence[JobResult], human_jerk: np.ndarray
               ) -> tuple[dict[str, list[float]], dict[str, float], dict[str, float]]:
    """Per mode (PPO select / weight): per-seed Wasserstein gains and mean |jerk| with/without."""
    gains: dict[str, list[float]] = {}
    bounded: dict[str, list[np.ndarray]] = {}
    free: dict[str, list[np.ndarray]] = {}
    for r in sorted(results, key=lambda r: r.seed):
        if r.config.algo != "PPO" or r.config.mode not in ("select", "weight"):
            continue
        m = r.config.mode
        gains.setdefault(m, []).append(jerk_gain(human_jerk, r.jerk, r.jerk_nojerk))
        bounded.setdefault(m, []).append(r.jerk)
        free.setdefault(m, []).append(r.jerk_nojerk)
    mean = lambda d: {m: float(np.concatenate(v).mean()) for m, v in d.items()}  # noqa: E731
    return gains, mean(bounded), mean(free)


def choice_table(results: Sequence[JobResult], names: Sequence[str]) -> pd.DataFrame:
    """How much each low-level model is used on the test events, per configuration and seed."""
    from .analysis import choice_shares

    rows = []
    for r in results:
        key = "weights" if "weights" in r.rollout else ("selected" if "selected" in r.rollout
                                                        else None)
        if key is None:
            continue
        sh = choice_shares(r.rollout[key], names, r.config.mode)
        rows.append({"configuration": r.label, "seed": r.seed,
                     **{n: round(float(v), 3) for n, v in sh.items()}})
    return pd.DataFrame(rows)


def rl_seconds(results: Sequence[JobResult]) -> dict[str, Any]:
    return {f"{r.label} seed {r.seed}": round(r.seconds, 2) for r in results}


def parameter_table(cals: Sequence[Any], bounds: dict[str, dict[str, tuple[float, float]]]
                    ) -> pd.DataFrame:
    """Calibrated parameters, one row per (model, parameter), with the search bounds and whether
    the optimum sits at one of them; the training-set closed-loop MSE per model."""
    rows = []
    for cal in cals:
        for k, v in cal.model.params().items():
            lo, hi = bounds[cal.kind][k]
            rows.append({"model": cal.kind, "parameter": k, "value": round(v, 3),
                         "search range": f"[{lo:g}, {hi:g}]",
                         "at a bound": bool(min(v - lo, hi - v) < 1e-3 * (hi - lo)),
                         "train spacing MSE [m²]": round(cal.mse, 2)})
    return pd.DataFrame(rows)


def headline(summary: pd.DataFrame) -> str:
    """Spacing RMSE per method (mean +- std over seeds) in one block of text, best first."""
    d = summary.sort_values("spacing_rmse")
    width = max(len(m) for m in d["method"])
    lines = [f"{m:<{width}}  {r:7.3f} m" + (f" ± {sd:.3f} ({n} seeds)" if n > 1 else "")
             for m, r, sd, n in zip(d["method"], d["spacing_rmse"], d["spacing_rmse_std"],
                                    d["seeds"])]
    return "test spacing RMSE, best first:\n" + "\n".join(lines)
