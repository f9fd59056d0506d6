"""Seeded, replayable churn: providers that quit, join and change bandwidth (the brief: peers
that vanish, fast and slow peers, changing links).

:func:`random_fleet` draws a heterogeneous fleet from GPU and link mixes; :func:`schedule` draws
every device's departure (exponential session lengths: a per-device quit rate), joiners as a
Poisson process (each with its own session), and bandwidth drops as a Poisson process. The same
seed gives the same events, so the runs with and without the backup pool see the same churn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scheduler import Device, device

GPU_MIX = {"rtx3060": 0.25, "rtx3080": 0.35, "rtx3090": 0.25, "rtx4090": 0.15}
LINK_MIX = {"lan-10G": 0.2, "fibre-1G": 0.5, "cable-100M": 0.3}


@dataclass(frozen=True)
class ChurnEvent:
    time: float
    kind: str  # quit | join | bandwidth
    device: str
    joiner: Device | None = None
    bandwidth: float | None = None


def _draw(rng: np.random.Generator, mix: dict[str, float]) -> str:
    keys = sorted(mix)
    p = np.array([mix[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def random_fleet(n: int, seed: int, gpu_mix: dict[str, float] | None = None,
                 link_mix: dict[str, float] | None = None, prefix: str = "dev") -> list[Device]:
    """n devices with GPUs and links drawn from the mixes (*synthetic* fleet)."""
    if n < 1:
        raise ValueError(f"a fleet needs n >= 1 devices, got {n}")
    rng = np.random.default_rng(seed)
    return [device(f"{prefix}{i:04d}", _draw(rng, gpu_mix or GPU_MIX), _draw(rng, link_mix or LINK_MIX))
            for i in range(n)]


def schedule(fleet: list[Device], horizon: float, quit_rate: float, join_rate: float,
             seed: int, bw_rate: float = 0.0, bw_drop: tuple[float, float] = (0.25, 1.0),
             gpu_mix: dict[str, float] | None = None,
             link_mix: dict[str, float] | None = None) -> list[ChurnEvent]:
    """Events in [0, horizon): each device quits after an Exp(quit_rate) session (rates per second);
    joiners arrive at ``join_rate`` and quit the same way; ``bw_rate`` bandwidth changes (a device
    drawn at random, its bandwidth scaled by U(bw_drop))."""
    for name, v in (("horizon", horizon), ("quit_rate", quit_rate), ("join_rate", join_rate),
                    ("bw_rate", bw_rate)):
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be finite and >= 0, got {v!r}")
    rng = np.random.default_rng(seed)
    events: list[ChurnEvent] = []

    def depart(name: str, start: float) -> None:
        if quit_rate > 0:
            t = start + rng.exponential(1 / quit_rate)
            if t < horizon:
                events.append(ChurnEvent(float(t), "quit", name))

    for d in fleet:
        depart(d.name, 0.0)
    t, i = 0.0, 0
    names = [d.name for d in fleet]
    base = {d.name: d.bandwidth for d in fleet}
    while join_rate > 0:
        t += rng.exponential(1 / join_rate)
        if t >= horizon:
            break
        j = device(f"join{i:04d}", _draw(rng, gpu_mix or GPU_MIX), _draw(rng, link_mix or LINK_MIX))
        events.append(ChurnEvent(float(t), "join", j.name, joiner=j))
        names.append(j.name)
        base[j.name] = j.bandwidth
        depart(j.name, t)
        i += 1
    t = 0.0
    while bw_rate > 0:
        t += rng.exponential(1 / bw_rate)
        if t >= horizon:
            break
        name = names[int(rng.integers(len(names)))]
        scale = float(rng.uniform(*bw_drop))
        events.append(ChurnEvent(float(t), "bandwidth", name, bandwidth=base[name] * scale))
    order = {"quit": 0, "join": 1, "bandwidth": 2}
    return sorted(events, key=lambda e: (e.time, order[e.kind], e.device))
