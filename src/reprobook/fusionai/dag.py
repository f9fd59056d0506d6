"""A model as a directed acyclic graph of operations (paper: "abstracting ML procedures into
DAGs to achieve model and task universality").

:func:`llama_dag` builds the operation graph of a Llama (:mod:`.llama`) with networkx. Every node
carries its operation, the pipeline *unit* it belongs to (``embed``, ``block0`` ... , ``head``),
its ordered inputs, its parameters (name and shape), and per sequence of ``seq_len`` tokens
(micro-batch size 1; costs scale linearly with the micro-batch size b):

- ``flops``: forward FLOPs, counting matrix products as 2 m n k the way
  ``torch.utils.flop_counter`` does (attention counts its full s x s products; element-wise
  operations count zero);
- ``param_count``: parameters;
- ``out_bytes``: bytes of its output tensor;
- ``act_bytes``: bytes kept for the backward pass (the output, if a consumer saves it, plus the
  operation's internal saved tensors).

:func:`unit_costs` contracts the graph to its units in pipeline order, with the bytes crossing
each cut between consecutive units: what a contiguous pipeline partition (:mod:`.scheduler`)
needs. :func:`validate` rejects cycles and malformed nodes with the node's name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from .llama import LlamaConfig

#: Operations whose backward keeps (some of) their inputs; see :func:`_saved_inputs`.
OPS = ("input", "embedding", "rmsnorm", "linear", "rope", "attention", "silu_mul", "add",
       "cross_entropy")
REQUIRED = ("op", "unit", "inputs", "params", "flops", "param_count", "out_bytes", "act_bytes")


class DagError(ValueError):
    """The graph is not a DAG, or a node is malformed; the message names the node."""


def _saved_inputs(op: str) -> tuple[int, ...]:
    """Indices of the inputs an operation's backward keeps (torch's autograd)."""
    return {"linear": (0,), "rmsnorm": (0,), "attention": (0,), "silu_mul": (0, 1),
            "embedding": (0,)}.get(op, ())


def llama_dag(cfg: LlamaConfig, seq_len: int, dtype_bytes: int = 2, with_loss: bool = True
              ) -> nx.DiGraph:
    """The operation graph of :class:`.llama.Llama` for sequences of ``seq_len`` tokens."""
    if seq_len <= 0 or dtype_bytes <= 0:
        raise ValueError(f"seq_len and dtype_bytes must be positive, got {seq_len}, {dtype_bytes}")
    s, h, e, d = seq_len, cfg.hidden, dtype_bytes, cfg.head_dim
    kv = cfg.n_kv_heads * d
    G = nx.DiGraph(name=f"llama h={h} L={cfg.n_layers} s={s}", seq_len=s, dtype_bytes=e,
                   config=cfg.to_dict())
    inner: dict[str, float] = {}

    def add(name: str, op: str, unit: str, inputs: list[str], out_elems: int,
            params: dict[str, tuple[str, tuple[int, ...]]] | None = None, flops: float = 0.0,
            attrs: dict[str, Any] | None = None, out_elem_bytes: int | None = None,
            internal_saved: float = 0.0) -> str:
        params = params or {}
        G.add_node(name, op=op, unit=unit, inputs=list(inputs), params=params,
                   attrs=attrs or {}, flops=float(flops),
                   param_count=int(sum(math.prod(sh) for _, sh in params.values())),
                   out_bytes=float(out_elems * (out_elem_bytes or e)), act_bytes=0.0)
        inner[name] = internal_saved
        for src in inputs:
            G.add_edge(src, name)
        return name

    def linear(name: str, unit: str, x: str, pname: str, n_in: int, n_out: int) -> str:
        return add(name, "linear", unit, [x], s * n_out, {"weight": (pname, (n_out, n_in))},
                   flops=2.0 * s * n_in * n_out)

    def rmsnorm(name: str, unit: str, x: str, pname: str) -> str:
        # keeps x and the normalised x (before the weight) for its backward
        return add(name, "rmsnorm", unit, [x], s * h, {"weight": (pname, (h,))},
                   attrs={"eps": cfg.eps}, internal_saved=s * h * e)

    add("tokens", "input", "embed", [], s, out_elem_bytes=8)
    if with_loss:
        add("targets", "input", "head", [], s, out_elem_bytes=8)
    x = add("embed", "embedding", "embed", ["tokens"], s * h,
            {"weight": ("model.embed_tokens.weight", (cfg.vocab_size, h))})
    for i in range(cfg.n_layers):
        p, u = f"model.layers.{i}", f"block{i}"
        n = rmsnorm(f"{p}.attn_norm", u, x, f"{p}.input_layernorm.weight")
        q = linear(f"{p}.q", u, n, f"{p}.self_attn.q_proj.weight", h, h)
        k = linear(f"{p}.k", u, n, f"{p}.self_attn.k_proj.weight", h, kv)
        v = linear(f"{p}.v", u, n, f"{p}.self_attn.v_proj.weight", h, kv)
        rq = add(f"{p}.rope_q", "rope", u, [q], s * h, attrs={"heads": cfg.n_heads, "head_dim": d,
                                                             "theta": cfg.rope_theta})
        rk = add(f"{p}.rope_k", "rope", u, [k], s * kv, attrs={"heads": cfg.n_kv_heads,
                                                              "head_dim": d, "theta": cfg.rope_theta})
        # scaled-dot-product attention keeps q, k and v repeated to all heads, its output (also
        # o's input) and the per-row log-sum-exp (fp32); flops: the two s x s products
        a = add(f"{p}.attn", "attention", u, [rq, rk, v], s * h,
                attrs={"n_heads": cfg.n_heads, "n_kv_heads": cfg.n_kv_heads, "head_dim": d},
                flops=4.0 * s * s * cfg.n_heads * d,
                internal_saved=2 * s * h * e + 4 * s * cfg.n_heads)
        o = linear(f"{p}.o", u, a, f"{p}.self_attn.o_proj.weight", h, h)
        r1 = add(f"{p}.res1", "add", u, [x, o], s * h)
        n2 = rmsnorm(f"{p}.mlp_norm", u, r1, f"{p}.post_attention_layernorm.weight")
        g = linear(f"{p}.gate", u, n2, f"{p}.mlp.gate_proj.weight", h, cfg.ffn)
        up = linear(f"{p}.up", u, n2, f"{p}.mlp.up_proj.weight", h, cfg.ffn)
        act = add(f"{p}.act", "silu_mul", u, [g, up], s * cfg.ffn,
                  internal_saved=s * cfg.ffn * e)  # silu(g) is kept for the product's backward
        dn = linear(f"{p}.down", u, act, f"{p}.mlp.down_proj.weight", cfg.ffn, h)
        x = add(f"{p}.res2", "add", u, [r1, dn], s * h)
    n = rmsnorm("norm", "head", x, "model.norm.weight")
    logits = linear("lm_head", "head", n, "lm_head.weight", h, cfg.vocab_size)
    if with_loss:
        add("loss", "cross_entropy", "head", [logits, "targets"], 1, out_elem_bytes=4,
            internal_saved=s * cfg.vocab_size * e)  # log-softmax of the logits
    for name in G:
        op = G.nodes[name]["op"]
        saved_by_consumer = any(
            G.nodes[c]["inputs"].index(name) in _saved_inputs(G.nodes[c]["op"])
            for c in G.successors(name))
        own = G.nodes[name]["out_bytes"] if saved_by_consumer and op != "input" else 0.0
        G.nodes[name]["act_bytes"] = float(own + inner[name])
    return G


def validate(G: nx.DiGraph, source: str = "graph") -> nx.DiGraph:
    """Check that ``G`` is a DAG of well-formed nodes; raise :class:`DagError` naming the node."""
    if not nx.is_directed_acyclic_graph(G):
        cycle = nx.find_cycle(G)
        path = " -> ".join(str(u) for u, _ in cycle) + f" -> {cycle[0][0]}"
        raise DagError(f"{source}: not acyclic; cycle through node {cycle[0][0]!r}: {path}")
    for name, a in G.nodes(data=True):
        missing = [k for k in REQUIRED if k not in a]
        if missing:
            raise DagError(f"{source}: node {name!r} lacks attribute(s) {missing}")
        if a["op"] not in OPS:
            raise DagError(f"{source}: node {name!r} has unknown op {a['op']!r}; known: {OPS}")
        for k in ("flops", "param_count", "out_bytes", "act_bytes"):
            v = a[k]
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise DagError(f"{source}: node {name!r} has {k} = {v!r} (needs a finite "
                               f"number >= 0)")
        preds = set(G.predecessors(name))
        if set(a["inputs"]) != preds:
            raise DagError(f"{source}: node {name!r} lists inputs {a['inputs']} but its edges "
                           f"come from {sorted(preds)}")
    return G


@dataclass(frozen=True)
class UnitCosts:
    """Per pipeline unit, in pipeline order, per sequence (micro-batch size 1).

    ``boundary_bytes[i]`` is what crosses the cut between units i and i+1 (the last entry is 0).
    ``input_bytes[i]`` is the unit's input from the previous units (kept under recomputation).
    """

    names: tuple[str, ...]
    flops: np.ndarray
    params: np.ndarray
    act_bytes: np.ndarray
    boundary_bytes: np.ndarray
    input_bytes: np.ndarray
    dense_params: np.ndarray  # parameters read in full by every forward (not the embedding)
    kv_elems: np.ndarray  # key + value elements cached per token (attention units)
    seq_len: int
    elem_bytes: int

    def __len__(self) -> int:
        return len(self.names)


def unit_costs(G: nx.DiGraph, source: str = "graph") -> UnitCosts:
    """Contract the validated DAG to its units, in a topological order of the units."""
    validate(G, source)
    units = nx.DiGraph()
    for n, a in G.nodes(data=True):
        units.add_node(a["unit"])
    for u, v in G.edges:
        if G.nodes[u]["unit"] != G.nodes[v]["unit"]:
            units.add_edge(G.nodes[u]["unit"], G.nodes[v]["unit"])
    if not nx.is_directed_acyclic_graph(units):
        raise DagError(f"{source}: its units depend on each other in a cycle; a pipeline "
                       f"needs units in one order")
    order = list(nx.lexicographical_topological_sort(units, key=_unit_key))
    pos = {u: i for i, u in enumerate(order)}
    k = len(order)
    flops, params, act = np.zeros(k), np.zeros(k), np.zeros(k)
    boundary, inp, dense, kv = np.zeros(k), np.zeros(k), np.zeros(k), np.zeros(k)
    for n, a in G.nodes(data=True):
        i = pos[a["unit"]]
        flops[i] += a["flops"]
        params[i] += a["param_count"]
        act[i] += a["act_bytes"]
        if a["op"] != "embedding":
            dense[i] += a["param_count"]
        if a["op"] == "attention":
            kv[i] += 2 * a["attrs"]["n_kv_heads"] * a["attrs"]["head_dim"]
        later = {pos[G.nodes[c]["unit"]] for c in G.successors(n)}
        if later and max(later) > i:
            boundary[i:max(later)] += a["out_bytes"]  # crosses every cut up to its last consumer
            for j in later - {i}:
                inp[j] += a["out_bytes"]
    return UnitCosts(tuple(order), flops, params, act, boundary, inp, dense, kv,
                     int(G.graph.get("seq_len", 1)), int(G.graph.get("dtype_bytes", 2)))


def _unit_key(u: str) -> tuple[int, int, str]:
    if u == "embed":
        return (0, 0, u)
    if u.startswith("block") and u[5:].isdigit():
        return (1, int(u[5:]), u)
    return (2, 0, u)
