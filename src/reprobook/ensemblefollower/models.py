"""Low-level car-following models: IDM, Gipps and a data-driven MLP (the paper's low level).

The journal abstract names IDM and Gipps among EnsembleFollower's low-level models; the MLP on
(s, v, dv) -> a is this book's data-driven member (FollowNet's "NN"). Every model maps the state
(gap ``s`` [m], speed ``v`` [m/s], leader speed ``v_lead`` [m/s]) to an acceleration [m/s^2] and
works element-wise on NumPy arrays of any shape, so that one call simulates many events (and, in
calibration, many parameter candidates) at once. Parameters broadcast against the state.

IDM (Treiber, Hennecke & Helbing 2000), in the brief's notation, with ``dv = v - v_lead``::

    a = a_max [1 - (v / v0)^delta - (s* / s)^2],   s* = s0 + v T + v dv / (2 sqrt(a_max b))

(``s_star_floor=True`` takes Treiber & Kesting's ``s* = s0 + max(0, v T + v dv / (2 sqrt(ab)))``.)

Gipps (1981), eq. (1)-(2) with the gap written as ``x_{n-1} - s_{n-1} - x_n = s - s0``::

    v_acc = v + 2.5 a tau (1 - v/V) sqrt(0.025 + v/V)
    v_dec = b tau + sqrt(b^2 tau^2 - b [2 (s - s0) - v tau - v_lead^2 / b_hat])
    a_cmd = (min(v_acc, v_dec) - v) / tau              (b, b_hat < 0; b_hat = b by default)

A negative discriminant (no safe speed exists) gives ``v_dec = 0``: the hardest braking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .constants import A_MAX, A_MIN, A_SCALE, DV_SCALE, IDM_DELTA, S_SCALE, V_SCALE

S_MIN = 0.1  # [m] gap floor inside the models (a collided simulation keeps running)


class LowLevel(Protocol):
    name: str

    def accel(self, s: Any, v: Any, v_lead: Any) -> Any: ...


@dataclass(frozen=True)
class IDM:
    """Intelligent Driver Model; fields are its parameters (SI units)."""

    a_max: Any = 1.0
    b: Any = 1.5
    v0: Any = 15.0
    T: Any = 1.0
    s0: Any = 2.0
    delta: float = IDM_DELTA
    s_star_floor: bool = False
    name: str = "IDM"

    PARAMS = ("a_max", "b", "v0", "T", "s0")

    def accel(self, s: Any, v: Any, v_lead: Any) -> Any:
        dyn = v * self.T + v * (v - v_lead) / (2.0 * np.sqrt(self.a_max * self.b))
        if self.s_star_floor:
            dyn = np.maximum(dyn, 0.0)
        s_star = self.s0 + dyn
        return self.a_max * (1.0 - (v / self.v0) ** self.delta
                             - (s_star / np.maximum(s, S_MIN)) ** 2)

    def free_road(self, s: Any, v: Any, v_lead: Any) -> Any:
        """IDM without its interaction term: a follower blind to its leader (a safety null)."""
        return self.a_max * (1.0 - (v / self.v0) ** self.delta) + 0.0 * s

    def params(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in self.PARAMS}


@dataclass(frozen=True)
class Gipps:
    """Gipps' safe-distance model as an acceleration over its reaction time ``tau``."""

    a: Any = 1.5
    b: Any = -2.0
    V: Any = 15.0
    tau: Any = 0.7
    s0: Any = 2.0
    b_hat: Any = None  # the follower's estimate of the leader's braking; None: equal to b
    name: str = "Gipps"

    PARAMS = ("a", "b", "V", "tau", "s0")

    def accel(self, s: Any, v: Any, v_lead: Any) -> Any:
        a, b, V, tau = self.a, self.b, self.V, self.tau
        b_hat = b if self.b_hat is None else self.b_hat
        v_acc = v + 2.5 * a * tau * (1.0 - v / V) * np.sqrt(0.025 + v / V)
        disc = b * b * tau * tau - b * (2.0 * (np.maximum(s, S_MIN) - self.s0) - v * tau
                                        - v_lead * v_lead / b_hat)
        v_dec = np.where(disc > 0, b * tau + np.sqrt(np.maximum(disc, 0.0)), 0.0)
        v_next = np.maximum(np.minimum(v_acc, v_dec), 0.0)
        return (v_next - v) / tau

    def params(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in self.PARAMS}


def features(s: Any, v: Any, v_lead: Any) -> np.ndarray:
    """The MLP's input: (s, v, dv) scaled to order one, stacked on the last axis."""
    return np.stack([np.asarray(s) / S_SCALE, np.asarray(v) / V_SCALE,
                     (np.asarray(v) - np.asarray(v_lead)) / DV_SCALE], axis=-1)


@dataclass(frozen=True)
class NumpyMLP:
    """A trained MLP (s, v, dv) -> a evaluated in NumPy (weights exported from torch, tanh
    hidden layers): fast enough to run inside every environment step."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    name: str = "MLP"
    meta: dict[str, Any] = field(default_factory=dict)

    def accel(self, s: Any, v: Any, v_lead: Any) -> Any:
        h = features(s, v, v_lead)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w.T + b
            if i < len(self.weights) - 1:
                h = np.tanh(h)
        out = h[..., 0] * A_SCALE
        return float(out) if np.ndim(out) == 0 else out


def saturate(a: Any) -> Any:
    """A proposal limited to the vehicle's range [A_MIN, A_MAX] (what the agent sees/combines)."""
    return np.clip(a, A_MIN, A_MAX)
