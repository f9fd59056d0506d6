"""LoRA-FA on a LLaMA-shaped model (the paper's LLaMA memory study; the ``gpu-1x`` sweep).

Activation memory does not depend on the weights' values, so a randomly initialised model with
LLaMA's shapes (``LlamaConfig``) measures what the paper measured without downloading weights.
On a GPU, :func:`peak_memory` runs one training step in bf16 and reads
``torch.cuda.max_memory_allocated`` (an out-of-memory is recorded, not raised); on the CPU it
counts the saved activations with :class:`.memory.SavedTensorMeter` instead.

:func:`lora_input_bytes` evaluates the paper's motivating example in closed form: the inputs X
that LoRA keeps for its adapted layers (what LoRA-FA does not keep).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .memory import SavedTensorMeter
from .methods import AdapterSpec, prepare

LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


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


def lora_input_bytes(shape: LlamaShape, batch: int, seq: int, beta: int,
                     targets: tuple[str, ...] = LLAMA_TARGETS) -> int:
    """Bytes of the distinct inputs LoRA's adapted layers keep: per decoder layer, q/k/v share
    the attention input (d), o_proj its input (d), gate/up share the MLP input (d), down_proj its
    input (intermediate)."""
    groups = {"attn_in": ({"q_proj", "k_proj", "v_proj"}, shape.hidden),
              "o_in": ({"o_proj"}, shape.hidden), "mlp_in": ({"gate_proj", "up_proj"}, shape.hidden),
              "down_in": ({"down_proj"}, shape.intermediate)}
    unknown = set(targets) - set(LLAMA_TARGETS)
    if unknown:
        raise ValueError(f"unknown target(s) {sorted(unknown)}; known: {LLAMA_TARGETS}")
    per_layer = sum(width for mods, width in groups.values() if mods & set(targets))
    return beta * batch * seq * per_layer * shape.layers


def build(shape: LlamaShape, device: str = "cpu", dtype: torch.dtype = torch.float32,
          seed: int = 0) -> torch.nn.Module:
    """A randomly initialised ``LlamaForCausalLM`` with ``shape``'s sizes."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(hidden_size=shape.hidden, intermediate_size=shape.intermediate,
                      num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                      num_key_value_heads=shape.heads, vocab_size=shape.vocab,
                      max_position_embeddings=4096, torch_dtype=dtype)
    with torch.device(device):
        model = LlamaForCausalLM(cfg).to(dtype)
    model.config.use_cache = False
    return model


def peak_memory(shape: LlamaShape, method: str, batch: int, seq: int, r: int = 8,
                device: str = "cpu", dtype: torch.dtype = torch.float32, lr: float = 1e-4,
                seed: int = 0) -> dict:
    """One training step of ``method`` on a fresh model: on CUDA the peak allocated bytes (an
    out-of-memory is recorded as such), on the CPU the activations saved for backward."""
    row = {"model": shape.name, "method": method, "batch": batch, "seq": seq, "r": r,
           "device": device, "dtype": str(dtype).replace("torch.", "")}
    model = None
    try:
        model = build(shape, device, dtype, seed)
        spec = AdapterSpec(r=r, alpha=2 * r, targets=LLAMA_TARGETS, head=())
        model, opt_fn = prepare(model, method, spec, lr)
        g = torch.Generator(device=device).manual_seed(seed)
        ids = torch.randint(0, shape.vocab, (batch, seq), device=device, generator=g)
        model.train()
        if device.startswith("cuda"):
            opt = opt_fn(model)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            torch.cuda.synchronize()
            row.update(peak_bytes=torch.cuda.max_memory_allocated(), status="ok")
        else:
            with SavedTensorMeter([*model.parameters(), *model.buffers()]) as meter:
                out = model(input_ids=ids, labels=ids)
            row.update(activation_bytes=meter.bytes, status="ok")
            del out
    except torch.cuda.OutOfMemoryError:
        row.update(status="out of memory")
    finally:
        del model
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return row


def group_breakdown(shape: LlamaShape, batch: int, seq: int, r: int = 8, seed: int = 0) -> list[dict]:
    """Per input group: LoRA minus LoRA-FA saved bytes with only that group adapted (CPU,
    float32), beside the formula's count of the inputs LoRA keeps."""
    rows = []
    for name, targets in INPUT_GROUPS.items():
        got = {}
        for method in ("lora", "lorafa"):
            model = build(shape, "cpu", torch.float32, seed)
            model, _ = prepare(model, method, AdapterSpec(r=r, alpha=2 * r, targets=targets, head=()), 1e-4)
            ids = torch.randint(0, shape.vocab, (batch, seq), generator=torch.Generator().manual_seed(seed))
            model.train()
            with SavedTensorMeter([*model.parameters(), *model.buffers()]) as meter:
                out = model(input_ids=ids, labels=ids)
            got[method] = meter.bytes
            del out
        rows.append({"group": name, "measured": got["lora"] - got["lorafa"],
                     "formula": lora_input_bytes(shape, batch, seq, 4, targets)})
    return rows
