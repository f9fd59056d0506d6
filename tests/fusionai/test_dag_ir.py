"""The DAG against torch (parameters, FLOPs, saved activations) and the IR executor."""

from __future__ import annotations

import json

import networkx as nx
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from reprobook.fusionai import dag as D
from reprobook.fusionai import ir as I
from reprobook.fusionai.llama import LlamaConfig, build, lm_loss, n_params, synthetic_tokens

CFG = LlamaConfig(n_layers=3)
S = 16


@pytest.fixture(scope="module")
def model():
    return build(CFG, 0)


@pytest.fixture(scope="module")
def G():
    return D.llama_dag(CFG, S, dtype_bytes=4)


def test_parameters_match_torch_and_the_closed_form(model, G):
    c = D.unit_costs(G)
    assert c.params.sum() == sum(p.numel() for p in model.parameters()) == n_params(CFG)
    assert c.names == ("embed", "block0", "block1", "block2", "head")


def test_flops_match_torch_flop_counter_per_unit(model, G):
    """Each unit's DAG FLOPs against torch's counter (math attention, so that it is counted)."""
    x, _ = synthetic_tokens(CFG, 1, S, 0)
    G = D.llama_dag(CFG, S, dtype_bytes=4, with_loss=False)
    c = D.unit_costs(G)
    ex = I.Executor(I.from_dag(G, ["lm_head"]), dict(model.state_dict()))
    env = {"tokens": x}
    ir = ex.ir
    for u, want in zip(c.names, c.flops):
        nodes, ext, outs = ir.stage([u])
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
            env.update(ex.run(env, nodes, outs))
        assert fc.get_total_flops() == want, u


def test_activation_bytes_match_saved_tensors(model, G):
    """The DAG's bytes kept for backward against torch's saved tensors (unique storages)."""
    x, y = synthetic_tokens(CFG, 1, S, 0)
    saved: dict[int, int] = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        lm_loss(model(x), y)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    measured = sum(v for k, v in saved.items() if k not in params)
    assert D.unit_costs(G).act_bytes.sum() == pytest.approx(measured, rel=0.05)


def test_a_cycle_is_an_error_naming_a_node(G):
    H = G.copy()
    H.add_edge("model.layers.1.res2", "model.layers.0.attn_norm")
    with pytest.raises(D.DagError, match="cycle through node"):
        D.validate(H, "test graph")
    with pytest.raises(D.DagError, match="not acyclic"):
        D.unit_costs(H)


def test_a_malformed_node_is_named(G):
    H = G.copy()
    H.nodes["model.layers.0.q"]["flops"] = -1.0
    with pytest.raises(D.DagError, match="'model.layers.0.q' has flops"):
        D.validate(H)
    H = G.copy()
    H.nodes["embed"]["op"] = "conv"
    with pytest.raises(D.DagError, match="'embed' has unknown op"):
        D.validate(H)


def test_boundary_between_blocks_is_one_hidden_state(G):
    c = D.unit_costs(G)
    assert list(c.boundary_bytes[:-1]) == [S * CFG.hidden * 4] * (len(c) - 1)
    assert c.boundary_bytes[-1] == 0


def test_ir_file_round_trip_equals_the_module_bitwise(model, G, tmp_path):
    p = I.save(I.from_dag(G, ["lm_head", "loss"]), tmp_path / "m.json")
    ir = I.load(p)
    x, y = synthetic_tokens(CFG, 3, S, 1)
    out = I.Executor(ir, dict(model.state_dict())).run({"tokens": x, "targets": y})
    with torch.no_grad():
        assert torch.equal(out["lm_head"], model(x))
        assert torch.equal(out["loss"], lm_loss(model(x), y))


def test_stages_compose_to_the_whole_graph(model):
    ir = I.from_dag(D.llama_dag(CFG, S, with_loss=False), ["lm_head"])
    ex = I.Executor(ir, dict(model.state_dict()))
    x, _ = synthetic_tokens(CFG, 2, S, 2)
    env = {"tokens": x}
    for units in (["embed", "block0"], ["block1"], ["block2", "head"]):
        nodes, ext, outs = ir.stage(units)
        assert set(ext) <= set(env)
        env = {**env, **ex.run({k: env[k] for k in ext}, nodes, outs)}
    assert torch.equal(env["lm_head"], ex.run({"tokens": x})["lm_head"])


def test_ir_matches_transformers_llama():
    """Hugging Face's LlamaForCausalLM, its own weights, on the IR executor."""
    transformers = pytest.importorskip("transformers")
    hc = transformers.LlamaConfig(vocab_size=CFG.vocab_size, hidden_size=CFG.hidden,
                                  intermediate_size=CFG.ffn, num_hidden_layers=CFG.n_layers,
                                  num_attention_heads=CFG.n_heads,
                                  num_key_value_heads=CFG.n_kv_heads, rms_norm_eps=CFG.eps,
                                  max_position_embeddings=64, tie_word_embeddings=False)
    torch.manual_seed(3)
    hf = transformers.LlamaForCausalLM(hc).eval()
    x, _ = synthetic_tokens(CFG, 2, S, 3)
    sd = {k: v for k, v in hf.state_dict().items() if "rotary" not in k}
    with torch.no_grad():
        ir = I.from_dag(D.llama_dag(CFG, S, with_loss=False), ["lm_head"])
        got = I.Executor(ir, sd).run({"tokens": x})
        torch.testing.assert_close(got["lm_head"], hf(x).logits, rtol=1e-5, atol=1e-5)


def test_ir_that_does_not_match_its_weights_names_file_node_and_parameter(model, tmp_path):
    p = I.save(I.from_dag(D.llama_dag(LlamaConfig(n_layers=4), S), ["lm_head"]), tmp_path / "4.json")
    with pytest.raises(I.IRMismatchError, match=r"4\.json: node 'model\.layers\.3\.attn_norm' "
                       r"needs parameter"):
        I.Executor(I.load(p), dict(model.state_dict()))
    wide = build(LlamaConfig(n_layers=3, hidden=32, n_heads=4, ffn=80), 0)
    p3 = I.save(I.from_dag(D.llama_dag(CFG, S), ["lm_head"]), tmp_path / "3.json")
    with pytest.raises(I.IRMismatchError, match=r"3\.json: node 'embed' expects "
                       r"'model\.embed_tokens\.weight' of shape \[256, 64\]"):
        I.Executor(I.load(p3), dict(wide.state_dict()))
    extra = dict(model.state_dict(), **{"extra.weight": torch.zeros(2)})
    with pytest.raises(I.IRMismatchError, match="never uses"):
        I.Executor(I.load(p3), extra)


def test_malformed_ir_files_are_named(tmp_path, G):
    doc = I.from_dag(G, ["lm_head"]).to_json()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(I.IRError, match="bad.json: cannot read"):
        I.load(bad)
    d2 = json.loads(json.dumps(doc))
    d2["nodes"][3], d2["nodes"][5] = d2["nodes"][5], d2["nodes"][3]
    (tmp_path / "order.json").write_text(json.dumps(d2))
    with pytest.raises(I.IRError, match="order.json: node .* reads .* before they are defined"):
        I.load(tmp_path / "order.json")
    d3 = json.loads(json.dumps(doc))
    d3["format"] = "onnx"
    (tmp_path / "fmt.json").write_text(json.dumps(d3))
    with pytest.raises(I.IRError, match="fmt.json: not a"):
        I.load(tmp_path / "fmt.json")


def test_dag_is_a_networkx_dag(G):
    assert nx.is_directed_acyclic_graph(G)
    assert G.nodes["model.layers.0.attn"]["inputs"] == [
        "model.layers.0.rope_q", "model.layers.0.rope_k", "model.layers.0.v"]
