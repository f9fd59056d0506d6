"""The high-level agent (stable-baselines3), the end-to-end RL baseline, and their evaluation.

The paper trains its high-level agent with reinforcement learning; which algorithm its abstract
does not say. This book trains PPO for both action modes (selection: ``Discrete(M)``; weighting:
``Box(M)`` logits -> softmax), DQN as an ablation of selection, and an end-to-end PPO policy that
outputs the acceleration itself (FollowNet's DDPG-style baseline, with PPO for budget). Every run
is one :class:`Job`; :func:`run_job` trains, then evaluates the deterministic policy in closed
loop on the held-out events, with and without the jerk bound. Jobs run in worker processes
(one torch thread each) and are cached on disk by their inputs (``core.cache``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd

from reprobook.core.cache import memory
from reprobook.core.progress import progress
from reprobook.core.seeds import default_threads, derive_seed

from . import metrics
from .kinematics import Limits
from .schema import Event
from .simulate import Batch, EnsembleController, simulate

SLUG = "ensemblefollower"


@dataclass(frozen=True)
class AgentConfig:
    """Hyper-parameters of one RL run (this book's choices; the paper's are not known here)."""

    algo: str = "PPO"  # "PPO" or "DQN"
    mode: str = "weight"  # "select", "weight" or "accel" (end-to-end)
    steps: int = 20_000
    n_envs: int = 8
    n_steps: int = 256  # PPO: rollout length per environment
    batch_size: int = 512
    n_epochs: int = 4
    lr: float = 3e-4
    gamma: float = 0.99
    net: tuple[int, ...] = (64, 64)
    ent_coef: float = 0.0
    log_std_init: float = 0.0  # PPO on a Box action: initial log std of the Gaussian policy

    @property
    def label(self) -> str:
        names = {("PPO", "select"): "EnsembleFollower (PPO, select)",
                 ("PPO", "weight"): "EnsembleFollower (PPO, weight)",
                 ("DQN", "select"): "EnsembleFollower (DQN, select)",
                 ("PPO", "accel"): "end-to-end RL (PPO, acceleration)"}
        return names.get((self.algo, self.mode), f"{self.algo} {self.mode}")


@dataclass(frozen=True)
class Job:
    config: AgentConfig
    seed: int
    train: tuple[Event, ...]
    test: tuple[Event, ...]
    lows: tuple[Any, ...]
    lim: Limits = Limits()
    tag: str = "main"  # which experiment (the event split or a held-out run)


@dataclass
class JobResult:
    label: str
    config: AgentConfig
    seed: int
    tag: str
    curve: pd.DataFrame  # one row per finished training episode
    per_event: pd.DataFrame  # test events, jerk-constrained
    per_event_nojerk: pd.DataFrame  # the same policy without the jerk bound
    jerk: np.ndarray  # |jerk| samples on the test events (constrained)
    jerk_nojerk: np.ndarray
    rollout: dict[str, np.ndarray] = field(default_factory=dict)  # s, v, a and the actions
    seconds: float = 0.0


def _make_model(cfg: AgentConfig, env: Any, seed: int) -> Any:
    from stable_baselines3 import DQN, PPO

    kw = dict(policy_kwargs={"net_arch": list(cfg.net)}, seed=seed, device="cpu", verbose=0,
              learning_rate=cfg.lr, gamma=cfg.gamma)
    if cfg.algo == "PPO":
        if cfg.mode != "select":
            kw["policy_kwargs"]["log_std_init"] = cfg.log_std_init
        return PPO("MlpPolicy", env, n_steps=cfg.n_steps, batch_size=cfg.batch_size,
                   n_epochs=cfg.n_epochs, ent_coef=cfg.ent_coef, **kw)
    if cfg.algo == "DQN":
        if cfg.mode != "select":
            raise ValueError("DQN needs the discrete selection mode")
        return DQN("MlpPolicy", env, buffer_size=50_000, learning_starts=1_000, batch_size=64,
                   train_freq=2, gradient_steps=1, target_update_interval=250,
                   exploration_fraction=0.3, exploration_final_eps=0.02, **kw)
    raise ValueError(f"unknown algorithm {cfg.algo!r}")


def _curve_callback() -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    class Curve(BaseCallback):
        """Records every finished training episode: steps, event, return, spacing RMSE."""

        def __init__(self) -> None:
            super().__init__()
            self.rows: list[dict[str, Any]] = []

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "spacing_rmse" in info:
                    self.rows.append({"timesteps": int(self.num_timesteps),
                                      "event": info["event"],
                                      "return": float(info.get("episode", {}).get("r", np.nan)),
                                      "spacing_rmse": info["spacing_rmse"],
                                      "collision": info["collision"]})
            return True

    return Curve()


def train_agent(job: Job) -> tuple[Any, pd.DataFrame]:
    """Train one agent; returns the SB3 model and its training curve."""
    import torch
    from stable_baselines3.common.env_util import make_vec_env

    from .env import CarFollowingEnv

    torch.set_num_threads(1)
    cfg = job.config
    lows = [] if cfg.mode == "accel" else list(job.lows)
    # SB3 seeds environment i with seed + i: a hashed seed keeps the event streams of
    # different RL seeds apart (seeds 0 and 1 would share 7 of 8 environments' streams)
    seed = derive_seed(job.seed, "stable-baselines3") % 2**31
    env = make_vec_env(lambda: CarFollowingEnv(job.train, lows, cfg.mode, job.lim),
                       n_envs=cfg.n_envs, seed=seed)
    model = _make_model(cfg, env, seed)
    cb = _curve_callback()
    model.learn(total_timesteps=cfg.steps, callback=cb)
    return model, pd.DataFrame(cb.rows, columns=["timesteps", "event", "return",
                                                 "spacing_rmse", "collision"])


def evaluate(model: Any, job: Job, lim: Limits) -> tuple[pd.DataFrame, np.ndarray, Any]:
    """The deterministic policy in closed loop on the test events."""
    cfg = job.config
    ctrl = EnsembleController(lambda obs: model.predict(obs, deterministic=True)[0],
                              [] if cfg.mode == "accel" else job.lows, cfg.mode, cfg.label)
    ro = simulate(Batch.from_events(job.test), ctrl, lim)
    return metrics.per_event(ro, cfg.label), metrics.jerk_values(ro), ro


def _run_job(job: Job) -> JobResult:
    t0 = time.perf_counter()
    model, curve = train_agent(job)
    seconds = time.perf_counter() - t0
    pe, jv, ro = evaluate(model, job, job.lim)
    pe_nj, jv_nj, _ = evaluate(model, job, replace(job.lim, jerk=False))
    keep = {"s": ro.s.astype(np.float32), "v": ro.v.astype(np.float32),
            "a": ro.a.astype(np.float32), **ro.extras}
    return JobResult(label=job.config.label, config=job.config, seed=job.seed, tag=job.tag,
                     curve=curve, per_event=pe.assign(seed=job.seed),
                     per_event_nojerk=pe_nj.assign(seed=job.seed), jerk=jv, jerk_nojerk=jv_nj,
                     rollout=keep, seconds=seconds)


def _cached() -> Any:
    return memory(SLUG).cache(_run_job)


def run_job(job: Job) -> JobResult:
    """Train and evaluate one job, through the chapter's result cache."""
    return _cached()(job)


COST = {("DQN", "select"): 3.0, ("PPO", "select"): 1.5, ("PPO", "weight"): 1.5,
        ("PPO", "accel"): 1.0}  # relative wall time per step, to start the longest runs first


def run_jobs(jobs: Sequence[Job], workers: int = 2, desc: str = "RL runs") -> list[JobResult]:
    """Run ``jobs`` in up to ``workers`` processes (never more than the usable cores); results
    already in the cache are loaded here without starting any process."""
    cached = _cached()
    out: dict[int, JobResult] = {i: cached(j) for i, j in enumerate(jobs)
                                 if cached.check_call_in_cache(j)}
    todo = sorted((i for i in range(len(jobs)) if i not in out),
                  key=lambda i: -COST.get((jobs[i].config.algo, jobs[i].config.mode), 1.0)
                  * jobs[i].config.steps)
    workers = max(1, min(workers, default_threads(), len(todo)))
    if workers == 1:
        for i in progress(todo, total=len(todo), desc=desc):
            out[i] = run_job(jobs[i])
    elif todo:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {i: pool.submit(run_job, jobs[i]) for i in todo}
            for i in progress(todo, total=len(todo), desc=desc):
                out[i] = futures[i].result()
    return [out[i] for i in range(len(jobs))]


def jobs_for(configs: Sequence[AgentConfig], seeds: Sequence[int], split: dict[str, list[Event]],
             lows: Sequence[Any], tag: str = "main", lim: Limits = Limits()) -> list[Job]:
    """One job per (config, seed): ``seed`` seeds stable-baselines3 and the environments."""
    return [Job(config=c, seed=int(s), train=tuple(split["train"]), test=tuple(split["test"]),
                lows=tuple(lows), lim=lim, tag=tag) for c in configs for s in seeds]

