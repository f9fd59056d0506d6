"""Formulas against the real Hugging Face Llama: saved activations, KV cache, FLOPs."""

from __future__ import annotations

import pytest
import torch

from reprobook.llmbench import flops as F
from reprobook.llmbench import measure
from reprobook.llmbench import memory as M
from reprobook.llmbench.config import dims_of, small_config
from reprobook.llmbench.models import Spec, build, random_batch


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("kv", [4, 2])
@pytest.mark.parametrize("attn, rc", [("eager", False), ("sdpa", False), ("sdpa", True)])
@pytest.mark.parametrize("b", [1, 2])
def test_activation_formula_within_1_percent_of_saved_tensors(dtype, kv, attn, rc, b):
    cfg = small_config(64, layers=2, heads=4, kv_heads=kv, vocab=512)
    model = build(cfg, Spec("x", attn=attn, recompute=rc), dtype=dtype)
    s = 48
    got = measure.saved_activation_bytes(model, random_batch(512, b, s, 0))
    e = torch.finfo(dtype).bits // 8
    want = M.saved_activation_bytes(dims_of(cfg), b, s, attn, e, rc)
    assert got == pytest.approx(want, rel=0.01)
    assert got == want  # in fact to the byte


@pytest.mark.parametrize("kv", [4, 1])
def test_kv_formula_equals_real_cache_bytes(kv):
    cfg = small_config(64, layers=3, heads=4, kv_heads=kv, vocab=256)
    model = build(cfg, Spec("x"), dtype=torch.bfloat16)
    got = measure.kv_cache_bytes(model, random_batch(256, 2, 40, 0))
    assert got == M.kv_cache_bytes_per_token(dims_of(cfg), 2) * 2 * 40


def test_flops_within_5_percent_of_flop_counter():
    cfg = small_config(64, layers=2, heads=4, vocab=512, attn="eager")
    model = build(cfg, Spec("x", attn="eager"))
    got = measure.counted_flops(model, random_batch(512, 2, 64, 0))
    want = F.training_flops(dims_of(cfg), 2, 64)
    assert got == pytest.approx(want, rel=0.05)


def test_recompute_factor_tends_to_four_thirds():
    from reprobook.llmbench.config import llama2_config

    f = F.recompute_factor(dims_of(llama2_config("7b")), 1, 2048)
    assert 1.25 < f < 4 / 3


def test_mfu_and_decode_floor():
    from reprobook.llmbench.config import llama2_config
    from reprobook.llmbench.constants import A800

    m = dims_of(llama2_config("7b"))
    assert F.mfu(A800.flops, 1.0, A800) == 1.0
    floor = F.decode_floor_seconds(m, A800)
    assert floor == pytest.approx(2 * M.param_count(m) / A800.bandwidth)
    with pytest.raises(ValueError):
        F.mfu(1.0, 0.0, A800)


def test_peak_rss_can_be_reset():
    if not measure.reset_peak_rss():
        pytest.skip("the kernel refuses /proc/self/clear_refs")
    x = torch.ones(8 * 2**20 // 4)
    assert measure.peak_rss() >= measure.rss() > 0
    del x
