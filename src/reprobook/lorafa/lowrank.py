"""The low-rank property (the paper's method section): with A frozen, Delta W = alpha/r * A B
lies in span(A).

For each adapted layer, the relative residual ||(I - P_A) Delta W||_F / ||Delta W||_F with
P_A = A (A^T A)^-1 A^T the projector onto the columns of the *initial* A. LoRA-FA keeps it at
rounding level; LoRA, which trains A, moves Delta W out of the initial span.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from .layers import lora_a_b


def initial_a(model: nn.Module) -> dict[str, torch.Tensor]:
    """A (d x r) of every peft LoRA layer, copied before training."""
    from peft.tuners.lora import Linear as PeftLoraLinear

    return {n: lora_a_b(m)[0].detach().clone() for n, m in model.named_modules()
            if isinstance(m, PeftLoraLinear)}


def span_residuals(model: nn.Module, a0: dict[str, torch.Tensor]) -> pd.DataFrame:
    """Relative residual of Delta W outside span(A_0), per adapted layer."""
    from peft.tuners.lora import Linear as PeftLoraLinear

    rows = []
    for n, m in model.named_modules():
        if not isinstance(m, PeftLoraLinear) or n not in a0:
            continue
        a, b, scaling = lora_a_b(m)
        dw = scaling * (a @ b).detach().double()  # d x o, the weight change (paper layout)
        basis = a0[n].double()
        proj = basis @ torch.linalg.lstsq(basis, dw).solution
        norm = float(dw.norm())
        rows.append({"layer": n.replace("base_model.model.", ""), "delta_w_norm": norm,
                     "residual": float((dw - proj).norm()) / norm if norm > 0 else float("nan"),
                     "a_changed": float((a.detach().double() - basis).norm() / basis.norm())})
    return pd.DataFrame(rows)
