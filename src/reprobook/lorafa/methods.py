"""The fine-tuning methods compared in the chapter, on one Hugging Face model.

- ``full``            — every weight trained (the paper's "full-parameter fine-tuning").
- ``lora``            — peft LoRA: A (kaiming init) and B (zero init) trained.
- ``lorafa``          — LoRA-FA v1 (the paper): peft LoRA with ``lora_A`` frozen at its random
                        init; only B is trained. Autograd then stores X A, not X.
- ``lorafa-explicit`` — the same method through :class:`~.layers.LoRAFALinear` (saves X A by
                        hand).
- ``lorafa-v2``       — peft's ``create_lorafa_optimizer``: A frozen *and* B's gradient rewritten
                        with (A^T A)^-1 — the method of arXiv:2308.03303 **v2**, a different paper
                        version; labelled as such, never called "LoRA-FA" alone.
- ``head``            — the control: only the new classification head is trained, the pretrained
                        encoder stays frozen. It is what an adapter that learns nothing measures,
                        and so the null of the "close to full fine-tuning" claims.

The classification head is trained in every method (peft ``modules_to_save``).

peft upcasts bf16/fp16 adapter weights to fp32 by default (``autocast_adapter_dtype=True``), and
its LoRA layer then casts each input X to fp32 before ``lora_A``: LoRA, which saves that copy for
A's gradient, keeps 4 bytes per element of X instead of 2. The chapter's default is ``False``
(adapters in the model's dtype, as the paper's memory analysis assumes); the LLaMA notebook
measures both.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .layers import to_explicit

METHODS = ("full", "lora", "lorafa", "lorafa-explicit", "lorafa-v2", "head")
LABELS = {"full": "full FT", "lora": "LoRA", "lorafa": "LoRA-FA (v1)",
          "lorafa-explicit": "LoRA-FA (v1, explicit)", "lorafa-v2": "peft LoRA-FA optimizer (v2)",
          "head": "head only (control)"}


@dataclass(frozen=True)
class AdapterSpec:
    """LoRA hyper-parameters; defaults are the common LoRA choice r = 8, alpha = 2r (not the
    paper's per-task values, which are not transcribed here)."""

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("query", "key", "value", "dense")  # every attention and MLP linear
    head: tuple[str, ...] = ("classifier",)
    autocast_adapter_dtype: bool = False  # peft's default is True (see the module docstring)

    def __post_init__(self) -> None:
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r <= 0:
            raise ValueError(f"LoRA rank r must be a positive integer, got {self.r!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")


def freeze_lora_a(model: nn.Module) -> int:
    """Freeze every ``lora_A`` weight (LoRA-FA v1); returns how many were frozen."""
    n = 0
    for name, p in model.named_parameters():
        if "lora_A" in name:
            p.requires_grad_(False)
            n += 1
    if n == 0:
        raise ValueError("no lora_A parameters found: apply LoRA first")
    return n


def freeze_all_but(model: nn.Module, prefixes: tuple[str, ...]) -> int:
    """Train only the parameters whose name starts with one of ``prefixes`` (the head-only
    control); returns how many parameter tensors stay trainable."""
    n = 0
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(prefixes))
        n += p.requires_grad
    if n == 0:
        raise ValueError(f"no parameter starts with {prefixes}: nothing would be trained")
    return n


def prepare(model: nn.Module, method: str, spec: AdapterSpec,
            lr: float) -> tuple[nn.Module, Callable[[nn.Module], torch.optim.Optimizer]]:
    """Apply ``method`` to ``model``; returns the model and a function building its optimizer."""
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {METHODS}")

    def adamw(m: nn.Module) -> torch.optim.Optimizer:
        # the fused kernel: the same update as the default, ~6x faster over MiniLM's 22.7 M weights
        return torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=lr,
                                 fused=True)

    if method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model, adamw
    if method == "head":
        freeze_all_but(model, spec.head)
        return model, adamw
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                        target_modules=list(spec.targets), modules_to_save=list(spec.head))
    with warnings.catch_warnings():  # peft reads transformers' deprecated attribute
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*deprecated",
                                category=FutureWarning)
        model = get_peft_model(model, config, autocast_adapter_dtype=spec.autocast_adapter_dtype)
    if method == "lora":
        return model, adamw
    freeze_lora_a(model)  # v1 and v2 both keep A at its random init
    if method == "lorafa-v2":
        from peft.optimizers import create_lorafa_optimizer

        return model, lambda m: create_lorafa_optimizer(m, r=spec.r, lora_alpha=spec.alpha, lr=lr)
    if method == "lorafa-explicit":
        to_explicit(model)
    return model, adamw
