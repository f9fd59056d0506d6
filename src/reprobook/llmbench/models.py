"""Randomly initialised Llama models per technique (the paper's scripts use dummy weights too).

A technique is one cell of the paper's grid that runs on one device: the attention kernel
(``eager``, ``sdpa``, ``flash`` = FlashAttention-2), full activation recomputation, LoRA (peft)
and QLoRA (bitsandbytes NF4 + peft). :func:`availability` says why a technique cannot run on a
device (it is then recorded as "not available on this device", never raised mid-sweep).
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import tempfile
import warnings
from dataclasses import dataclass, replace
from typing import Any

import torch

# bitsandbytes' CPU backend warns at import (peft imports it) that an optional kernel package is
# absent; the pure-PyTorch path it falls back to is the one measured here
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ATTN_IMPL = {"eager": "eager", "sdpa": "sdpa", "flash": "flash_attention_2"}


@dataclass(frozen=True)
class Spec:
    """One technique: attention kernel, recomputation, LoRA rank (0 = full training), NF4 base."""

    name: str
    attn: str = "sdpa"
    recompute: bool = False
    lora_r: int = 0
    qlora: bool = False


#: The techniques of the single-device sweep, in the order the notebooks show them.
TECHNIQUES = {
    "eager": Spec("eager", attn="eager"),
    "sdpa": Spec("sdpa"),
    "flash": Spec("flash", attn="flash"),
    "recompute": Spec("recompute", recompute=True),
    "lora": Spec("lora", lora_r=8),
    "qlora": Spec("qlora", lora_r=8, qlora=True),
}


class NotAvailable(RuntimeError):
    """A technique that this device or environment cannot run (the message says why)."""


def spec_of(name: str) -> Spec:
    if name not in TECHNIQUES:
        raise ValueError(f"technique {name!r} is not one of {sorted(TECHNIQUES)}")
    return TECHNIQUES[name]


def availability(spec: Spec, device: str) -> str | None:
    """``None`` if ``spec`` runs on ``device``, else the reason it does not."""
    if spec.attn == "flash":
        if not device.startswith("cuda"):
            return "FlashAttention-2 needs a CUDA GPU (not available on this device)"
        if importlib.util.find_spec("flash_attn") is None:
            return "flash-attn is not installed (pip install flash-attn on a CUDA machine)"
    if spec.qlora and importlib.util.find_spec("bitsandbytes") is None:
        return "bitsandbytes is not installed (pip install bitsandbytes)"
    if spec.lora_r and importlib.util.find_spec("peft") is None:
        return "peft is not installed"
    return None


def _random_llama(cfg: Any, dtype: torch.dtype, device: str, seed: int) -> torch.nn.Module:
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(cfg)
    return model.to(dtype)


def _quantised(model: torch.nn.Module, cfg: Any, dtype: torch.dtype, device: str) -> Any:
    """NF4 copy of ``model`` through transformers' real bitsandbytes loading path."""
    from transformers import BitsAndBytesConfig, LlamaForCausalLM

    q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                           bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype)
    with tempfile.TemporaryDirectory(prefix="llmbench-") as d:
        model.save_pretrained(d)
        return LlamaForCausalLM.from_pretrained(d, quantization_config=q, device_map=device,
                                                attn_implementation=cfg._attn_implementation,
                                                dtype=dtype)


def build(cfg: Any, spec: Spec, device: str = "cpu", dtype: torch.dtype = torch.float32,
          seed: int = 0) -> torch.nn.Module:
    """A random-weight ``LlamaForCausalLM`` from ``cfg`` set up for ``spec`` (train mode).

    Raises :class:`NotAvailable` when the technique cannot run here.
    """
    why = availability(spec, device)
    if why:
        raise NotAvailable(why)
    cfg = copy.deepcopy(cfg)
    cfg._attn_implementation = ATTN_IMPL[spec.attn]
    cfg.use_cache = False
    model = _random_llama(cfg, dtype, device, seed)
    if spec.qlora:
        from peft import prepare_model_for_kbit_training

        model = _quantised(model, cfg, dtype, device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if spec.recompute:
        # use_reentrant=True (the transformers default when the paper ran): the checkpoint keeps
        # each layer's input through save_for_backward, where saved_tensors_hooks can count it.
        kw = {"use_reentrant": True}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # the method's rename in v5
            if hasattr(model, "activation_checkpointing_enable"):
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=kw)
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kw)
    if spec.lora_r:
        from peft import LoraConfig, get_peft_model

        lcfg = LoraConfig(r=spec.lora_r, lora_alpha=2 * spec.lora_r, lora_dropout=0.0,
                          target_modules=list(LORA_TARGETS))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # peft asks the v4 names
            model = get_peft_model(model, lcfg)
        if spec.recompute:
            model.enable_input_require_grads()
    model.train()
    return model


def with_attention(spec: Spec, attn: str) -> Spec:
    return replace(spec, name=f"{spec.name}+{attn}", attn=attn)


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def random_batch(vocab: int, b: int, s: int, seed: int, device: str = "cpu") -> torch.Tensor:
    """Random token ids (synthetic: the paper's runs use dummy data and weights)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (b, s), generator=g).to(device)
