"""The chapter's GPU smoke check runs on the CPU at tiny size (ARCHITECTURE §7)."""

from __future__ import annotations

import pytest
import torch

from reprobook.core import gpusmoke
from reprobook.lorafa import gpu_smoke


def test_check_runs_on_cpu_with_the_saved_tensor_meter():
    out = gpu_smoke.llama_peak_memory("cpu", tiny=True)
    assert out["memory"] == "saved-tensor meter + tensors" and out["dtype"] == "bfloat16"
    assert out["lora_peak_gib"] > out["lorafa_peak_gib"] > 0
    assert out["lora_over_lorafa"] == pytest.approx(out["lora_peak_gib"] / out["lorafa_peak_gib"])
    # peft's default autocast keeps LoRA's adapters and inputs in fp32: more memory
    assert out["lora_autocast_peak_gib"] > out["lora_peak_gib"]


def test_registered_with_the_book():
    assert gpu_smoke.llama_peak_memory in [fn for name, fn in gpusmoke.checks(("lorafa",))]
    (res,) = gpusmoke.run_all(device="cpu", tiny=True, modules=("lorafa",))
    assert res.status == "ok", res.reason


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
def test_cuda_without_a_gpu_is_skipped():
    with pytest.raises(gpusmoke.Skip, match="CUDA is not available"):
        gpu_smoke.llama_peak_memory("cuda", tiny=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_check_on_cuda_reads_peak_memory():
    out = gpu_smoke.llama_peak_memory("cuda", tiny=True)
    assert out["memory"] == "cuda.max_memory_allocated"
    assert out["lora_over_lorafa"] > 1
