"""The chapter's experiments, shared by its notebooks (each result cached on disk by its inputs).

``Config`` mirrors the notebooks' parameters. :func:`load_events` reads the data set (OpenACC
through the data layer; HighD when ``highd_dir`` is given; the synthetic population),
:func:`fit_low_level` calibrates IDM and Gipps and trains the MLP and LSTM on the training events,
:func:`single_baselines` evaluates every non-RL method in closed loop, and :func:`rl_jobs` builds
the stable-baselines3 runs of :mod:`.agents`. Notebook 03 and 04 call the same cached functions,
so 04 reuses 03's trained agents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from reprobook.core.cache import memory
from reprobook.core.seeds import derive_seed

from . import metrics
from .agents import SLUG, AgentConfig, Job, jobs_for
from .calibration import Calibration, calibrate
from .constants import EVENT_S, HISTORY, IDM_DEFAULT
from .highd import load_highd
from .learned import NetController, Trained, to_numpy_mlp, train
from .models import IDM, NumpyMLP
from .openacc import load_openacc, split_by_run, split_events
from .schema import Event
from .simulate import (Batch, EnsembleController, ModelController, Rollout, random_policy,
                       simulate, uniform_policy)
from .synthetic import Population, population


@dataclass(frozen=True)
class Config:
    seed: int = 0
    dataset: str = "openacc"  # "openacc", "highd" (needs highd_dir) or "synthetic"
    highd_dir: str = ""
    max_events: int = 0  # 0: every event; else a seeded subset (ci-tiny)
    event_s: float = EVENT_S
    synthetic_drivers: int = 20
    de_popsize: int = 10
    de_maxiter: int = 30
    mlp_epochs: int = 5
    lstm_epochs: int = 4
    seeds: tuple[int, ...] = (0, 1, 2)
    rl_steps: int = 20_000
    dqn_steps: int = 20_000
    e2e_steps: int = 20_000
    workers: int = 2
    holdout_run: str = "handling_part40"
    holdout_steps: int = 20_000


def load_events(cfg: Config) -> tuple[list[Event], pd.DataFrame, str]:
    """The chapter's events, a table of what extraction dropped, and the data's label."""
    if cfg.dataset == "highd" or cfg.highd_dir:
        if not cfg.highd_dir:
            raise ValueError("dataset 'highd' needs highd_dir: the folder of XX_tracks.csv files")
        ev = load_highd(cfg.highd_dir)
        counts = pd.DataFrame({"run": [e.run for e in ev]}).value_counts().reset_index()
        label = "HighD (real)"
    elif cfg.dataset == "synthetic":
        ev, dropped = population(Population(drivers=cfg.synthetic_drivers),
                                 derive_seed(cfg.seed, "synthetic"), cfg.event_s)
        counts = pd.DataFrame([{"file": "synthetic", "events": len(ev), "dropped": dropped}])
        label = "synthetic population"
    elif cfg.dataset == "openacc":
        ev, counts = load_openacc(event_s=cfg.event_s)
        label = "OpenACC ZalaZone human runs (real)"
    else:
        raise ValueError(f"dataset {cfg.dataset!r} is not 'openacc', 'highd' or 'synthetic'")
    if cfg.max_events and len(ev) > cfg.max_events:
        keep = np.sort(np.random.default_rng(derive_seed(cfg.seed, "subset"))
                       .choice(len(ev), cfg.max_events, replace=False))
        ev = [ev[i] for i in keep]
    return ev, counts, label


def split(cfg: Config, events: Sequence[Event]) -> dict[str, list[Event]]:
    return split_events(events, derive_seed(cfg.seed, "split"))


@dataclass
class LowLevel:
    """The calibrated / trained models of one training set."""

    idm: Calibration
    gipps: Calibration
    mlp: Trained
    lstm: Trained
    mlp_np: NumpyMLP

    @property
    def lows(self) -> list[Any]:
        """The ensemble's low-level models, in the order of its actions."""
        return [self.idm.model, self.gipps.model, self.mlp_np]

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.lows]


def _fit_low_level(train_ev: list[Event], val_ev: list[Event], seed: int, popsize: int,
                   maxiter: int, mlp_epochs: int, lstm_epochs: int) -> LowLevel:
    idm = calibrate("IDM", train_ev, derive_seed(seed, "IDM"), popsize, maxiter)
    gipps = calibrate("Gipps", train_ev, derive_seed(seed, "Gipps"), popsize, maxiter)
    mlp = train("MLP", train_ev, val_ev, derive_seed(seed, "MLP"), epochs=mlp_epochs,
                batch_size=1024, lr=1e-2)
    lstm = train("LSTM", train_ev, val_ev, derive_seed(seed, "LSTM"), epochs=lstm_epochs,
                 hidden=16, batch_size=1024, lr=1e-2)
    return LowLevel(idm=idm, gipps=gipps, mlp=mlp, lstm=lstm, mlp_np=to_numpy_mlp(mlp))


def fit_low_level(cfg: Config, sp: dict[str, list[Event]]) -> LowLevel:
    """Calibrate IDM and Gipps (closed loop) and train the MLP and LSTM (cached)."""
    return memory(SLUG).cache(_fit_low_level)(list(sp["train"]), list(sp["val"]), cfg.seed,
                                              cfg.de_popsize, cfg.de_maxiter, cfg.mlp_epochs,
                                              cfg.lstm_epochs)


def single_baselines(low: LowLevel, events: Sequence[Event], seed: int
                     ) -> dict[str, tuple[pd.DataFrame, Rollout]]:
    """Every non-RL method in closed loop on ``events``: per-event table and rollout."""
    ctrls = [ModelController(low.idm.model, "IDM (calibrated)"),
             ModelController(low.gipps.model, "Gipps (calibrated)"),
             ModelController(low.mlp_np, "MLP"),
             NetController(low.lstm.net, "LSTM"),
             ModelController(IDM(**IDM_DEFAULT), "IDM (uncalibrated)"),
             ModelController(low.idm.model, "leader-blind (IDM free road)", fn="free_road"),
             EnsembleController(uniform_policy(3), low.lows, "weight", "uniform weights"),
             EnsembleController(random_policy(3, derive_seed(seed, "random")), low.lows,
                                "select", "random selection")]
    batch = Batch.from_events(events)
    out = {}
    for c in ctrls:
        ro = simulate(batch, c)
        out[c.name] = (metrics.per_event(ro, c.name), ro)
    return out


SINGLE = ("IDM (calibrated)", "Gipps (calibrated)", "MLP")  # the ensemble's members


def oracle_table(base: dict[str, tuple[pd.DataFrame, Rollout]]) -> pd.DataFrame:
    """Per event, the best of the ensemble's single members (hindsight)."""
    return metrics.oracle([base[k][0] for k in SINGLE])


def rl_configs(cfg: Config) -> list[AgentConfig]:
    """PPO select and weight (the method), DQN select (ablation), PPO end-to-end (baseline)."""
    out = [AgentConfig("PPO", "select", cfg.rl_steps), AgentConfig("PPO", "weight", cfg.rl_steps)]
    if cfg.dqn_steps:
        out.append(AgentConfig("DQN", "select", cfg.dqn_steps))
    if cfg.e2e_steps:
        out.append(AgentConfig("PPO", "accel", cfg.e2e_steps))
    return out


def rl_jobs(cfg: Config, sp: dict[str, list[Event]], low: LowLevel) -> list[Job]:
    return jobs_for(rl_configs(cfg), cfg.seeds, sp, low.lows, tag="event split")


def holdout(cfg: Config, events: Sequence[Event]) -> tuple[dict[str, list[Event]], LowLevel,
                                                           list[Job]]:
    """Generalisation to a held-out run: refit everything without it, weighting mode only."""
    sp = split_by_run(events, cfg.holdout_run, derive_seed(cfg.seed, "holdout"))
    low = fit_low_level(cfg, sp)
    jobs = jobs_for([AgentConfig("PPO", "weight", cfg.holdout_steps)], cfg.seeds, sp, low.lows,
                    tag=f"held-out {cfg.holdout_run}")
    return sp, low, jobs


def summary_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean +- std over seeds of every method's pooled metrics (seedless methods: one row)."""
    rows = []
    for name, pe in tables.items():
        seeds = sorted(pe["seed"].unique()) if "seed" in pe else [None]
        per = [metrics.summarise(pe if s is None else pe[pe["seed"] == s]) for s in seeds]
        r = {"method": name, "seeds": len(per)}
        for k in ("spacing_rmse", "spacing_mse", "speed_rmse"):
            vals = np.array([p[k] for p in per])
            r[k] = vals.mean()
            r[k + "_std"] = vals.std(ddof=1) if len(vals) > 1 else 0.0
        for k in ("collision_events", "negative_gap_samples", "mean_abs_jerk",
                  "jerk_over_share", "ttc_low_share", "min_gap"):
            r[k] = float(np.mean([p[k] for p in per]))
        r["events"] = per[0]["events"]
        rows.append(r)
    return pd.DataFrame(rows)


def reference_rmse(low: LowLevel, events: Sequence[Event]) -> dict[str, float]:
    """Calibrated IDM's closed-loop spacing RMSE per event (the training curves' reference)."""
    pe = metrics.per_event(simulate(Batch.from_events(events), ModelController(low.idm.model)))
    return dict(zip(pe["event"], pe["spacing_rmse"]))


def human_summary(events: Sequence[Event]) -> dict[str, float]:
    return metrics.summarise(metrics.human(Batch.from_events(events), HISTORY - 1))
