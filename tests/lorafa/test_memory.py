from __future__ import annotations

import copy

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from reprobook.lorafa import memory as M
from reprobook.lorafa.layers import LoRAFAFunction, to_explicit
from reprobook.lorafa.methods import AdapterSpec, prepare


@pytest.mark.parametrize("b,s,d,o,r", [(2, 16, 64, 64, 4), (3, 7, 96, 32, 8), (1, 33, 40, 120, 1)])
@pytest.mark.parametrize("method", ["full", "lora", "lorafa"])
def test_per_layer_saved_bytes_are_exact(method, b, s, d, o, r):
    assert M.measure_layer(method, b, s, d, o, r) == M.layer_activation_bytes(method, b, s, d, r, 4)


@pytest.mark.parametrize("method", ["lora", "lorafa"])
def test_per_layer_with_dropout(method):
    assert M.measure_layer(method, 2, 8, 64, 64, 4, dropout=0.1) == \
        M.layer_activation_bytes(method, 2, 8, 64, 4, 4, dropout=True)


def test_formula_rejects_bad_sizes():
    with pytest.raises(ValueError, match="rank r must be a positive integer"):
        M.layer_activation_bytes("lora", 1, 1, 8, 0, 4)
    with pytest.raises(ValueError, match="method"):
        M.layer_activation_bytes("qlora", 1, 1, 8, 2, 4)
    with pytest.raises(ValueError, match="rank"):
        AdapterSpec(r=0)


def tiny_bert(seed: int, hidden: int, layers: int, inter: int) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=120, hidden_size=hidden, num_hidden_layers=layers,
                     num_attention_heads=4, intermediate_size=inter, max_position_embeddings=64,
                     num_labels=2)
    return BertForSequenceClassification(cfg)


def batch(seed: int, b: int, s: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"input_ids": torch.randint(5, 120, (b, s), generator=g),
            "attention_mask": torch.ones(b, s, dtype=torch.long),
            "labels": torch.randint(0, 2, (b,), generator=g)}


def measured(base, method: str, r: int, probe) -> tuple[int, list]:
    m, _ = prepare(copy.deepcopy(base), method, AdapterSpec(r=r, alpha=2 * r), 1e-3)
    m.train()
    torch.manual_seed(0)
    value = M.measure_activation_bytes(m, probe)
    return value, M.adapted_layers(m, probe)


@pytest.mark.parametrize("seed,hidden,layers,inter,b,s", [(0, 32, 2, 64, 2, 12), (1, 48, 3, 96, 3, 20)])
def test_whole_model_formula_within_two_percent(seed, hidden, layers, inter, b, s):
    base = tiny_bert(seed, hidden, layers, inter)
    probe = batch(seed, b, s)
    fa_ref, groups = measured(base, "lorafa", 4, probe)
    other = fa_ref - M.adapter_activation_bytes("lorafa", groups, b, s, 4, 4)
    for method, r in (("lora", 4), ("lora", 8), ("lorafa", 8)):
        got, _ = measured(base, method, r, probe)
        pred = other + M.adapter_activation_bytes(method, groups, b, s, r, 4)
        assert abs(pred - got) / got < 0.02
    # query, key and value share one input group per layer
    assert len({g.input_group for g in groups}) < len(groups)


def test_explicit_function_matches_peft_gradients_and_bytes():
    base = tiny_bert(2, 32, 2, 64)
    probe = batch(2, 2, 10)
    m1, _ = prepare(copy.deepcopy(base), "lorafa", AdapterSpec(r=4, alpha=8), 1e-3)
    for n, p in m1.named_parameters():
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.1)
    m2 = to_explicit(copy.deepcopy(m1))
    results = []
    for m in (m1, m2):
        m.train()
        torch.manual_seed(0)
        nbytes = M.measure_activation_bytes(m, probe)
        torch.manual_seed(0)
        m(**probe).loss.backward()
        results.append(nbytes)
    assert results[0] == results[1]
    g1 = [p.grad for n, p in m1.named_parameters() if "lora_B" in n]
    g2 = [mod.B.grad.T for mod in m2.modules() if hasattr(mod, "B")]
    assert len(g1) == len(g2) > 0
    for a, b2 in zip(g1, g2):
        torch.testing.assert_close(a, b2, rtol=1e-5, atol=1e-7)


def test_function_gradients_against_autograd():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)
    a = torch.randn(6, 3, dtype=torch.float64)
    b = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x_, b_: LoRAFAFunction.apply(x_, a, b_), (x, b))


@pytest.mark.parametrize("method", ["full", "lora", "lorafa", "head"])
def test_training_memory_parts_are_the_tensors(method):
    """Weights: every parameter once; gradients: one per trainable weight; AdamW: two moments
    per trainable weight (plus a step counter per tensor); activations: the meter's count."""
    base = tiny_bert(6, 32, 2, 64)
    probe = batch(6, 2, 10)
    m, opt_fn = prepare(copy.deepcopy(base), method, AdapterSpec(r=4, alpha=8), 1e-3)
    n_all = sum(p.numel() for p in m.parameters())
    trainable = [p for p in m.parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in trainable)
    torch.manual_seed(0)
    expected_act = M.measure_activation_bytes(m, probe)
    torch.manual_seed(0)
    mem = M.measure_training_memory(m, probe, opt_fn)
    assert mem.parameters == 4 * n_all
    assert mem.gradients == 4 * n_train
    assert mem.optimizer == 8 * n_train + 4 * len(trainable)  # exp_avg, exp_avg_sq, step
    assert mem.activations == expected_act
    assert mem.total == sum(mem.as_dict()[k] for k in ("parameters", "gradients", "optimizer",
                                                       "activations"))


def test_tensor_bytes_counts_a_shared_storage_once():
    t = torch.zeros(10, 4)
    assert M.tensor_bytes([t, t[2:], t.view(40)]) == 160
    assert M.tensor_bytes([t, torch.zeros(3, dtype=torch.bfloat16)]) == 166
