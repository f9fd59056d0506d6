"""The gymnasium environment of the high-level agent (the book's formalisation of the paper's MDP).

One episode is one car-following event: the leader is replayed from data, the follower starts
from its observed first K samples and is then driven by the agent's choice among the low-level
models (``select``), by a softmax-weighted mix of their proposals (``weight``), or — for the
end-to-end baseline — by the agent's own acceleration (``accel``), always through the
jerk-constrained kinematics. Observation, action and reward are :mod:`.mdp`'s. An action outside
the action space raises ``ValueError``. The episode terminates on a collision (gap <= 0, with the
penalty of :func:`.mdp.collision_penalty`) and is truncated at the end of the event's data.

The step is plain NumPy on one event (no pandas), so that stable-baselines3 spends its time
learning, not simulating. :func:`.simulate.simulate` with an :class:`.simulate.EnsembleController`
reproduces the same trajectories for many events at once (a test checks it).
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np

from . import mdp
from .constants import DT, HISTORY
from .kinematics import Limits, step
from .models import saturate
from .schema import Event


class CarFollowingEnv(gym.Env):
    """One car-following event per episode; see the module docstring."""

    metadata = {"render_modes": []}

    def __init__(self, events: Sequence[Event], lows: Sequence[Any], mode: str = "select",
                 lim: Limits = Limits(), k: int = HISTORY, sequential: bool = False) -> None:
        if not events:
            raise ValueError("the environment needs at least one event")
        if mode != "accel" and not lows:
            raise ValueError(f"mode {mode!r} needs at least one low-level model")
        self.mode, self.lows, self.lim, self.k = mode, list(lows), lim, k
        self.sequential = sequential  # True: episodes walk through the events in order
        self._ev = [(e.id, e.s, e.v, e.v_lead, e.x, e.x_lead, e.a) for e in events]
        if min(len(e[1]) for e in self._ev) < k + 2:
            raise ValueError(f"every event needs >= {k + 2} samples")
        self.action_space = mdp.action_space(mode, len(self.lows))
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (mdp.obs_dim(mode, len(self.lows),
                                                                          k),), np.float32)
        self._next = 0

    # --- helpers -----------------------------------------------------------------------------
    def _proposals(self, t: int) -> np.ndarray | None:
        if self.mode == "accel":
            return None
        s, v, vl = self._s[t], self._v[t], self._e[3][t]
        return np.array([saturate(m.accel(s, v, vl)) for m in self.lows], dtype=float)

    def _obs(self) -> np.ndarray:
        t, k = self._t, self.k
        sl = slice(t - k + 1, t + 1)
        v = self._v[sl]
        return mdp.observation(self._s[sl], v, v - self._e[3][sl], self._prop)

    # --- gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if options and "event" in options:
            i = int(options["event"])
        elif self.sequential:
            i, self._next = self._next % len(self._ev), self._next + 1
        else:
            i = int(self.np_random.integers(len(self._ev)))
        self._e = e = self._ev[i]
        self._t = self.k - 1
        self._s, self._v, self._x = e[1].copy(), e[2].copy(), e[4].copy()
        self._a = float(e[6][self._t - 1])
        self._sse, self._steps = 0.0, 0
        self._prop = self._proposals(self._t)
        return self._obs(), {"event": e[0]}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is outside the action space {self.action_space} "
                             f"(mode {self.mode!r})")
        if self.mode == "select":
            a_cmd = float(self._prop[int(action)])  # type: ignore[index]
        else:
            a_cmd = float(mdp.command(self.mode, np.asarray(action), self._prop))
        e, t = self._e, self._t
        x, v, a = step(self._x[t], self._v[t], self._a, a_cmd, self.lim)
        t += 1
        s = float(e[5][t] - x)
        self._x[t], self._v[t], self._s[t] = x, v, s
        jerk = (a - self._a) / DT
        self._a, self._t = float(a), t
        self._sse += (s - e[1][t]) ** 2
        self._steps += 1
        n = len(e[1])
        terminated = s <= 0.0
        if terminated:
            reward = mdp.collision_penalty(n - 1 - t)
        else:
            reward = -float(mdp.step_cost(s, v, e[1][t], e[2][t], jerk))
        truncated = (not terminated) and t >= n - 1
        info: dict[str, Any] = {"event": e[0]}
        if terminated or truncated:
            info.update(spacing_rmse=float(np.sqrt(self._sse / self._steps)),
                        collision=bool(terminated), steps=self._steps)
        self._prop = self._proposals(t) if not terminated else self._prop
        return self._obs(), float(reward), bool(terminated), bool(truncated), info
