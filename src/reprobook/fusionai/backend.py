"""The interface both execution backends share (SimPy: virtual devices; Ray: actors).

``backend.run(broker, events, iterations)`` trains ``iterations`` synchronous iterations of the
broker's job under the churn ``events`` (:mod:`.churn`) and returns a :class:`RunTrace`: one
record per completed iteration, the broker's actions, and the time lost to churn. Times are
virtual seconds (SimPy) or wall-clock seconds since the start (Ray).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .broker import Action, Broker
from .churn import ChurnEvent


@dataclass(frozen=True)
class IterationRecord:
    index: int
    start: float
    end: float
    tokens: float
    replicas: int
    stages: int
    loss: float | None = None


@dataclass
class RunTrace:
    backend: str
    iterations: list[IterationRecord] = field(default_factory=list)
    actions: list[tuple[float, Action]] = field(default_factory=list)
    aborted: int = 0  # iterations restarted after a quit
    lost_s: float = 0.0  # work discarded by aborted iterations
    restore_s: float = 0.0  # moving stage state
    stalled_s: float = 0.0  # waiting with a fleet that could not hold the model
    error: str = ""  # the broker's error if the run could not finish
    events_processed: int = 0  # discrete events (SimPy)

    @property
    def done(self) -> int:
        return len(self.iterations)

    @property
    def elapsed(self) -> float:
        return self.iterations[-1].end if self.iterations else 0.0

    @property
    def tokens(self) -> float:
        return float(sum(r.tokens for r in self.iterations))

    def throughput(self) -> float:
        """Tokens per second over the whole run (0 if nothing completed)."""
        return self.tokens / self.elapsed if self.elapsed > 0 else 0.0

    def series(self, window: float) -> tuple[np.ndarray, np.ndarray]:
        """Throughput in consecutive windows of ``window`` seconds: (window ends, tokens/s)."""
        if not self.iterations:
            return np.zeros(0), np.zeros(0)
        ends = np.array([r.end for r in self.iterations])
        toks = np.array([r.tokens for r in self.iterations])
        edges = np.arange(0.0, ends[-1] + window, window)
        sums, _ = np.histogram(ends, bins=edges, weights=toks)
        return edges[1:], sums / window


class Backend(Protocol):
    name: str

    def run(self, broker: Broker, events: list[ChurnEvent], iterations: int) -> RunTrace: ...
