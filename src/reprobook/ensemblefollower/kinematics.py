"""The jerk-constrained kinematic model (the paper's abstract; the update is the brief's design).

With step ``dt`` = 0.1 s and the previous *applied* acceleration ``a_{t-1}``::

    a_t   = clip(a_cmd, a_{t-1} - j_max dt, a_{t-1} + j_max dt)      (jerk bound)
    a_t   = clip(a_t, a_min, a_max)                                   (acceleration bound)
    v_t+1 = max(0, v_t + a_t dt)
    x_t+1 = x_t + v_t dt + a'_t dt^2 / 2,   a'_t = (v_t+1 - v_t) / dt

``a'_t`` is the acceleration actually applied: it equals ``a_t`` unless the vehicle comes to a
stop within the step (then the speed is held at 0 and ``a'_t`` lies between ``a_t`` and 0), so
the position update is the trapezoid rule on the speed and never moves a car backwards. ``a'_t``
is what the next step's jerk bound is measured from. ``jerk=False`` drops the jerk bound (the
ablation of notebook 04). All functions work element-wise on arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .constants import A_MAX, A_MIN, DT, J_MAX


@dataclass(frozen=True)
class Limits:
    """Bounds of the kinematic model."""

    a_min: float = A_MIN
    a_max: float = A_MAX
    j_max: float = J_MAX
    dt: float = DT
    jerk: bool = True  # False: no jerk bound (acceleration bound only)

    def __post_init__(self) -> None:
        if not (self.a_min < 0 < self.a_max and self.j_max > 0 and self.dt > 0):
            raise ValueError(f"inconsistent kinematic limits {self}")


def bound_accel(a_cmd: Any, a_prev: Any, lim: Limits) -> Any:
    """The acceleration the vehicle applies for a commanded ``a_cmd`` (jerk, then range)."""
    a = a_cmd
    if lim.jerk:
        step = lim.j_max * lim.dt
        a = np.clip(a, a_prev - step, a_prev + step)
    return np.clip(a, lim.a_min, lim.a_max)


def advance(x: Any, v: Any, a: Any, dt: float = DT) -> tuple[Any, Any, Any]:
    """One step of the point mass: ``(x_next, v_next, a_applied)`` with speed held >= 0."""
    v_next = np.maximum(v + a * dt, 0.0)
    a_applied = (v_next - v) / dt
    return x + v * dt + a_applied * dt * dt / 2.0, v_next, a_applied


def step(x: Any, v: Any, a_prev: Any, a_cmd: Any, lim: Limits) -> tuple[Any, Any, Any]:
    """Bound the command and advance: ``(x_next, v_next, a_applied)``."""
    return advance(x, v, bound_accel(a_cmd, a_prev, lim), lim.dt)
