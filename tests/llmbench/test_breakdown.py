"""The profiler breakdown covers the step with the paper's categories."""

from __future__ import annotations

import torch

from reprobook.llmbench import breakdown as B
from reprobook.llmbench import study


def test_categories_cover_at_least_95_percent_of_the_step():
    p = study.Small(hidden=256, layers=2, heads=4, kv_heads=4, vocab=1024, batch=2, seq=128)
    events = study.profile_configs(p, ["sdpa", "eager", "flash"], 1, 1, "cpu", torch.float32)
    assert set(events) == {"sdpa", "eager"}  # flash cannot run on the CPU
    for ev in events.values():
        sh = B.shares(B.attribute(ev))
        assert sh["covered"] >= 0.95
        assert all(sh[c] > 0 for c in ("rms", "qkv", "rope", "attention", "wo", "mlp",
                                       "lm_head", "optimizer"))
        assert abs(sum(sh[c] for c in B.CATEGORIES) - 1) < 1e-9


def test_labelling_restores_the_library():
    from transformers.models.llama import modeling_llama as ml
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    from reprobook.llmbench.models import TECHNIQUES, build

    model = build(study.small_cfg(study.Small(hidden=64, layers=1, heads=4, kv_heads=4, vocab=64)),
                  TECHNIQUES["sdpa"])
    rope, sdpa = ml.apply_rotary_pos_emb, ALL_ATTENTION_FUNCTIONS["sdpa"]
    with B.labelled(model):
        assert ml.apply_rotary_pos_emb is not rope
    assert ml.apply_rotary_pos_emb is rope and ALL_ATTENTION_FUNCTIONS["sdpa"] is sdpa
    assert not any(m._forward_hooks for m in model.modules())
