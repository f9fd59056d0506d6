"""A JSON intermediate representation of a model DAG and a torch executor for it (paper:
"abstracting intermediate representation and execution planes to ensure compatibility of
various devices and DL frameworks").

The IR lists the DAG's nodes in a topological order: name, operation, pipeline unit, ordered
inputs, attributes, and parameters by *name and shape* only. Weights travel separately (a state
dict, e.g. a ``transformers`` checkpoint), and :class:`Executor` binds them, refusing a state
dict that does not match: a missing or surplus parameter, or a wrong shape, is an
:class:`IRMismatchError` naming the IR file, the node and the parameter. :meth:`Executor.run`
executes the whole graph or any subset of nodes (a pipeline stage) from given boundary tensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import networkx as nx
import torch
import torch.nn.functional as F

from .dag import OPS, validate
from .llama import lm_loss, rope_cos_sin, rotate_half

FORMAT, VERSION = "reprobook.fusionai.ir", 1


class IRError(ValueError):
    """An IR file is malformed; the message names the file and the node."""


class IRMismatchError(IRError):
    """An IR and the weights bound to it do not belong together."""


@dataclass(frozen=True)
class IR:
    nodes: tuple[dict[str, Any], ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    model: dict[str, Any]
    source: str = "<memory>"

    def node(self, name: str) -> dict[str, Any]:
        return self._index()[name]

    def _index(self) -> dict[str, dict[str, Any]]:
        return {n["name"]: n for n in self.nodes}

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "model": self.model,
                "inputs": list(self.inputs), "outputs": list(self.outputs),
                "nodes": [dict(n) for n in self.nodes]}

    def units(self) -> list[str]:
        """Units in order of their first computing node (graph inputs do not count)."""
        seen: list[str] = []
        for n in self.nodes:
            if n["op"] != "input" and n["unit"] not in seen:
                seen.append(n["unit"])
        return seen

    def stage(self, units: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        """(nodes, external inputs, outputs) of the stage made of ``units``: what it computes,
        what it receives, and what it must send on (or what the graph outputs)."""
        inside = [n["name"] for n in self.nodes if n["unit"] in units and n["op"] != "input"]
        names, consumers = set(inside), {}
        for n in self.nodes:
            for i in n["inputs"]:
                consumers.setdefault(i, set()).add(n["name"])
        ext = sorted({i for n in inside for i in self.node(n)["inputs"] if i not in names},
                     key=self._order)
        outs = [n for n in inside
                if n in self.outputs or consumers.get(n, set()) - names]
        return inside, ext, outs

    def _order(self, name: str) -> int:
        return [n["name"] for n in self.nodes].index(name)


def from_dag(G: nx.DiGraph, outputs: Sequence[str], model: Mapping[str, Any] | None = None) -> IR:
    """The IR of a validated DAG (nodes in the graph's topological order)."""
    validate(G)
    order = list(nx.topological_sort(G)) if not _is_topo(G) else list(G.nodes)
    nodes = tuple({"name": n, "op": G.nodes[n]["op"], "unit": G.nodes[n]["unit"],
                   "inputs": list(G.nodes[n]["inputs"]), "attrs": dict(G.nodes[n]["attrs"]),
                   "params": {role: {"name": p, "shape": list(shape)}
                              for role, (p, shape) in G.nodes[n]["params"].items()}}
                  for n in order)
    inputs = tuple(n for n in order if G.nodes[n]["op"] == "input")
    return IR(nodes, inputs, tuple(outputs), dict(model or G.graph.get("config", {})))


def _is_topo(G: nx.DiGraph) -> bool:
    pos = {n: i for i, n in enumerate(G.nodes)}
    return all(pos[u] < pos[v] for u, v in G.edges)


def save(ir: IR, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ir.to_json(), indent=1) + "\n", encoding="utf-8")
    return path


def load(path: str | Path) -> IR:
    """Read and check an IR file: format, unique names, known operations, defined inputs."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IRError(f"{path}: cannot read an IR ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise IRError(f"{path}: not a {FORMAT} file (format = "
                      f"{doc.get('format') if isinstance(doc, dict) else type(doc).__name__!r})")
    if doc.get("version") != VERSION:
        raise IRError(f"{path}: IR version {doc.get('version')!r}, this executor reads {VERSION}")
    seen: set[str] = set()
    for i, n in enumerate(doc.get("nodes", [])):
        for key in ("name", "op", "unit", "inputs", "attrs", "params"):
            if key not in n:
                raise IRError(f"{path}: node #{i} ({n.get('name', '?')!r}) lacks {key!r}")
        if n["op"] not in OPS:
            raise IRError(f"{path}: node {n['name']!r} has unknown op {n['op']!r}")
        undefined = [x for x in n["inputs"] if x not in seen]
        if undefined:
            raise IRError(f"{path}: node {n['name']!r} reads {undefined} before they are "
                          f"defined (nodes must be in a topological order, without cycles)")
        if n["name"] in seen:
            raise IRError(f"{path}: node name {n['name']!r} appears twice")
        seen.add(n["name"])
    missing = [o for o in doc.get("outputs", []) if o not in seen]
    if missing or not doc.get("outputs"):
        raise IRError(f"{path}: outputs {missing or '[]'} are not nodes of the graph")
    return IR(tuple(doc["nodes"]), tuple(doc.get("inputs", [])), tuple(doc["outputs"]),
              doc.get("model", {}), source=str(path))


def _rope(x: torch.Tensor, heads: int, head_dim: int, theta: float) -> torch.Tensor:
    b, s, _ = x.shape
    cos, sin = rope_cos_sin(s, head_dim, theta, x.dtype)
    cos, sin = cos[:, None, :], sin[:, None, :]
    x4 = x.view(b, s, heads, head_dim)
    return (x4 * cos + rotate_half(x4) * sin).reshape(b, s, heads * head_dim)


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, n_heads: int, n_kv_heads: int,
               head_dim: int) -> torch.Tensor:
    b, s, _ = q.shape
    q4 = q.view(b, s, n_heads, head_dim).transpose(1, 2)
    k4 = k.view(b, s, n_kv_heads, head_dim).transpose(1, 2)
    v4 = v.view(b, s, n_kv_heads, head_dim).transpose(1, 2)
    rep = n_heads // n_kv_heads
    k4, v4 = k4.repeat_interleave(rep, dim=1), v4.repeat_interleave(rep, dim=1)
    o = F.scaled_dot_product_attention(q4, k4, v4, is_causal=True)
    return o.transpose(1, 2).reshape(b, s, n_heads * head_dim)


def _rmsnorm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


KERNELS: dict[str, Callable[..., torch.Tensor]] = {
    "embedding": lambda a, p, tok: F.embedding(tok, p["weight"]),
    "rmsnorm": lambda a, p, x: _rmsnorm(x, p["weight"], a["eps"]),
    "linear": lambda a, p, x: F.linear(x, p["weight"]),
    "rope": lambda a, p, x: _rope(x, a["heads"], a["head_dim"], a["theta"]),
    "attention": lambda a, p, q, k, v: _attention(q, k, v, a["n_heads"], a["n_kv_heads"],
                                                  a["head_dim"]),
    "silu_mul": lambda a, p, g, u: F.silu(g) * u,
    "add": lambda a, p, x, y: x + y,
    "cross_entropy": lambda a, p, logits, t: lm_loss(logits, t),
}


class Executor:
    """Runs an :class:`IR` with torch, its parameters bound from a state dict by name.

    ``strict`` (default) also refuses parameters of the state dict that the IR never uses
    (restricted to ``units`` when a stage binds only its own part).
    """

    def __init__(self, ir: IR, params: Mapping[str, torch.Tensor], units: Sequence[str] | None = None,
                 strict: bool = True) -> None:
        self.ir = ir
        self.units = None if units is None else list(units)
        self.params: dict[str, dict[str, torch.Tensor]] = {}
        used: set[str] = set()
        for n in ir.nodes:
            if self.units is not None and n["unit"] not in self.units:
                continue
            bound = {}
            for role, spec in n["params"].items():
                name, shape = spec["name"], tuple(spec["shape"])
                if name not in params:
                    raise IRMismatchError(f"{ir.source}: node {n['name']!r} needs parameter "
                                          f"{name!r} {list(shape)}, which the weights do not have")
                if tuple(params[name].shape) != shape:
                    raise IRMismatchError(f"{ir.source}: node {n['name']!r} expects {name!r} of "
                                          f"shape {list(shape)}, the weights give "
                                          f"{list(params[name].shape)}")
                bound[role] = params[name]
                used.add(name)
            self.params[n["name"]] = bound
        extra = sorted(set(params) - used)
        if strict and self.units is None and extra:
            raise IRMismatchError(f"{ir.source}: the weights hold parameters the IR never uses: "
                                  f"{extra[:5]}{' ...' if len(extra) > 5 else ''}")

    def run(self, feeds: Mapping[str, torch.Tensor], nodes: Sequence[str] | None = None,
            outputs: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Execute ``nodes`` (default: all) in IR order; ``feeds`` holds every value they read
        from outside. Returns ``outputs`` (default: the IR's outputs)."""
        env: dict[str, torch.Tensor] = dict(feeds)
        todo = set(nodes) if nodes is not None else None
        for n in self.ir.nodes:
            if n["op"] == "input" or (todo is not None and n["name"] not in todo):
                continue
            try:
                args = [env[i] for i in n["inputs"]]
            except KeyError as exc:
                raise IRError(f"{self.ir.source}: node {n['name']!r} needs {exc.args[0]!r}, which "
                              f"is neither computed here nor fed") from None
            env[n["name"]] = KERNELS[n["op"]](n["attrs"], self.params.get(n["name"], {}), *args)
        want = list(outputs) if outputs is not None else list(self.ir.outputs)
        return {o: env[o] for o in want}
