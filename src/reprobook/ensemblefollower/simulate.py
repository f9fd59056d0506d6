"""Closed-loop simulation of many events at once (the paper's closed-loop evaluation).

Every event starts from its observed first ``K`` = ``HISTORY`` samples; from step ``k0 = K - 1``
on the follower is driven by a controller through the jerk-constrained kinematics, while the
leader is replayed from data (its rear at ``x_lead = x_obs + s_obs``, so replaying the observed
follower reproduces the observed gap exactly). The simulated gap is ``s = x_lead - x``. Events of
different lengths are padded with their last sample and masked. Controllers see the simulated
history and return one commanded acceleration per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from . import mdp
from .constants import G, HISTORY
from .kinematics import Limits, step
from .models import saturate
from .schema import Event


@dataclass(frozen=True)
class Batch:
    """Events padded to a common length ``T`` (arrays of shape (E, T))."""

    ids: tuple[str, ...]
    n: np.ndarray
    s: np.ndarray
    v: np.ndarray
    v_lead: np.ndarray
    x: np.ndarray
    x_lead: np.ndarray
    a: np.ndarray

    @classmethod
    def from_events(cls, events: Sequence[Event]) -> "Batch":
        if not events:
            raise ValueError("no events to simulate")
        n = np.array([len(e) for e in events])
        if n.min() < HISTORY + 2:
            raise ValueError(f"events need >= {HISTORY + 2} samples, got {n.min()}")
        T = int(n.max())

        def pad(get: Callable[[Event], np.ndarray]) -> np.ndarray:
            return np.stack([np.pad(get(e), (0, T - len(e)), mode="edge") for e in events])

        return cls(ids=tuple(e.id for e in events), n=n, s=pad(lambda e: e.s),
                   v=pad(lambda e: e.v), v_lead=pad(lambda e: e.v_lead), x=pad(lambda e: e.x),
                   x_lead=pad(lambda e: e.x_lead), a=pad(lambda e: e.a))

    @property
    def shape(self) -> tuple[int, int]:
        return self.s.shape  # type: ignore[return-value]

    def eval_mask(self, k0: int = HISTORY - 1) -> np.ndarray:
        """The simulated samples: k0 < t < n."""
        t = np.arange(self.shape[1])
        return (t[None, :] > k0) & (t[None, :] < self.n[:, None])


@dataclass
class Rollout:
    """A closed-loop simulation: gap, speed, position and applied acceleration per step."""

    batch: Batch
    s: np.ndarray
    v: np.ndarray
    x: np.ndarray
    a: np.ndarray  # applied acceleration during step t (t < k0: observed)
    k0: int
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        return self.batch.eval_mask(self.k0)


class Controller:
    """Maps the simulated history to a commanded acceleration per event."""

    name = "controller"

    def reset(self, batch: Batch) -> None:  # noqa: B027 - optional hook
        pass

    def command(self, t: int, s: np.ndarray, v: np.ndarray, v_lead: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def extras(self) -> dict[str, np.ndarray]:
        return {}


class ModelController(Controller):
    """One low-level model acting alone (a single-model baseline)."""

    def __init__(self, model: Any, name: str | None = None, fn: str = "accel") -> None:
        self.model, self.name, self._fn = model, name or model.name, getattr(model, fn)

    def command(self, t: int, s: np.ndarray, v: np.ndarray, v_lead: np.ndarray) -> np.ndarray:
        return self._fn(s[:, t], v[:, t], v_lead[:, t])


def windows(t: int, s: np.ndarray, v: np.ndarray, v_lead: np.ndarray,
            k: int = HISTORY) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The last ``k`` samples (E, k) of s, v and dv = v - v_lead up to and including t."""
    sl = slice(t - k + 1, t + 1)
    return s[:, sl], v[:, sl], v[:, sl] - v_lead[:, sl]


def proposals(lows: Sequence[Any], s: Any, v: Any, v_lead: Any) -> np.ndarray:
    """Every low-level model's saturated proposal, stacked on the last axis."""
    return np.stack([saturate(m.accel(s, v, v_lead)) for m in lows], axis=-1)


class EnsembleController(Controller):
    """The high-level agent over low-level models: ``policy(obs) -> action`` per event."""

    def __init__(self, policy: Callable[[np.ndarray], np.ndarray], lows: Sequence[Any],
                 mode: str, name: str = "EnsembleFollower", k: int = HISTORY) -> None:
        self.policy, self.lows, self.mode, self.name, self.k = policy, list(lows), mode, name, k
        self._actions: list[np.ndarray] = []

    def reset(self, batch: Batch) -> None:
        self._actions = []

    def command(self, t: int, s: np.ndarray, v: np.ndarray, v_lead: np.ndarray) -> np.ndarray:
        prop = None if self.mode == "accel" else proposals(self.lows, s[:, t], v[:, t],
                                                           v_lead[:, t])
        obs = mdp.observation(*windows(t, s, v, v_lead, self.k), prop)
        action = np.asarray(self.policy(obs))
        self._actions.append(action)
        return mdp.command(self.mode, action, prop)

    def extras(self) -> dict[str, np.ndarray]:
        if not self._actions:
            return {}
        acts = np.stack(self._actions, axis=1)  # (E, steps[, M])
        if self.mode == "weight":
            return {"weights": mdp.softmax(acts)}
        if self.mode == "select":
            return {"selected": acts.astype(int)}
        return {"action": acts}


def uniform_policy(m: int) -> Callable[[np.ndarray], np.ndarray]:
    """Weighting mode with equal logits: the plain average of the proposals."""
    return lambda obs: np.zeros((obs.shape[0], m), dtype=np.float32)


def random_policy(m: int, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Selection mode choosing a model uniformly at random at every step."""
    rng = np.random.default_rng(seed)
    return lambda obs: rng.integers(0, m, size=obs.shape[0])


def simulate(batch: Batch, controller: Controller, lim: Limits = Limits(),
             k0: int = HISTORY - 1) -> Rollout:
    """Drive every event of ``batch`` with ``controller`` from step ``k0`` to its end."""
    s, v, x, a = batch.s.copy(), batch.v.copy(), batch.x.copy(), batch.a.copy()
    a_prev = batch.a[:, k0 - 1].copy()
    controller.reset(batch)
    for t in range(k0, batch.shape[1] - 1):
        a_cmd = np.asarray(controller.command(t, s, v, batch.v_lead), dtype=float)
        x[:, t + 1], v[:, t + 1], a_prev = step(x[:, t], v[:, t], a_prev, a_cmd, lim)
        a[:, t] = a_prev
        s[:, t + 1] = batch.x_lead[:, t + 1] - x[:, t + 1]
    return Rollout(batch=batch, s=s, v=v, x=x, a=a, k0=k0, extras=controller.extras())


REPLAY_LIMITS = Limits(a_min=-2 * G, a_max=2 * G, jerk=False)  # wider than the schema's 1 g


def replay(batch: Batch, lim: Limits = REPLAY_LIMITS, k0: int = HISTORY - 1) -> Rollout:
    """Drive every follower with its own observed acceleration (reproduces the data)."""

    class _Observed(Controller):
        name = "observed acceleration"

        def command(self, t: int, s: np.ndarray, v: np.ndarray, v_lead: np.ndarray) -> np.ndarray:
            return batch.a[:, t]

    return simulate(batch, _Observed(), lim, k0)
