"""The performance model of decentralised pipeline training and inference (the paper's
performance analysis, written out in the brief's notation).

For pipeline stage k on a device with FLOP/s F_k and link bandwidth B_k:

- compute, one micro-batch of b sequences of s tokens, forward + backward:
  ``t_k = 6 P_k b s / (eta F_k)``  (:func:`compute_time`; 2 P b s forward FLOPs, 4 P b s backward);
- communication to the next stage, activation forward and gradient back, FP16 hidden states:
  ``c_k = 2 (latency + 2 b s h / B_k)``  (:func:`comm_time`);
- makespan of m micro-batches through K stages whose compute and links overlap:
  ``sum_k (t_k + c_k) + (m - 1) max_k max(t_k, c_k)``  (:func:`pipeline_makespan`) — the makespan
  of a flow shop of identical jobs, which for equal stages is the familiar (m + K - 1) t;
- ring all-reduce of stage k's gradients over R data-parallel replicas:
  ``2 (R - 1) / R * 2 P_k / B``  (:func:`ring_allreduce_time`);
- memory of stage k (0-based) under 1F1B: model states plus the activations of the
  ``min(m, K - k)`` micro-batches in flight (:func:`stage_memory_1f1b`).

Every function is pure and accepts Python numbers or NumPy arrays. With integer inputs
:func:`pipeline_makespan` is exact integer arithmetic (the SimPy backend's test relies on it).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .constants import ADAM_STATE_BYTES, FP16_BYTES


def _check(name: str, value: float, positive: bool = True) -> None:
    v = np.asarray(value, dtype=float)
    if np.any(~np.isfinite(v)) or np.any(v <= 0 if positive else v < 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'} and finite, got {value!r}")


def compute_time(P_k: float, b: float, s: float, eta: float, F_k: float,
                 flops_per_param_token: float = 6.0) -> float:
    """t_k = 6 P_k b s / (eta F_k) (``flops_per_param_token`` = 8 with recomputation, 2 for
    inference)."""
    _check("eta", eta)
    _check("F_k", F_k)
    return flops_per_param_token * P_k * b * s / (eta * F_k)


def comm_time(b: float, s: float, h: float, B_k: float, latency: float, directions: int = 2,
              elem_bytes: int = FP16_BYTES) -> float:
    """c_k = directions * (latency + elem_bytes * b s h / B_k); 2 directions in training."""
    _check("bandwidth B_k", B_k)
    _check("latency", latency, positive=False)
    return directions * (latency + elem_bytes * b * s * h / B_k)


def pipeline_makespan(t: Sequence[float], c: Sequence[float], m: int) -> float:
    """sum_k (t_k + c_k) + (m - 1) * max_k max(t_k, c_k) for m >= 1 micro-batches."""
    if len(t) != len(c) or not len(t):
        raise ValueError(f"t and c need one entry per stage, got {len(t)} and {len(c)}")
    if m < 1:
        raise ValueError(f"m (micro-batches) must be >= 1, got {m}")
    fill = sum(tk + ck for tk, ck in zip(t, c))
    return fill + (m - 1) * max(max(t), max(c))


def bottleneck(t: Sequence[float], c: Sequence[float]) -> float:
    """max_k max(t_k, c_k): the time between micro-batches in the steady state."""
    return max(max(t), max(c))


def ring_allreduce_time(P_k: float, R: int, B: float, elem_bytes: int = FP16_BYTES,
                        latency: float = 0.0) -> float:
    """2 (R - 1) / R * elem_bytes P_k / B, plus 2 (R - 1) latencies; 0 for one replica."""
    if R < 1:
        raise ValueError(f"R (replicas) must be >= 1, got {R}")
    if R == 1:
        return 0.0
    _check("bandwidth B", B)
    return 2 * (R - 1) / R * elem_bytes * P_k / B + 2 * (R - 1) * latency


def stage_memory_1f1b(P_k: float, act_per_microbatch: float, k: int, K: int, m: int,
                      state_bytes: float = ADAM_STATE_BYTES) -> float:
    """Model states + min(m, K - k) micro-batches of activations for stage k (0-based) of K."""
    if not 0 <= k < K:
        raise ValueError(f"stage index k = {k} outside 0..{K - 1}")
    return state_bytes * P_k + min(m, K - k) * act_per_microbatch


def iteration_time(t: Sequence[float], c: Sequence[float], m: int,
                   allreduce: Sequence[float] = ()) -> float:
    """One synchronous data-parallel iteration: the pipeline's makespan, then the slowest
    stage's gradient all-reduce."""
    return pipeline_makespan(t, c, m) + (max(allreduce) if len(allreduce) else 0.0)


def decode_round_time(t: Sequence[float], c: Sequence[float], m: int) -> float:
    """Auto-regressive decoding: each of m micro-batches needs its previous token back before it
    can enter stage 1 again, so one round (one new token for every sequence) takes the longer of
    the pipeline's round trip and m steady-state slots."""
    return max(sum(tk + ck for tk, ck in zip(t, c)), m * bottleneck(t, c))
