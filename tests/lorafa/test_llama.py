from __future__ import annotations

import pytest
import torch

from reprobook.lorafa import llama as L

SMALL = L.LlamaShape("test", 64, 160, 1, 4, 200)


def test_paper_example_in_closed_form():
    # LLaMA-65B, b = 4, s = 2048, fp16: per layer 3 inputs of width 8192 and one of 22016
    expected = 2 * 4 * 2048 * (3 * 8192 + 22016) * 80
    assert L.lora_input_bytes(L.LLAMA_65B, 4, 2048, 2) == expected
    assert expected / 1e9 > 50  # the paper's "> 50 GB"
    assert L.lora_input_bytes(L.LLAMA_65B, 4, 2048, 2, ("q_proj", "v_proj")) == 2 * 4 * 2048 * 8192 * 80
    with pytest.raises(ValueError, match="unknown target"):
        L.lora_input_bytes(L.LLAMA_7B, 1, 1, 2, ("qkv",))


def test_single_layer_groups_match_the_count():
    rows = {r["group"]: r for r in L.group_breakdown(SMALL, 2, 16, r=4)}
    assert set(rows) == set(L.INPUT_GROUPS)
    for r in rows.values():
        assert r["measured"] == r["formula"]


def test_cpu_step_orders_the_methods():
    got = {m: L.peak_memory(SMALL, m, 2, 16, r=4) for m in ("full", "lora", "lorafa")}
    assert all(g["status"] == "ok" for g in got.values())
    b = {m: g["activation_bytes"] for m, g in got.items()}
    assert b["lorafa"] < b["lora"] <= b["full"] * 1.1


def test_build_has_llama_shapes():
    m = L.build(SMALL)
    assert m.config.hidden_size == 64 and m.config.num_hidden_layers == 1
    assert m.model.layers[0].mlp.down_proj.weight.shape == (64, 160)
    assert next(m.parameters()).dtype == torch.float32


def test_with_every_projection_adapted_o_proj_input_is_free():
    """Attention keeps its output for backward once its inputs require grad; o_proj's input is a
    view of it, so with every projection adapted LoRA's extra bytes are the count without o_proj."""
    two = L.LlamaShape("two layers", 64, 160, 2, 4, 200)
    got = {m: L.peak_memory(two, m, 2, 16, r=4)["activation_bytes"] for m in ("lora", "lorafa")}
    without_o = tuple(t for t in L.LLAMA_TARGETS if t != "o_proj")
    assert got["lora"] - got["lorafa"] == L.lora_input_bytes(two, 2, 16, 4, without_o)


def test_peft_autocast_keeps_fp32_copies_of_the_inputs():
    """bf16 model: with peft's default autocast every adapted layer casts its input to fp32;
    LoRA keeps that copy (4 bytes) for A's gradient instead of the shared bf16 input (2 bytes,
    o_proj's free), and both keep X A in fp32 instead of bf16. Exact, per token and layer."""
    b, s, r, d, f = 2, 16, 4, SMALL.hidden, SMALL.intermediate
    two = L.LlamaShape("two layers", d, f, 2, 4, 200)
    got = L.autocast_effect(two, b, s, r).set_index(["method", "autocast_adapter_dtype"])
    act = got["activation_bytes"]
    per_token_layer = {"lora": 4 * (6 * d + f) - 2 * (2 * d + f) + 2 * 7 * r, "lorafa": 2 * 7 * r}
    for method, extra in per_token_layer.items():
        assert act[(method, True)] - act[(method, False)] == b * s * two.layers * extra
    table = L.autocast_table(got.reset_index())
    assert table.loc["LoRA / LoRA-FA"].iloc[1] > table.loc["LoRA / LoRA-FA"].iloc[0]
