"""The FLOPs and throughput model (the paper's TFLOPS metric, Sec. 3; brief).

Training FLOPs of one step over ``T = b s`` tokens (Kaplan et al. 2020; Narayanan et al. 2021):

    C = 6 P_mm T + 12 L s (a d) T

``P_mm`` counts the parameters used in matrix products (every projection and the LM head; the
embedding lookup and the norm weights do no multiply-adds), 2 FLOPs per multiply-add, forward
(x1) plus backward (x2). The second term is attention's ``Q K^T`` and ``P V``, counted in full
like ``FlopCounterMode`` does (no causal halving). Full recomputation runs every decoder layer's
forward again: ``+ 2 P_layers T + 4 L s (a d) T`` (about 4/3; hardware FLOPs, not model FLOPs).

MFU = model FLOPs per second / the GPU's dense peak (:mod:`.constants`). Decoding one token
reads every weight and the KV cache once, so its time is at least
``(weight bytes + KV bytes) / memory bandwidth`` — the decode floor.
"""

from __future__ import annotations

from .config import Dims
from .constants import GPU
from .memory import kv_cache_bytes_per_token, matmul_params, param_count, param_parts


def training_flops(m: Dims, b: int, s: int, recompute: bool = False,
                   trainable_only: bool = False) -> float:
    """FLOPs of one training step (forward + backward) on ``b`` sequences of ``s`` tokens.

    ``trainable_only`` (LoRA with frozen weights) drops the weight-gradient products of the
    frozen projections: 4 instead of 6 FLOPs per parameter and token (the adapter's own are
    negligible).
    """
    T = b * s
    per_param = 4 if trainable_only else 6
    attn = 12 * m.L * s * m.a * m.d * T
    c = per_param * matmul_params(m) * T + attn
    if recompute:
        p = param_parts(m)
        c += 2 * (p["attention"] + p["mlp"]) * T + attn / 3
    return float(c)


def recompute_factor(m: Dims, b: int, s: int) -> float:
    """Hardware FLOPs with full recomputation over without (-> 4/3 when layers dominate)."""
    return training_flops(m, b, s, recompute=True) / training_flops(m, b, s)


def forward_flops_per_token(m: Dims, context: int) -> float:
    """Inference FLOPs of one token with ``context`` tokens before it: ``2 P_mm + 4 L a d c``."""
    return 2.0 * matmul_params(m) + 4.0 * m.L * m.a * m.d * context


def mfu(flops_per_step: float, step_seconds: float, gpu: GPU, n_gpus: int = 1) -> float:
    """Model FLOPs utilisation against the dense peak of ``n_gpus`` GPUs."""
    if step_seconds <= 0:
        raise ValueError(f"step time must be positive, got {step_seconds!r}")
    return flops_per_step / step_seconds / (gpu.flops * n_gpus)


def ideal_step_seconds(m: Dims, b: int, s: int, gpu: GPU, mfu_: float = 1.0,
                       n_gpus: int = 1, recompute: bool = False) -> float:
    """Step time at a given MFU (hardware FLOPs with recomputation)."""
    return training_flops(m, b, s, recompute) / (gpu.flops * n_gpus * mfu_)


def decode_floor_seconds(m: Dims, gpu: GPU, batch: int = 1, context: int = 0,
                         weight_bytes: float = 2.0, kv_bytes: int = 2) -> float:
    """Lower bound of one decoding step: read all weights once plus ``batch`` KV caches of
    ``context`` tokens, at the GPU's memory bandwidth."""
    read = weight_bytes * param_count(m) + batch * context * kv_cache_bytes_per_token(m, kv_bytes)
    return read / gpu.bandwidth


def decode_ceiling_tokens_per_s(m: Dims, gpu: GPU, batch: int = 1, context: int = 0) -> float:
    """Tokens per second the decode floor allows (``batch`` tokens per step)."""
    return batch / decode_floor_seconds(m, gpu, batch, context)
