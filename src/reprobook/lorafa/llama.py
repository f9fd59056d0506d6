"""LoRA-FA on a LLaMA-shaped model (the paper's LLaMA memory study; the ``gpu-1x`` sweep).

Activation memory does not depend on the weights' values, so a randomly initialised model with
LLaMA's shapes (``LlamaConfig``) measures what the paper measured without downloading weights.
:func:`peak_memory` runs one real training step (forward, backward, AdamW step). On a GPU it reads
``torch.cuda.max_memory_allocated`` over the step (the paper's overall memory: weights, gradients,
optimizer state and activations at their peak; an out-of-memory is recorded, not raised); on the
CPU it measures the same four parts from their tensors, the activations with
:class:`.memory.SavedTensorMeter`.

peft upcasts bf16 adapters to fp32 by default (``autocast_adapter_dtype=True``) and then casts
every adapted layer's input to fp32; LoRA keeps that fp32 copy for A's gradient. The chapter's
default is off; :func:`autocast_effect` measures both settings.

:func:`lora_input_bytes` evaluates the paper's motivating example in closed form: the inputs X
that LoRA keeps for its adapted layers (what LoRA-FA does not keep).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from .memory import SavedTensorMeter, measure_training_memory
from .methods import AdapterSpec, prepare

LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
GIB = 2**30


@dataclass(frozen=True)
class LlamaShape:
    """Sizes of a LLaMA model (Touvron et al. 2023, Table 2)."""

    name: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    vocab: int = 32_000


LLAMA_7B = LlamaShape("LLaMA-7B", 4096, 11008, 32, 32)
LLAMA_65B = LlamaShape("LLaMA-65B", 8192, 22016, 80, 64)
TINY = LlamaShape("tiny LLaMA-shaped", 256, 688, 2, 8, 1000)  # CPU-sized, same structure
SHAPES = {"tiny": TINY, "7b": LLAMA_7B, "65b": LLAMA_65B}


INPUT_GROUPS = {"q, k, v": ("q_proj", "k_proj", "v_proj"), "o": ("o_proj",),
                "gate, up": ("gate_proj", "up_proj"), "down": ("down_proj",)}
WITHOUT_O = tuple(t for t in LLAMA_TARGETS if t != "o_proj")


def lora_input_bytes(shape: LlamaShape, batch: int, seq: int, beta: int,
                     targets: tuple[str, ...] = LLAMA_TARGETS) -> int:
    """Bytes of the distinct inputs LoRA's adapted layers keep: per decoder layer, q/k/v share
    the attention input (d), o_proj its input (d), gate/up share the MLP input (d), down_proj its
    input (intermediate)."""
    groups = {"attn_in": ({"q_proj", "k_proj", "v_proj"}, shape.hidden),
              "o_in": ({"o_proj"}, shape.hidden),
              "mlp_in": ({"gate_proj", "up_proj"}, shape.hidden),
              "down_in": ({"down_proj"}, shape.intermediate)}
    unknown = set(targets) - set(LLAMA_TARGETS)
    if unknown:
        raise ValueError(f"unknown target(s) {sorted(unknown)}; known: {LLAMA_TARGETS}")
    per_layer = sum(width for mods, width in groups.values() if mods & set(targets))
    return beta * batch * seq * per_layer * shape.layers


def build(shape: LlamaShape, device: str = "cpu", dtype: torch.dtype = torch.float32,
          seed: int = 0) -> torch.nn.Module:
    """A randomly initialised ``LlamaForCausalLM`` with ``shape``'s sizes, created directly on
    ``device`` in ``dtype`` (no float32 copy of a 7B model first)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(hidden_size=shape.hidden, intermediate_size=shape.intermediate,
                      num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                      num_key_value_heads=shape.heads, vocab_size=shape.vocab,
                      max_position_embeddings=4096)
    with torch.device(device):
        model = LlamaForCausalLM._from_config(cfg, dtype=dtype)
    model.config.use_cache = False
    return model


def _adapted(shape: LlamaShape, method: str, r: int, device: str, dtype: torch.dtype, lr: float,
             seed: int, autocast: bool,
             targets: tuple[str, ...] = LLAMA_TARGETS) -> tuple[torch.nn.Module, Any]:
    spec = AdapterSpec(r=r, alpha=2 * r, targets=targets, head=(), autocast_adapter_dtype=autocast)
    return prepare(build(shape, device, dtype, seed), method, spec, lr)


def _ids(shape: LlamaShape, batch: int, seq: int, device: str, seed: int) -> torch.Tensor:
    g = torch.Generator(device=device).manual_seed(seed)
    return torch.randint(0, shape.vocab, (batch, seq), device=device, generator=g)


def peak_memory(shape: LlamaShape, method: str, batch: int, seq: int, r: int = 8,
                device: str = "cpu", dtype: torch.dtype = torch.float32, lr: float = 1e-4,
                seed: int = 0, autocast_adapter_dtype: bool = False) -> dict[str, Any]:
    """One training step of ``method`` on a fresh model. CUDA: ``peak_bytes`` (max allocated
    over the step) and ``base_bytes`` (allocated before it: the weights); CPU: the four parts of
    :class:`.memory.TrainingMemory` (``activation_bytes``, ``total_bytes``, ...)."""
    row: dict[str, Any] = {"model": shape.name, "method": method, "batch": batch, "seq": seq,
                           "r": r, "device": device, "dtype": str(dtype).replace("torch.", ""),
                           "autocast_adapter_dtype": autocast_adapter_dtype}
    model = None
    try:
        model, opt_fn = _adapted(shape, method, r, device, dtype, lr, seed, autocast_adapter_dtype)
        ids = _ids(shape, batch, seq, device, seed)
        if device.startswith("cuda"):
            model.train()
            opt = opt_fn(model)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            model(input_ids=ids, labels=ids).loss.backward()
            opt.step()
            torch.cuda.synchronize()
            row.update(peak_bytes=torch.cuda.max_memory_allocated(), base_bytes=base, status="ok")
        else:
            mem = measure_training_memory(model, {"input_ids": ids, "labels": ids}, opt_fn)
            row.update({f"{k}_bytes": v for k, v in mem.as_dict().items()}, status="ok")
            row["activation_bytes"] = row.pop("activations_bytes")
    except torch.cuda.OutOfMemoryError:
        row.update(status="out of memory")
    finally:
        del model
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return row


def memory_column(df: pd.DataFrame) -> str:
    """The overall-memory column of :func:`peak_memory` rows: GPU peak, or the CPU total."""
    return "peak_bytes" if "peak_bytes" in df else "total_bytes"


def lora_over_lorafa(df: pd.DataFrame) -> pd.Series:
    """Overall memory LoRA / LoRA-FA per sequence length, from the LoRA and LoRA-FA rows alone
    (full fine-tuning of a 7B model may not fit the GPU; its row does not decide this ratio).
    Sequence lengths where either of the two did not run are left out."""
    ok = df[(df["status"] == "ok") & df["method"].isin(["lora", "lorafa"])]
    if ok.empty:
        return pd.Series(dtype=float)
    p = ok.pivot(index="seq", columns="method", values=memory_column(ok)).dropna()
    if not {"lora", "lorafa"} <= set(p.columns):
        return pd.Series(dtype=float)
    return (p["lora"] / p["lorafa"]).rename("LoRA / LoRA-FA")


def autocast_effect(shape: LlamaShape, batch: int, seq: int, r: int = 8, device: str = "cpu",
                    dtype: torch.dtype = torch.bfloat16, seed: int = 0) -> pd.DataFrame:
    """LoRA and LoRA-FA with peft's ``autocast_adapter_dtype`` on and off: saved activations
    (CPU) or peak memory (CUDA) of one training step in ``dtype``."""
    rows = [peak_memory(shape, m, batch, seq, r, device, dtype, seed=seed,
                        autocast_adapter_dtype=a)
            for a in (False, True) for m in ("lora", "lorafa")]
    return pd.DataFrame(rows)


def group_breakdown(shape: LlamaShape, batch: int, seq: int, r: int = 8,
                    seed: int = 0) -> list[dict]:
    """Per input group: LoRA minus LoRA-FA saved bytes with only that group adapted (CPU,
    float32), beside the formula's count of the inputs LoRA keeps."""
    rows = []
    for name, targets in INPUT_GROUPS.items():
        got = {}
        for method in ("lora", "lorafa"):
            model, _ = _adapted(shape, method, r, "cpu", torch.float32, 1e-4, seed, False, targets)
            ids = _ids(shape, batch, seq, "cpu", seed)
            model.train()
            with SavedTensorMeter([*model.parameters(), *model.buffers()]) as meter:
                out = model(input_ids=ids, labels=ids)
            got[method] = meter.bytes
            del out
        rows.append({"group": name, "measured": got["lora"] - got["lorafa"],
                     "formula": lora_input_bytes(shape, batch, seq, 4, targets)})
    return rows


def input_counts(shape: LlamaShape, batch: int, seqs: list[int], r: int = 8,
                 seed: int = 0) -> pd.DataFrame:
    """LoRA minus LoRA-FA saved activations with every projection adapted (CPU, float32),
    beside the paper's count of the inputs LoRA keeps, with and without o_proj's input."""
    rows = []
    for seq in seqs:
        got = {m: peak_memory(shape, m, batch, seq, r, seed=seed)["activation_bytes"]
               for m in ("lora", "lorafa")}
        rows.append({"seq": seq, "measured LoRA - LoRA-FA": got["lora"] - got["lorafa"],
                     "paper's count: inputs LoRA keeps": lora_input_bytes(shape, batch, seq, 4),
                     "count without o_proj's input": lora_input_bytes(shape, batch, seq, 4,
                                                                      WITHOUT_O),
                     "LoRA / LoRA-FA activations": got["lora"] / got["lorafa"]})
    df = pd.DataFrame(rows).set_index("seq")
    df["measured / count without o_proj"] = (df["measured LoRA - LoRA-FA"]
                                             / df["count without o_proj's input"])
    return df


def autocast_table(cast: pd.DataFrame) -> pd.DataFrame:
    """:func:`autocast_effect`'s rows as a table in MiB: saved activations (CPU) or the peak
    (CUDA) per method, autocast off and on, and the LoRA / LoRA-FA ratio of each column."""
    col = "peak_bytes" if "peak_bytes" in cast else "activation_bytes"
    t = cast.pivot(index="method", columns="autocast_adapter_dtype", values=col) / 2**20
    what = "peak" if col == "peak_bytes" else "activations"
    t.columns = [f"{what}, autocast {'on' if c else 'off'} (MiB)" for c in t.columns]
    t.loc["LoRA / LoRA-FA"] = t.loc["lora"] / t.loc["lorafa"]
    return t
