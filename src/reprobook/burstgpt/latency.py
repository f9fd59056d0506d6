"""A roofline latency model of one serving iteration (the chapter's serving experiment).

For a decoder-only model with P parameters, L layers, width d, weights of W bytes, a GPU with peak
F FLOP/s and bandwidth BW bytes/s, achieved fractions MFU and MBU, and a fixed per-iteration
overhead c:

- prefill of prompts s_1..s_b (n = sum s_i tokens):
  T = max( (2 P n + 2 L d sum s_i^2) / (F MFU),  W / (BW MBU) ) + c
- one decode step of b sequences holding K = sum ctx_i cached tokens:
  T = max( (W + K kv) / (BW MBU),  (2 P b + 4 L d K) / (F MFU) ) + c

with kv = 2 L h_kv d_head bytes of K/V cache per token (524,288 B for Llama-2-7B in fp16).
MFU, MBU and c are assumptions until calibrated against a real server (the gpu-1x profile).
"""

from __future__ import annotations

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

    def kv_capacity_blocks(self, block_size: int, gpu_memory_utilization: float = 0.9,
                           activation_reserve_bytes: float = 2e9) -> int:
        """KV-cache blocks that fit beside the weights (vLLM's profiling, simplified)."""
        free = (self.gpu.memory * gpu_memory_utilization - self.model.weight_bytes
                - activation_reserve_bytes)
        if free <= 0:
            raise ValueError(f"{self.model.name} does not fit on {self.gpu.name}")
        return int(free // (block_size * self.model.kv_bytes_per_token))
