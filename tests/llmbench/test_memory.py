"""The analytical memory model: closed forms, the ZeRO paper, transformers and DeepSpeed."""

from __future__ import annotations

import importlib.util

import pytest

from reprobook.llmbench import memory as M
from reprobook.llmbench import study
from reprobook.llmbench.config import ConfigError, dims_of, llama2_config, llama_config
from reprobook.llmbench.constants import GB, LLAMA2, ZERO_EXAMPLE_GB


def test_mixed_precision_adam_is_16_bytes_per_parameter():
    st = M.model_states(1_000, stage=0, N=1)
    assert st["total"] == 16_000
    assert (st["params"], st["grads"], st["optimizer"]) == (2_000, 2_000, 12_000)


def test_zero_paper_example():
    got = {r["stage"]: round(r["GB per GPU"], 1) for r in study.zero_example()}
    assert got == ZERO_EXAMPLE_GB == {0: 120.0, 1: 31.4, 2: 16.6, 3: 1.9}


@pytest.mark.parametrize("size", sorted(LLAMA2))
def test_parameter_counts_equal_published_and_meta_device(size):
    cfg = llama2_config(size)
    assert M.param_count(dims_of(cfg)) == LLAMA2[size].params == study.meta_param_count(cfg)


def test_parameter_count_with_biases_and_tied_embeddings_matches_transformers():
    cfg = llama_config(64, 160, 2, 4, 2, vocab=100)
    cfg.attention_bias, cfg.mlp_bias, cfg.tie_word_embeddings = True, True, True
    assert M.param_count(dims_of(cfg)) == study.meta_param_count(cfg)


def test_memory_decreases_across_zero_stages_and_offload():
    P = 6.7e9
    totals = [M.model_states(P, st, 8)["total"] for st in M.STAGES]
    assert totals == sorted(totals, reverse=True) and len(set(totals)) == 4
    for st in (2, 3):
        assert M.model_states(P, st, 8, offload=True)["total"] < totals[st]
    assert M.model_states(P, 3, 1)["total"] == totals[0]  # nothing to shard over one GPU


def test_recompute_le_sdpa_le_eager():
    m = dims_of(llama2_config("7b"))
    for b, s in ((1, 512), (4, 2048)):
        eager = M.saved_activation_bytes(m, b, s, "eager")
        sdpa = M.saved_activation_bytes(m, b, s, "sdpa")
        flash = M.saved_activation_bytes(m, b, s, "flash")
        rc = M.saved_activation_bytes(m, b, s, "sdpa", recompute=True)
        assert rc < sdpa == flash < eager


def test_kv_cache_per_token_of_llama2():
    assert M.kv_cache_bytes_per_token(dims_of(llama2_config("7b")), 2) == 2**19  # 0.5 MiB
    assert M.kv_cache_bytes_per_token(dims_of(llama2_config("70b")), 2) == 2 * 80 * 8 * 128 * 2


def test_grid_fits_are_consistent_with_totals():
    for r in study.memory_grid(1, 512, 8):
        assert r["fits 24 GB"] == (r["total"] <= 24) and r["fits 80 GB"] == (r["total"] <= 80)
    z0 = next(r for r in study.memory_grid() if r["technique"].startswith("ZeRO-0 (DDP)"))
    assert z0["total"] > 16 * 6.7  # the 16 bytes/param of model states alone


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="needs deepspeed")
def test_deepspeed_accounting_equals_deepspeeds_estimator():
    rows = study.deepspeed_rows(8, call=True)
    assert rows
    for r in rows:
        assert r["DeepSpeed accounting (GB)"] == pytest.approx(r["DeepSpeed estimator (GB)"],
                                                               rel=1e-9)


def test_deepspeed_accounting_needs_stage_2_or_3():
    with pytest.raises(ValueError, match="ZeRO-2 and ZeRO-3"):
        M.deepspeed_model_states(10, 1, 8)


@pytest.mark.parametrize("kw, msg", [
    (dict(hidden=100, intermediate=256, layers=2, heads=3), "not divisible"),
    (dict(hidden=128, intermediate=256, layers=2, heads=8, kv_heads=3), "not a multiple"),
    (dict(hidden=128, intermediate=256, layers=0, heads=8), "num_hidden_layers"),
    (dict(hidden=120, intermediate=256, layers=2, heads=8), "odd"),
])
def test_inconsistent_config_is_a_clear_error(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        llama_config(**kw)


def test_bad_stage_and_sizes_are_errors():
    with pytest.raises(ValueError, match="stage"):
        M.model_states(1e9, 4, 8)
    with pytest.raises(ValueError, match="N must be"):
        M.model_states(1e9, 2, 0)
    with pytest.raises(ValueError, match="batch|b must"):
        M.layer_activation_bytes(dims_of(llama2_config("7b")), 0, 128)
    with pytest.raises(ValueError, match="attention"):
        M.layer_activation_bytes(dims_of(llama2_config("7b")), 1, 128, attn="xformers")


def test_lora_trains_a_small_fraction_and_qlora_shrinks_the_weights():
    m = dims_of(llama2_config("7b"))
    lora = M.lora_params(m, 8)
    assert lora == 32 * 8 * (4 * (4096 + 4096) + 2 * (4096 + 11008) + (11008 + 4096))
    full = M.peak_training_memory(m, M.Technique("f"), 1, 512)["total"]
    lo = M.peak_training_memory(m, M.Technique("l", lora_r=8), 1, 512)["total"]
    q = M.peak_training_memory(m, M.Technique("q", lora_r=8, nf4=True), 1, 512)["total"]
    assert q < lo < full and lo < 20 * GB
