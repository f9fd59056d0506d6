"""GPU smoke checks of the llmbench chapter (ARCHITECTURE §7; run by the self-check chapter).

Each check takes ``(device, tiny)``, does the chapter's real GPU work at a small size and returns
what it measured; ``tiny=True`` on the CPU is what the unit tests run.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

from reprobook.core.gpusmoke import Skip

from . import harness as H
from . import memory as M
from .config import dims_of, small_config
from .models import TECHNIQUES


def _sizes(tiny: bool) -> tuple[Any, int, int, torch.dtype]:
    if tiny:
        return small_config(64, layers=2, heads=4, vocab=256), 2, 32, torch.float32
    return small_config(1024, layers=4, heads=16, vocab=32_000), 2, 1024, torch.bfloat16


def _predicted_tensor_peak(cfg: Any, attn: str, b: int, s: int, dtype: torch.dtype) -> float:
    e = torch.finfo(dtype).bits // 8
    recipe = M.BF16 if e == 2 else M.FP32
    p = M.peak_training_memory(dims_of(cfg), M.Technique(attn, attn=attn), b, s, recipe=recipe,
                               e=e, context=0.0, fraction=0.0)
    return p["total"]


def sdpa_vs_eager_memory(device: str, tiny: bool) -> dict:
    """A few training steps with SDPA and with eager attention: peak memory against the model."""
    cfg, b, s, dtype = _sizes(tiny)
    run = H.Run(b=b, s=s, steps=3, warmup=1, device=device, dtype=dtype)
    out: dict[str, Any] = {}
    for name in ("sdpa", "eager"):
        row = H.measure_technique(cfg, TECHNIQUES[name], run)
        if row["status"] != H.OK:
            raise RuntimeError(f"{name}: {row['status']} {row['reason']}")
        key = "peak_allocated_bytes" if device.startswith("cuda") else \
            "peak_rss_above_baseline_bytes"
        pred = _predicted_tensor_peak(cfg, "sdpa" if name == "sdpa" else "eager", b, s, dtype)
        out[f"{name}_peak_MiB"] = row[key] / 2**20
        out[f"{name}_model_MiB"] = pred / 2**20
        out[f"{name}_measured/model"] = row[key] / pred
        out[f"{name}_step_ms"] = row["median_step_s"] * 1e3
    return out


def recompute_and_lora(device: str, tiny: bool) -> dict:
    """Recomputation and LoRA (peft) through the Lightning harness: step time and peak memory."""
    cfg, b, s, dtype = _sizes(tiny)
    run = H.Run(b=b, s=s, steps=3, warmup=1, device=device, dtype=dtype)
    out = {}
    for name in ("recompute", "lora"):
        row = H.measure_technique(cfg, TECHNIQUES[name], run)
        if row["status"] != H.OK:
            raise RuntimeError(f"{name}: {row['status']} {row['reason']}")
        out[f"{name}_step_ms"] = row["median_step_s"] * 1e3
        out[f"{name}_trainable"] = row["trainable_params"]
    return out


def qlora_bitsandbytes(device: str, tiny: bool) -> dict:
    """QLoRA: bitsandbytes NF4 base weights + a peft LoRA adapter, a few training steps."""
    if importlib.util.find_spec("bitsandbytes") is None:
        raise Skip("bitsandbytes is not installed")
    cfg, b, s, dtype = _sizes(tiny)
    row = H.measure_technique(cfg, TECHNIQUES["qlora"],
                              H.Run(b=b, s=s, steps=3, warmup=1, device=device, dtype=dtype))
    if row["status"] != H.OK:
        raise RuntimeError(f"qlora: {row['status']} {row['reason']}")
    return {"qlora_step_ms": row["median_step_s"] * 1e3,
            "qlora_trainable": row["trainable_params"]}


def deepspeed_zero(device: str, tiny: bool) -> dict:
    """DeepSpeed ZeRO-2 through Lightning's strategy (CUDA); on the CPU the strategy, its config
    and DeepSpeed's estimator."""
    if importlib.util.find_spec("deepspeed") is None:
        raise Skip("deepspeed is not installed")
    from lightning.pytorch.strategies import DeepSpeedStrategy

    from .scale import deepspeed_config, deepspeed_estimate, run_deepspeed

    cfg, b, s, _ = _sizes(tiny)
    dims = dims_of(cfg)
    P = M.param_count(dims)
    strategy = DeepSpeedStrategy(config=deepspeed_config(2, False, b))
    est = deepspeed_estimate(P, M.largest_module_params(dims), 2, 1)
    out = {"strategy": type(strategy).__name__, "estimate_MiB": (est or 0) / 2**20,
           "our_accounting_MiB": M.deepspeed_model_states(P, 2, 1) / 2**20}
    if device.startswith("cuda"):
        row = run_deepspeed(f"small-{dims.h}", 2, False, b, s, 1, device, steps=3, warmup=1)
        if row["status"] != H.OK:
            raise RuntimeError(f"deepspeed: {row['status']} {row['reason']}")
        out.update(zero2_step_ms=row["median_step_s"] * 1e3,
                   zero2_peak_MiB=row["peak_allocated_bytes"] / 2**20)
    return out


def vllm_dummy(device: str, tiny: bool) -> dict:
    """vLLM on dummy weights: throughput and latency of a small Llama."""
    if importlib.util.find_spec("vllm") is None:
        raise Skip("vllm is not installed in this environment")
    if not device.startswith("cuda"):
        raise Skip("vLLM's engine needs a CUDA GPU")
    from .scale import serve_vllm

    rows = serve_vllm("small-512" if tiny else "small-1024", [1, 8], 128, 32, device=device)
    bad = [r for r in rows if r["status"] != H.OK]
    if bad:
        raise RuntimeError(f"vllm: {bad[0]['status']} {bad[0]['reason']}")
    return {f"b{r['batch']}_tokens_per_s": r["tokens_per_s"] for r in rows}


CHECKS = [sdpa_vs_eager_memory, recompute_and_lora, qlora_bitsandbytes, deepspeed_zero,
          vllm_dummy]
