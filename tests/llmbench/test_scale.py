"""The paper's-scale paths on a CPU machine: configs, clear "not available", decode timing."""

from __future__ import annotations

import pytest
import torch

from reprobook.llmbench import scale, study
from reprobook.llmbench.config import small_config
from reprobook.llmbench.models import TECHNIQUES, build


def test_deepspeed_config_follows_the_grid():
    c = scale.deepspeed_config(3, offload=True, micro_batch=2)
    z = c["zero_optimization"]
    assert z["stage"] == 3 and z["offload_optimizer"]["device"] == "cpu"
    assert z["offload_param"]["device"] == "cpu" and c["train_micro_batch_size_per_gpu"] == 2
    assert "offload_param" not in scale.deepspeed_config(2, True)["zero_optimization"]
    with pytest.raises(ValueError):
        scale.deepspeed_config(1, offload=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU answer")
def test_gpu_paths_say_why_they_cannot_run_here():
    rows = study.deepspeed_grid(["7b"], 1, 512, 8, "cpu")
    assert len(rows) == 4 and all(r["status"] == "not available on this device" for r in rows)
    assert all(r["predicted GB per GPU"] > 0 for r in rows)
    assert study.zero_measured(rows) is None
    vl = scale.serve_vllm("7b", [1, 2], 16, 4, device="cpu")
    assert [r["status"] for r in vl] == ["not available on this device"] * 2


def test_model_config_sizes():
    assert scale.model_config("small-128").hidden_size == 128
    with pytest.raises(ValueError, match="not one of"):
        scale.model_config("7x")


def test_hf_decode_measures_both_phases():
    cfg = small_config(64, layers=1, heads=4, vocab=128)
    row = scale.hf_decode(build(cfg, TECHNIQUES["sdpa"]), 128, 2, 8, 3)
    assert row["prefill_s"] > 0 and row["tpot_s"] > 0 and row["decode_tokens_per_s"] > 0
