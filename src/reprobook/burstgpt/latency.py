"""A roofline latency model of one serving iteration (the chapter's serving experiment).

For a decoder-only model with P parameters, L layers, width d, weights of W bytes, a GPU with peak
F FLOP/s and bandwidth BW bytes/s, achieved fractions MFU and MBU, and a fixed per-iteration
overhead c:

- prefill of prompts s_1..s_b (n = sum s_i tokens):
  T = max( (2 P n + 2 L d sum s_i^2) / (F MFU),  W / (BW MBU) ) + c
- one decode step of b sequences holding K = sum ctx_i cached tokens:
  T = max( (W + K kv) / (BW MBU),  (2 P b + 4 L d K) / (F MFU) ) + c

with kv = 2 L h_kv d_head bytes of K/V cache per token (524,288 B for Llama-2-7B in fp16).

- one mixed iteration of vLLM V1 (chunked prefill): prefill chunks of c_i new tokens after ctx_i
  already cached tokens, plus b decoding sequences holding K cached tokens:
  T = max( (2 P (sum c_i + b) + 2 L d sum c_i (2 ctx_i + c_i) + 4 L d K) / (F MFU),
           (W + (K + sum ctx_i) kv) / (BW MBU) ) + c
  which is the prefill formula for whole prompts (ctx_i = 0, b = 0) and the decode formula for
  b sequences (no chunks).
MFU, MBU and c are assumptions until calibrated against a real server (the gpu-1x profile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .constants import A100_80GB, GPU, LLAMA2_7B, ModelConfig


@dataclass(frozen=True)
class LatencyModel:
    gpu: GPU = A100_80GB
    model: ModelConfig = LLAMA2_7B
    mfu: float = 0.5
    mbu: float = 0.7
    overhead_s: float = 0.004

    def prefill(self, prompt_tokens: np.ndarray) -> float:
        s = np.asarray(prompt_tokens, dtype=float)
        m = self.model
        flops = 2 * m.params * s.sum() + 2 * m.layers * m.d_model * float(np.sum(s * s))
        return max(flops / (self.gpu.flops * self.mfu),
                   m.weight_bytes / (self.gpu.bandwidth * self.mbu)) + self.overhead_s

    def decode(self, batch: int | np.ndarray, cached_tokens: float | np.ndarray) -> np.ndarray:
        """Step time(s); vectorised over arrays of (batch, cached tokens)."""
        m = self.model
        b = np.asarray(batch, dtype=float)
        k = np.asarray(cached_tokens, dtype=float)
        mem = (m.weight_bytes + k * m.kv_bytes_per_token) / (self.gpu.bandwidth * self.mbu)
        comp = (2 * m.params * b + 4 * m.layers * m.d_model * k) / (self.gpu.flops * self.mfu)
        return np.maximum(mem, comp) + self.overhead_s

    def decode_total(self, batch: int, cached: float, k: int) -> float:
        """Time of ``k`` consecutive decode steps of ``batch`` sequences holding ``cached`` tokens
        before the first (each step adds ``batch`` tokens): the sum of :meth:`decode` over
        j = 0..k-1 in closed form. Both roofline terms are linear in j, so their maximum switches
        at most once and each side is an arithmetic series."""
        m = self.model
        bw, fl = self.gpu.bandwidth * self.mbu, self.gpu.flops * self.mfu
        a_mem, s_mem = (m.weight_bytes + cached * m.kv_bytes_per_token) / bw, \
            batch * m.kv_bytes_per_token / bw
        a_cmp, s_cmp = (2 * m.params * batch + 4 * m.layers * m.d_model * cached) / fl, \
            4 * m.layers * m.d_model * batch / fl

        def series(a: float, s: float, lo: int, hi: int) -> float:  # sum_{j=lo}^{hi-1} a + s j
            n = hi - lo
            return n * a + s * (lo + hi - 1) * n / 2 if n > 0 else 0.0

        first, second = ((a_cmp, s_cmp), (a_mem, s_mem)) if a_cmp > a_mem else \
            ((a_mem, s_mem), (a_cmp, s_cmp))  # the larger at j = 0, the other
        if first[1] >= second[1]:
            split = k  # the larger term at j = 0 grows at least as fast: it stays the maximum
        else:  # the other overtakes it where the lines cross
            split = min(max(math.ceil((first[0] - second[0]) / (second[1] - first[1])), 0), k)
        return series(*first, 0, split) + series(*second, split, k) + k * self.overhead_s

    def decode_steps_within(self, batch: int, cached: float, k_max: int, span: float) -> int:
        """The number of decode steps (1..k_max) that end at or after ``span`` seconds: the
        smallest k with :meth:`decode_total` (k) >= span, or ``k_max`` if none does."""
        if self.decode_total(batch, cached, k_max) < span:
            return k_max
        lo, hi = 1, k_max
        while lo < hi:
            mid = (lo + hi) // 2
            if self.decode_total(batch, cached, mid) >= span:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def step(self, chunks: list[tuple[int, int]], decode_batch: int, decode_cached: int) -> float:
        """One mixed iteration: prefill ``chunks`` of (new tokens, cached context) plus one decode
        step of ``decode_batch`` sequences holding ``decode_cached`` tokens (module docstring)."""
        m = self.model
        new = sum(c for c, _ in chunks)
        attn = sum(c * (2 * ctx + c) for c, ctx in chunks)
        ctx = sum(x for _, x in chunks)
        flops = (2 * m.params * (new + decode_batch) + 2 * m.layers * m.d_model * attn
                 + 4 * m.layers * m.d_model * decode_cached)
        mem = m.weight_bytes + (decode_cached + ctx) * m.kv_bytes_per_token
        return max(flops / (self.gpu.flops * self.mfu),
                   mem / (self.gpu.bandwidth * self.mbu)) + self.overhead_s

    def kv_capacity_blocks(self, block_size: int, gpu_memory_utilization: float = 0.9,
                           activation_reserve_bytes: float = 2e9) -> int:
        """KV-cache blocks that fit beside the weights (vLLM's profiling, simplified)."""
        free = (self.gpu.memory * gpu_memory_utilization - self.model.weight_bytes
                - activation_reserve_bytes)
        if free <= 0:
            raise ValueError(f"{self.model.name} does not fit on {self.gpu.name}")
        return int(free // (block_size * self.model.kv_bytes_per_token))
