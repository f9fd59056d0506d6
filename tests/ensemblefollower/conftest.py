"""Shared builders for the EnsembleFollower tests: small hand-made events, no real data needed."""

from __future__ import annotations

import numpy as np
import pytest

from reprobook.ensemblefollower.constants import DT
from reprobook.ensemblefollower.models import IDM
from reprobook.ensemblefollower.schema import Event
from reprobook.ensemblefollower.simulate import Batch, ModelController, simulate
from reprobook.ensemblefollower.synthetic import leader_speed


def make_event(s, v, v_lead, eid="e0", run="r0") -> Event:
    n = len(s)
    return Event(id=eid, source="test.csv", run=run, pair="1-2", t=np.arange(n) * DT,
                 s=np.asarray(s, float), v=np.asarray(v, float),
                 v_lead=np.asarray(v_lead, float), rows=np.arange(n) + 2)


def idm_events(model: IDM, n_events: int, seconds: float, seed: int) -> list[Event]:
    """Events whose follower *is* ``model`` (driven through the book's simulator)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds / DT))
    out = []
    for k in range(n_events):
        vl = leader_speed(n, rng)
        v0 = vl[0]
        s_eq = float(model.s0 + model.T * v0) + 1.0
        placeholder = make_event(np.full(n, s_eq), np.full(n, v0), vl, f"idm{k}")
        # drive the follower with the model from the start: the leader's rear is x + s_eq at t=0
        xl = np.concatenate([[0.0], np.cumsum((vl[1:] + vl[:-1]) * DT / 2)]) + s_eq
        b = Batch.from_events([placeholder])
        b = Batch(ids=b.ids, n=b.n, s=b.s, v=b.v, v_lead=b.v_lead, x=np.zeros_like(b.x),
                  x_lead=xl[None, :], a=np.zeros_like(b.a))
        ro = simulate(b, ModelController(model), k0=1)
        out.append(make_event(ro.s[0], ro.v[0], vl, f"idm{k}"))
    return out


@pytest.fixture
def simple_events() -> list[Event]:
    """Three smooth events: a leader braking and accelerating, a follower at a safe gap."""
    evs = []
    for k in range(3):
        t = np.arange(200) * DT
        vl = 12 + 3 * np.sin(t / (4 + k))
        v = 12 + 3 * np.sin((t - 1.0) / (4 + k))
        s = 20 + np.cumsum(vl - v) * DT
        evs.append(make_event(s, v, vl, f"ev{k}"))
    return evs
