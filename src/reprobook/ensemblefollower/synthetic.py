"""A synthetic heterogeneous driver population (labelled *synthetic* wherever shown).

Controlled data for the question the ensemble is built for: without regime switching a single
calibrated model is optimal and a high-level agent has nothing to learn. Each synthetic driver
(this book's design) has

- its own IDM parameters (the *following* regime) and Gipps parameters (the *approach* regime),
  drawn from plausible ranges;
- situation-triggered regime switching: the driver enters the approach regime when closing in on
  the leader faster than ``dv_on`` or nearer than ``s_on`` and leaves it with hysteresis; on top,
  random switches at ``flip_rate`` per second (a hidden part no observer can predict);
- a reaction delay ``tau_r`` (the driver acts on what it perceived ``tau_r`` seconds ago) and an
  Ornstein-Uhlenbeck acceleration noise;
- the same jerk-constrained kinematics as every simulated follower.

Leaders follow random speed plans (cruise, slow down, stop and go). Long drives are cut into
events like the real data (:func:`.openacc.extract_events`' windows) and checked by the schema.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import DT, EVENT_S
from .kinematics import Limits, step
from .models import IDM, Gipps
from .schema import Event, check_events


@dataclass(frozen=True)
class Population:
    drivers: int = 20
    drive_s: float = 120.0  # one drive per driver, cut into events of EVENT_S
    dv_on: float = 1.0  # [m/s] closing speed that triggers the approach regime
    s_on: float = 8.0  # [m] gap that triggers it
    flip_rate: float = 0.02  # [1/s] random regime flips
    tau_r: tuple[float, float] = (0.3, 0.8)  # [s] reaction delay range
    noise: float = 0.15  # [m/s^2] stationary std of the OU acceleration noise
    noise_tau: float = 1.0  # [s] its correlation time


def _draw_driver(rng: np.random.Generator) -> tuple[IDM, Gipps]:
    idm = IDM(a_max=rng.uniform(0.8, 2.0), b=rng.uniform(1.0, 2.5), v0=rng.uniform(18, 30),
              T=rng.uniform(1.0, 1.8), s0=rng.uniform(1.5, 3.0))
    gipps = Gipps(a=rng.uniform(1.5, 3.0), b=rng.uniform(-4.0, -2.0), V=rng.uniform(18, 30),
                  tau=rng.uniform(0.5, 0.9), s0=rng.uniform(1.0, 2.5))
    return idm, gipps


def leader_speed(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random speed plan: targets in [0, 22] m/s reached with bounded acceleration."""
    v = np.empty(n)
    v[0] = rng.uniform(5, 15)
    target, left = v[0], 0
    for t in range(1, n):
        if left <= 0:
            target = 0.0 if rng.random() < 0.15 else rng.uniform(4, 22)
            left = int(rng.uniform(4, 12) / DT)
        acc = np.clip(target - v[t - 1], -2.5 * DT, 1.2 * DT)
        v[t] = max(0.0, v[t - 1] + acc)
        left -= 1
    return v


def drive(pop: Population, rng: np.random.Generator, lim: Limits = Limits()
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One driver's drive behind a random leader: (s, v, v_lead, regime) at 10 Hz."""
    n = int(round(pop.drive_s / DT))
    idm, gipps = _draw_driver(rng)
    delay = int(round(rng.uniform(*pop.tau_r) / DT))
    vl = leader_speed(n, rng)
    xl = np.concatenate([[0.0], np.cumsum((vl[1:] + vl[:-1]) * DT / 2)])
    v = np.zeros(n)
    x = np.zeros(n)
    regime = np.zeros(n, dtype=int)
    v[0] = vl[0]
    x[0] = xl[0] - (idm.s0 + idm.T * v[0] + 2.0)
    a_prev, eta = 0.0, 0.0
    theta = DT / pop.noise_tau
    for t in range(n - 1):
        p = max(0, t - delay)  # what the driver perceived tau_r ago
        s_p, v_p, vl_p = xl[p] - x[p], v[p], vl[p]
        closing = v_p - vl_p
        prev = regime[t - 1] if t else 0
        on = closing > pop.dv_on or s_p < pop.s_on
        off = closing < 0.0 and s_p > pop.s_on + 2.0
        r = 1 if on else (0 if off else prev)
        if rng.random() < pop.flip_rate * DT:
            r = 1 - r
        regime[t] = r
        a_cmd = float((gipps if r else idm).accel(s_p, v_p, vl_p))
        eta += -theta * eta + pop.noise * np.sqrt(2 * theta) * rng.standard_normal()
        x[t + 1], v[t + 1], a_prev = step(x[t], v[t], a_prev, a_cmd + eta, lim)
    regime[-1] = regime[-2]
    return xl - x, v, vl, regime


def population(pop: Population, seed: int, event_s: float = EVENT_S) -> tuple[list[Event], int]:
    """Events of every driver (cut into windows of ``event_s``) and the number of windows
    dropped because the synthetic driver collided (gap <= 0) or stood still."""
    rng = np.random.default_rng(seed)
    win = int(round(event_s / DT))
    events, dropped = [], 0
    for d in range(pop.drivers):
        s, v, vl, reg = drive(pop, rng)
        for k, a in enumerate(range(0, len(s) - win + 1, win)):
            sl = slice(a, a + win)
            if s[sl].min() <= 0 or v[sl].mean() < 1.0:
                dropped += 1
                continue
            events.append(Event(id=f"synthetic:driver{d:03d}:{k}", source="synthetic",
                                run=f"synthetic-driver{d:03d}", pair=f"driver{d:03d}",
                                t=np.arange(win) * DT, s=s[sl], v=v[sl], v_lead=vl[sl],
                                rows=np.arange(a, a + win), synthetic=True, regime=reg[sl]))
    return check_events(events), dropped
