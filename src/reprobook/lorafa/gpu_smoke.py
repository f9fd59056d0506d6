"""The LoRA-FA chapter's GPU path in the book's GPU smoke run (ARCHITECTURE §7).

One check: LoRA vs LoRA-FA overall memory of one training step on a LLaMA-shaped model built
from a config with random weights (nothing is downloaded), all seven projections adapted, r = 8,
bf16, peft's adapter autocast off (:mod:`.llama`), and LoRA once more with peft's default autocast
on (adapters and their inputs in fp32). On CUDA the memory is ``torch.cuda.max_memory_allocated``
over the step; on the CPU (the unit tests, ``tiny=True``) the same step is measured with the
book's saved-tensor meter plus the weights, gradients and optimizer state.
"""

from __future__ import annotations

from typing import Any

from reprobook.core.gpusmoke import Skip

from . import llama as L

#: (shape, batch, sequence length) of the check: LLaMA-7B's shapes at s = 1024 on a GPU (about
#: 14 GB of bf16 weights per model; two models, built one after the other), the tiny LLaMA-shaped
#: model otherwise.
SIZES = {False: (L.LLAMA_7B, 1, 1024), True: (L.TINY, 2, 64)}


def llama_peak_memory(device: str, tiny: bool) -> dict[str, Any]:
    """LoRA vs LoRA-FA peak memory of one training step on a LLaMA-shaped model."""
    import torch

    try:
        import peft  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise Skip(f"{exc.name} is not installed (the lorafa extra)") from exc
    cuda = device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise Skip("CUDA is not available")
    shape, batch, seq = SIZES[tiny]
    dtype = torch.bfloat16
    rows = [L.peak_memory(shape, m, batch, seq, r=8, device=device, dtype=dtype,
                          autocast_adapter_dtype=a)
            for m, a in (("lora", False), ("lorafa", False), ("lora", True))]
    bad = [f"{r['method']}: {r['status']}" for r in rows if r["status"] != "ok"]
    if bad:
        raise RuntimeError(f"{shape.name} at b={batch}, s={seq}: {'; '.join(bad)}")
    key = "peak_bytes" if cuda else "total_bytes"
    lora, fa, lora_autocast = (r[key] for r in rows)
    return {"model": shape.name, "seq": seq, "batch": batch, "dtype": "bfloat16",
            "memory": "cuda.max_memory_allocated" if cuda else "saved-tensor meter + tensors",
            "lora_peak_gib": lora / L.GIB, "lorafa_peak_gib": fa / L.GIB,
            "lora_over_lorafa": lora / fa, "lora_autocast_peak_gib": lora_autocast / L.GIB,
            "lora_autocast_over_lorafa": lora_autocast / fa}


CHECKS = [llama_peak_memory]
