"""LoRA-FA as an explicit autograd Function (the paper's method section).

Forward: y = X W + alpha/r * (X A) B, with W and A frozen. Backward needs dB = (X A)^T dY and
dX = dY W^T + alpha/r * dY B^T A^T, so only X A (b x s x r) is saved — never X.
In torch's Linear layout (``weight`` is out x in), peft's ``lora_A.weight`` is A^T and
``lora_B.weight`` is B^T.
"""

from __future__ import annotations

import torch
from torch import nn


class LoRAFAFunction(torch.autograd.Function):
    """(X, A, B) -> (X A) B, saving X A (not X); A gets no gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        xa = x @ a
        ctx.save_for_backward(xa, a, b)
        return xa @ b

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # noqa: ANN001, ANN205
        xa, a, b = ctx.saved_tensors
        grad_x = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = (grad_out @ b.transpose(0, 1)) @ a.transpose(0, 1)
        if ctx.needs_input_grad[2]:
            r, o = b.shape
            grad_b = xa.reshape(-1, r).transpose(0, 1) @ grad_out.reshape(-1, o)
        return grad_x, None, grad_b


class LoRAFALinear(nn.Module):
    """A frozen ``base`` linear layer plus the LoRA-FA branch (A frozen, B trained)."""

    def __init__(self, base: nn.Linear, a: torch.Tensor, b: torch.Tensor, scaling: float,
                 dropout: nn.Module | None = None) -> None:
        super().__init__()
        d, r = a.shape
        if b.shape[0] != r or b.shape[1] != base.out_features or d != base.in_features:
            raise ValueError(f"shapes do not fit: base {tuple(base.weight.shape)}, A {tuple(a.shape)}, "
                             f"B {tuple(b.shape)}")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.A = nn.Parameter(a.detach().clone(), requires_grad=False)  # d x r, frozen
        self.B = nn.Parameter(b.detach().clone())  # r x o, trained
        self.scaling = scaling
        self.dropout = dropout if dropout is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * LoRAFAFunction.apply(self.dropout(x), self.A, self.B)


def lora_a_b(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(A, B, scaling) of a peft LoRA linear layer in the paper's layout (A: d x r, B: r x o)."""
    a = layer.lora_A["default"].weight.transpose(0, 1)
    b = layer.lora_B["default"].weight.transpose(0, 1)
    return a, b, float(layer.scaling["default"])


def to_explicit(model: nn.Module) -> nn.Module:
    """Replace every peft LoRA linear layer of ``model`` by a :class:`LoRAFALinear` (in place)."""
    from peft.tuners.lora import Linear as PeftLoraLinear

    targets = [(name, m) for name, m in model.named_modules() if isinstance(m, PeftLoraLinear)]
    if not targets:
        raise ValueError("the model has no peft LoRA layers to convert")
    for name, m in targets:
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        a, b, scaling = lora_a_b(m)
        drop = m.lora_dropout["default"]
        setattr(parent, name.rsplit(".", 1)[-1],
                LoRAFALinear(m.get_base_layer(), a, b, scaling, drop))
    return model
