"""The high-level MDP's pieces, shared by the gymnasium environment and the batched simulator.

The abstract's agent either *selects* one low-level model or *allocates weights* across all of
them according to the current state. This book's formalisation (a design choice, the brief's):

- observation: (s, v, dv) over the last K steps and every low-level model's proposed acceleration
  (saturated to [a_min, a_max]), each scaled to order one;
- action: ``select`` -> ``Discrete(M)``, a_cmd = proposal[action]; ``weight`` -> ``Box(M)``
  logits in [-L, L], a_cmd = softmax(logits) . proposals; the end-to-end baseline ``accel`` ->
  ``Box(1)`` in [-1, 1], mapped piecewise linearly onto [a_min, a_max] with 0 -> 0 (an untrained
  policy starts near zero acceleration, not near the midpoint of the asymmetric range);
- reward (per step, after the jerk-constrained update)::

      r = -min(|s - s_obs| / max(s_obs, S_FLOOR), 1) - w_v min(|v - v_obs| / max(v_obs, V_FLOOR), 1)
          - w_j |jerk| / j_max

  and on a collision (s <= 0) the episode terminates with the worst per-step reward times the
  steps left, so that crashing early can never pay.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from .constants import (A_MAX, A_MIN, A_SCALE, DV_SCALE, J_MAX, LOGIT_BOUND, S_FLOOR, S_SCALE,
                        V_FLOOR, V_SCALE, W_JERK, W_SPEED)

MODES = ("select", "weight", "accel")


def action_space(mode: str, m: int) -> spaces.Space:
    if mode == "select":
        return spaces.Discrete(m)
    if mode == "weight":
        return spaces.Box(-LOGIT_BOUND, LOGIT_BOUND, shape=(m,), dtype=np.float32)
    if mode == "accel":
        return spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    raise ValueError(f"mode {mode!r} is not one of {MODES}")


def obs_dim(mode: str, m: int, k: int) -> int:
    return 3 * k + (0 if mode == "accel" else m)


def observation(s_win: np.ndarray, v_win: np.ndarray, dv_win: np.ndarray,
                proposals: np.ndarray | None) -> np.ndarray:
    """Concatenate scaled windows (..., K) and proposals (..., M) into float32 (..., 3K + M)."""
    parts = [s_win / S_SCALE, v_win / V_SCALE, dv_win / DV_SCALE]
    if proposals is not None:
        parts.append(proposals / A_SCALE)
    return np.clip(np.concatenate(parts, axis=-1), -10.0, 10.0).astype(np.float32)


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def command(mode: str, action: Any, proposals: np.ndarray | None) -> Any:
    """The commanded acceleration for an action (batched over leading axes)."""
    if mode == "select":
        idx = np.asarray(action, dtype=int)
        return np.take_along_axis(proposals, idx[..., None], axis=-1)[..., 0]
    if mode == "weight":
        return (softmax(action) * proposals).sum(axis=-1)
    if mode == "accel":
        u = np.clip(np.asarray(action, dtype=float)[..., 0], -1.0, 1.0)
        return np.where(u >= 0.0, u * A_MAX, -u * A_MIN)
    raise ValueError(f"mode {mode!r} is not one of {MODES}")


def step_cost(s: Any, v: Any, s_obs: Any, v_obs: Any, jerk: Any) -> Any:
    """Minus the per-step reward (>= 0, at most ``WORST``)."""
    e_s = np.minimum(np.abs(s - s_obs) / np.maximum(s_obs, S_FLOOR), 1.0)
    e_v = np.minimum(np.abs(v - v_obs) / np.maximum(v_obs, V_FLOOR), 1.0)
    e_j = np.minimum(np.abs(jerk) / J_MAX, 1.0)
    return e_s + W_SPEED * e_v + W_JERK * e_j


WORST = 1.0 + W_SPEED + W_JERK  # the largest per-step cost


def collision_penalty(steps_left: int) -> float:
    """Terminal reward on a collision: the worst cost for every step not driven, and one more."""
    return -WORST * (steps_left + 1)
