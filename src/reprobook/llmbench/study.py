"""The tables the notebooks show: predictions at the paper's scale, checks at this machine's.

Every function returns plain rows (lists of dicts) so that notebooks stay thin and results land
in ``metrics.json`` as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from . import flops as F
from . import measure
from . import memory as M
from .config import Dims, dims_of, llama2_config
from .constants import CARD_MEMORY, GB, GPUS, LLAMA2, ZERO_EXAMPLE_GPUS, ZERO_EXAMPLE_PARAMS
from .models import Spec, build, random_batch


@dataclass(frozen=True)
class Small:
    """The CPU-sized Llama of the measurements (notebook parameters)."""

    hidden: int = 256
    layers: int = 4
    heads: int = 8
    kv_heads: int = 8
    vocab: int = 4096
    batch: int = 2
    seq: int = 256
    intermediate: int = 0  # 0: Llama-2's 8/3 h rounded up to 8


def small_cfg(p: Small, attn: str = "sdpa") -> Any:
    from .config import small_config

    return small_config(p.hidden, p.layers, p.heads, p.kv_heads, p.vocab,
                        intermediate=p.intermediate or None, attn=attn)


def technique_activations(p: Small, names: tuple[str, ...], dtype: str = "float32",
                          device: str = "cpu", seed: int = 0) -> dict[str, int]:
    """Measured saved-for-backward bytes of one forward per technique (runnable ones only)."""
    from .models import TECHNIQUES, availability

    out = {}
    for n in names:
        spec = TECHNIQUES[n]
        if availability(spec, device):
            continue
        model = build(small_cfg(p), spec, device, getattr(torch, dtype), seed)
        out[n] = measure.saved_activation_bytes(model, random_batch(p.vocab, p.batch, p.seq,
                                                                    seed, device))
        del model
    return out


# ----------------------------------------------------------------------------- parameters


def meta_param_count(cfg: Any) -> int:
    """Parameters of ``LlamaForCausalLM(cfg)`` built on the meta device (no memory used)."""
    from transformers import LlamaForCausalLM

    with torch.device("meta"):
        model = LlamaForCausalLM(cfg)
    return sum(p.numel() for p in model.parameters())


def param_rows(meta: bool = True) -> list[dict[str, Any]]:
    """Llama-2 7B/13B/70B: the formula, the brief's exact count, and transformers' count."""
    rows = []
    for key, size in LLAMA2.items():
        cfg = llama2_config(key)
        rows.append({"model": size.name, "formula": M.param_count(dims_of(cfg)),
                     "published": size.params,
                     "transformers (meta device)": meta_param_count(cfg) if meta else None})
    return rows


def zero_example() -> list[dict[str, Any]]:
    """The ZeRO paper's Figure 1: 7.5B parameters on 64 GPUs, per-GPU model states (GB)."""
    return [{"stage": st, "GB per GPU": M.model_states(ZERO_EXAMPLE_PARAMS, st,
                                                      ZERO_EXAMPLE_GPUS)["total"] / GB}
            for st in M.STAGES]


# --------------------------------------------------------------------- the paper's memory grid

#: The grid of notebook 01: (label, technique) in the paper's order.
GRID = (
    ("ZeRO-0 (DDP)", M.Technique("ZeRO-0")),
    ("ZeRO-0 + eager attention", M.Technique("eager", attn="eager")),
    ("ZeRO-0 + recompute", M.Technique("recompute", recompute=True)),
    ("ZeRO-2", M.Technique("ZeRO-2", stage=2)),
    ("ZeRO-2 + recompute", M.Technique("ZeRO-2 rc", stage=2, recompute=True)),
    ("ZeRO-2 + offload", M.Technique("ZeRO-2 off", stage=2, offload=True)),
    ("ZeRO-3", M.Technique("ZeRO-3", stage=3)),
    ("ZeRO-3 + offload + recompute", M.Technique("ZeRO-3 off", stage=3, offload=True,
                                                 recompute=True)),
    ("LoRA r=8", M.Technique("LoRA", lora_r=8)),
    ("QLoRA r=8 (NF4)", M.Technique("QLoRA", lora_r=8, nf4=True)),
)


def memory_grid(b: int = 1, s: int = 512, gpus: int = 8) -> list[dict[str, Any]]:
    """Predicted per-GPU peak (GB) of Llama-2 7B/13B/70B per technique on ``gpus`` GPUs, and
    whether it fits 24 GB (RTX 3090/4090) and 80 GB (A800/H100) cards. LoRA/QLoRA run on one
    GPU (the paper's fine-tuning setting); bf16 mixed-precision Adam, FlashAttention-style SDPA
    unless the row says otherwise."""
    rows = []
    for key, size in LLAMA2.items():
        m = dims_of(llama2_config(key))
        for label, t in GRID:
            n = 1 if t.lora_r else gpus
            p = M.peak_training_memory(m, t, b, s, N=n)
            row = {"model": size.name, "technique": label, "GPUs": n,
                   **{k: p[k] / GB for k in ("params", "grads", "optimizer", "activations",
                                              "loss gradient and recompute", "overhead",
                                              "total", "cpu")}}
            for card, cap in CARD_MEMORY.items():
                row[f"fits {card}"] = M.fits(p["total"], cap)
            rows.append(row)
    return rows


def deepspeed_rows(gpus: int = 8, call: bool = True) -> list[dict[str, Any]]:
    """Model states per GPU: the ZeRO paper's accounting, DeepSpeed's (this chapter's
    re-implementation) and, when installed and ``call``, DeepSpeed's own estimator."""
    from .scale import deepspeed_estimate

    rows = []
    for key, size in LLAMA2.items():
        m = dims_of(llama2_config(key))
        P, big = M.param_count(m), M.largest_module_params(m)
        for stage in (2, 3):
            for off in (False, True):
                ds = deepspeed_estimate(P, big, stage, gpus, off) if call else None
                rows.append({"model": size.name, "stage": stage, "offload": off,
                             "ZeRO paper (GB)": M.model_states(P, stage, gpus,
                                                               offload=off)["total"] / GB,
                             "DeepSpeed accounting (GB)": M.deepspeed_model_states(
                                 P, stage, gpus, off, big) / GB,
                             "DeepSpeed estimator (GB)": None if ds is None else ds / GB})
    return rows


# ------------------------------------------------------------- formulas against the real code


def activation_rows(p: Small, dtypes: tuple[str, ...] = ("float32", "bfloat16"),
                    kv_heads: tuple[int, ...] = (), seed: int = 0,
                    device: str = "cpu") -> list[dict[str, Any]]:
    """Saved-for-backward bytes measured on the HF implementation vs the formula, for eager,
    SDPA and full recomputation, per dtype (and, optionally, GQA key/value head counts)."""
    rows = []
    variants = [("eager", False), ("sdpa", False), ("sdpa", True)]
    for dt in dtypes:
        for g in (p.kv_heads, *kv_heads):
            cfg = small_cfg(Small(**{**p.__dict__, "kv_heads": g}))
            dims = dims_of(cfg)
            for attn, rc in variants:
                dtype = getattr(torch, dt)
                model = build(cfg, Spec("x", attn=attn, recompute=rc), device, dtype, seed)
                ids = random_batch(p.vocab, p.batch, p.seq, seed, device)
                got = measure.saved_activation_bytes(model, ids)
                del model
                e = torch.finfo(dtype).bits // 8
                want = M.saved_activation_bytes(dims, p.batch, p.seq, attn, e, rc)
                rows.append({"dtype": dt, "kv heads": g, "attention": attn, "recompute": rc,
                             "measured bytes": got, "formula bytes": want,
                             "measured / formula": got / want})
    return rows


def kv_rows(p: Small, kv_heads: tuple[int, ...] = (8, 2), seed: int = 0,
            device: str = "cpu") -> list[dict[str, Any]]:
    """KV-cache bytes of a real prefill vs ``tokens x`` :func:`memory.kv_cache_bytes_per_token`."""
    rows = []
    for g in kv_heads:
        cfg = small_cfg(Small(**{**p.__dict__, "kv_heads": g}))
        model = build(cfg, Spec("x"), device, torch.bfloat16, seed)
        got = measure.kv_cache_bytes(model, random_batch(p.vocab, p.batch, p.seq, seed, device))
        del model
        want = M.kv_cache_bytes_per_token(dims_of(cfg), 2) * p.batch * p.seq
        rows.append({"kv heads": g, "tokens": p.batch * p.seq, "measured bytes": got,
                     "formula bytes": want})
    return rows


def kv_paper_rows() -> list[dict[str, Any]]:
    """KV cache per token (MiB, fp16) of Llama-2 7B/13B/70B."""
    return [{"model": s.name, "KV MiB per token": M.kv_cache_bytes_per_token(
        dims_of(llama2_config(k)), 2) / 2**20} for k, s in LLAMA2.items()]


def flop_rows(p: Small, seed: int = 0, device: str = "cpu") -> list[dict[str, Any]]:
    """Training FLOPs of one step: ``FlopCounterMode`` on the eager model vs the formula
    (eager: every product is an ``aten`` matmul the counter sees)."""
    cfg = small_cfg(p, "eager")
    model = build(cfg, Spec("x", attn="eager"), device, seed=seed)
    got = measure.counted_flops(model, random_batch(p.vocab, p.batch, p.seq, seed, device))
    want = F.training_flops(dims_of(cfg), p.batch, p.seq)
    return [{"model": cfg.name_or_path, "tokens": p.batch * p.seq, "FlopCounterMode": got,
             "formula 6 P_mm T + 12 L s h T": want, "counted / formula": got / want}]


def throughput_model(b: int = 1, s: int = 2048, mfu: float = 0.5) -> list[dict[str, Any]]:
    """Predicted tokens/s per GPU of Llama-2-7B training at ``mfu`` of the dense peak, with and
    without recomputation, and the decode floor, per GPU of the paper."""
    m = dims_of(llama2_config("7b"))
    rows = []
    for name, gpu in GPUS.items():
        t = F.ideal_step_seconds(m, b, s, gpu, mfu)
        trc = F.ideal_step_seconds(m, b, s, gpu, mfu, recompute=True)
        rows.append({"GPU": name, "dense bf16 TFLOPS": gpu.flops / 1e12,
                     "HBM GB/s": gpu.bandwidth / 1e9, f"tokens/s at MFU {mfu:g}": b * s / t,
                     "... with recompute": b * s / trc,
                     "decode floor ms/token (b=1)": F.decode_floor_seconds(m, gpu) * 1e3,
                     "decode ceiling tokens/s (b=1)": F.decode_ceiling_tokens_per_s(m, gpu)})
    return rows


def predicted_ratios(p: Small) -> dict[str, float]:
    """The models' predictions for the CPU run's ratios (activations; FLOPs)."""
    m = dims_of(small_cfg(p))
    act = {a: M.saved_activation_bytes(m, p.batch, p.seq, a, 4) for a in ("eager", "sdpa")}
    rc = M.saved_activation_bytes(m, p.batch, p.seq, "sdpa", 4, recompute=True)
    return {"sdpa/eager activations": act["sdpa"] / act["eager"],
            "recompute/sdpa activations": rc / act["sdpa"],
            "recompute FLOPs factor": F.recompute_factor(m, p.batch, p.seq)}


def decoder_flop_share(p: Small) -> float:
    """Share of the step's FLOPs spent in decoder layers (the breakdown claim's prediction)."""
    m = dims_of(small_cfg(p))
    total = F.training_flops(m, p.batch, p.seq)
    head = 6 * m.V * m.h * p.batch * p.seq
    return (total - head) / total


def dims_table(p: Small) -> Dims:
    return dims_of(small_cfg(p))


# ----------------------------------------------------------------------------- the ZeRO claims

ZERO_RUNS = (("ZeRO-0", 0, False), ("ZeRO-2", 2, False), ("ZeRO-3", 3, False),
             ("ZeRO-3 + offload", 3, True))


def largest_fitting(t: M.Technique, card: float, b: int, s: int, gpus: int) -> str:
    """The largest Llama-2 whose predicted per-GPU peak fits ``card`` bytes ("none" if none)."""
    best = "none"
    for key, size in LLAMA2.items():
        m = dims_of(llama2_config(key))
        if M.fits(M.peak_training_memory(m, t, b, s, N=gpus)["total"], card):
            best = size.name
    return best


def zero_predictions(b: int = 1, s: int = 512, gpus: int = 8) -> dict[str, Any]:
    """The memory model's predictions beside the ZeRO claims."""
    m = dims_of(llama2_config("7b"))
    z0 = M.peak_training_memory(m, M.Technique("z0"), b, s, N=gpus)["total"]
    z2 = M.peak_training_memory(m, M.Technique("z2", stage=2), b, s, N=gpus)["total"]
    z2t = M.Technique("z2", stage=2, recompute=True)
    z3t = M.Technique("z3", stage=3, offload=True, recompute=True)
    out: dict[str, Any] = {"zero2/zero0 memory": z2 / z0}
    for card, cap in CARD_MEMORY.items():
        out[f"largest zero2 {card.replace(' ', '')}"] = largest_fitting(z2t, cap, b, s, gpus)
        out[f"largest zero3off {card.replace(' ', '')}"] = largest_fitting(z3t, cap, b, s, gpus)
    return out


def deepspeed_grid(sizes: list[str], b: int, s: int, gpus: int, device: str,
                   steps: int = 5, warmup: int = 3) -> list[dict[str, Any]]:
    """The paper's DeepSpeed grid (ZeRO-0/2/3, offload; recomputation on) per model size, each
    run in its own process; rows say "not available on this device" without CUDA/DeepSpeed."""
    from .scale import run_deepspeed

    rows = []
    for size in sizes:
        m = dims_of(llama2_config(size))
        for label, stage, off in ZERO_RUNS:
            t = M.Technique(label, stage=stage, offload=off, recompute=True)
            pred = M.peak_training_memory(m, t, b, s, N=gpus)["total"] / GB
            row = run_deepspeed(size, stage, off, b, s, gpus, device, steps, warmup, True)
            rows.append({"technique": label, "predicted GB per GPU": pred, **row})
    return rows


def zero_measured(rows: list[dict[str, Any]]) -> dict[str, float] | None:
    """Ratios for the ZeRO claims from :func:`deepspeed_grid` rows (None if nothing ran)."""
    ok = [r for r in rows if r.get("status") == "ok"]
    if not ok:
        return None
    by = {(r["model"], r["technique"]): r for r in ok}
    out: dict[str, float] = {}
    if ("7b", "ZeRO-0") in by and ("7b", "ZeRO-2") in by:
        z0, z2 = by[("7b", "ZeRO-0")], by[("7b", "ZeRO-2")]
        out["zero2/zero0 memory"] = z2["total_minus_free_bytes"] / z0["total_minus_free_bytes"]
        out["zero2/zero0 tokens/s"] = z2["tokens_per_s"] / z0["tokens_per_s"]
    sizes = {k: M.param_count(dims_of(llama2_config(k))) for k in LLAMA2}
    big = {t: max((sizes[r["model"]] for r in ok if r["technique"] == t), default=0)
           for t in ("ZeRO-2", "ZeRO-3 + offload")}
    if big["ZeRO-2"] and big["ZeRO-3 + offload"]:
        out["largest zero3off / zero2 params"] = big["ZeRO-3 + offload"] / big["ZeRO-2"]
    return out or None


# ------------------------------------------------------------------------------- breakdown


def profile_configs(p: Small, names: list[str], warmup: int, steps: int, device: str,
                    dtype: torch.dtype, seed: int = 0) -> dict[str, list[Any]]:
    """Profiler events of ``steps`` training steps per technique (after ``warmup``), through
    the Lightning harness; techniques this device cannot run are left out."""
    from reprobook.core.progress import progress

    from .breakdown import ProfileSteps
    from .harness import LlamaLM, Run, fit_steps
    from .models import TECHNIQUES, availability

    out = {}
    for name in progress(names, desc="profiles"):
        spec = TECHNIQUES[name]
        if availability(spec, device):
            continue
        model = build(small_cfg(p), spec, device, dtype, seed)
        cb = ProfileSteps(warmup, device.startswith("cuda"))
        fit_steps(LlamaLM(model), random_batch(p.vocab, p.batch, p.seq, seed, device),
                  Run(p.batch, p.seq, steps, warmup, device, dtype, seed), [cb])
        out[name] = list(cb.prof.events())
        del model, cb
    return out


def top_operators(events: list[Any], device: bool = False, n: int = 12) -> list[dict[str, Any]]:
    """The ``n`` operators with the largest self time and their share of all operator time."""
    from collections import defaultdict

    acc: dict[str, float] = defaultdict(float)
    for e in events:
        if e.name.startswith("aten::"):
            acc[e.name] += float(e.self_device_time_total if device else e.self_cpu_time_total)
    total = sum(acc.values()) or 1.0
    top = sorted(acc.items(), key=lambda kv: -kv[1])[:n]
    return [{"operator": k, "share of operator time": v / total} for k, v in top]


# --------------------------------------------------------------------------- communication


def allreduce_predictions(fits: list[dict[str, Any]], nproc: int) -> list[dict[str, Any]]:
    """Seconds to all-reduce Llama-2-7B's bf16 gradients once: with this machine's fitted alpha-
    beta (``nproc`` ranks) and, for 8 GPUs, at the paper's link bandwidths (spec sheets)."""
    from .collectives import bus_factor

    grad = 2.0 * M.param_count(dims_of(llama2_config("7b")))
    rows = []
    ar = next((f for f in fits if f["op"] == "all_reduce"), None)
    if ar and 0 < ar["fit_busbw_GBps"] < float("inf"):
        t = ar["alpha_us"] * 1e-6 + grad * bus_factor("all_reduce", nproc) / (
            ar["fit_busbw_GBps"] * 1e9)
        rows.append({"setting": f"this machine ({ar['backend']}, {nproc} ranks, fitted)",
                     "bus GB/s": ar["fit_busbw_GBps"], "ZeRO-0/2 all-reduce s": t,
                     "ZeRO-3 s": 1.5 * t})
    for name, gpu in GPUS.items():
        t = grad * bus_factor("all_reduce", 8) / gpu.link_bandwidth
        rows.append({"setting": f"8x {name}, {gpu.link} (spec)",
                     "bus GB/s": gpu.link_bandwidth / 1e9, "ZeRO-0/2 all-reduce s": t,
                     "ZeRO-3 s": 1.5 * t})
    return rows
