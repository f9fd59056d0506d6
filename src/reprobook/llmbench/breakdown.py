"""Module-wise breakdown of a training step with ``torch.profiler`` (the paper's Sec. 5).

The paper groups the kernels of a step into forward, backward and optimizer, and into the
modules rms (RMSNorm), qkv (the q/k/v projections), rope, attention (``Q K^T``, softmax,
``P V``), wo (the output projection) and mlp. This module labels the forward of every such
module with a ``record_function`` scope (forward hooks on the modules; the rotary function and
the attention function are wrapped for the duration of the profile), maps each backward autograd
node to the scope of the forward operator that created it (the profiler's ``sequence_nr``), and
adds the optimizer's ``zero_grad`` and ``step``. Time is each event's *self* time — CPU time on
the CPU, kernel time on a GPU — so that nothing is counted twice; what falls in no category is
``other`` (Python and framework overhead between operators).
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from typing import Any, Iterator

import torch
from lightning.pytorch import Callback

PREFIX = "llmbench/"
#: The paper's decoder-layer modules, then what surrounds them.
DECODER = ("rms", "qkv", "rope", "attention", "wo", "mlp", "residual")
CATEGORIES = DECODER + ("embedding", "lm_head", "loss", "optimizer", "other")
_MODULES = {"q_proj": "qkv", "k_proj": "qkv", "v_proj": "qkv", "o_proj": "wo",
            "embed_tokens": "embedding", "lm_head": "lm_head", "rotary_emb": "rope"}
_CLASSES = {"LlamaRMSNorm": "rms", "LlamaMLP": "mlp", "LlamaDecoderLayer": "residual",
            "LlamaForCausalLM": "loss"}


def _category(name: str, module: torch.nn.Module) -> str | None:
    leaf = name.rsplit(".", 1)[-1]
    if leaf in _MODULES:
        return _MODULES[leaf]
    return _CLASSES.get(type(module).__name__)


@contextlib.contextmanager
def labelled(model: torch.nn.Module) -> Iterator[None]:
    """Label every forward of the paper's modules with a ``record_function`` scope."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.llama import modeling_llama as ml

    handles, stack = [], []

    def pre(cat: str):  # noqa: ANN202
        def hook(mod: Any, args: Any) -> None:
            rf = torch.profiler.record_function(PREFIX + cat)
            rf.__enter__()
            stack.append(rf)
        return hook

    def post(mod: Any, args: Any, out: Any) -> None:
        stack.pop().__exit__(None, None, None)

    for name, mod in model.named_modules():
        cat = _category(name, mod)
        if cat:
            handles += [mod.register_forward_pre_hook(pre(cat)), mod.register_forward_hook(post)]

    def scoped(fn: Any, cat: str) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            with torch.profiler.record_function(PREFIX + cat):
                return fn(*a, **k)
        return wrapper

    impl = _attn_impl(model)
    saved_rope = ml.apply_rotary_pos_emb
    had_local = impl in ALL_ATTENTION_FUNCTIONS._local_mapping
    original = ALL_ATTENTION_FUNCTIONS.get_interface(impl, ml.eager_attention_forward)
    ml.apply_rotary_pos_emb = scoped(saved_rope, "rope")
    ALL_ATTENTION_FUNCTIONS[impl] = scoped(original, "attention")
    try:
        yield
    finally:
        ml.apply_rotary_pos_emb = saved_rope
        if had_local:
            ALL_ATTENTION_FUNCTIONS[impl] = original
        else:
            del ALL_ATTENTION_FUNCTIONS[impl]
        for h in handles:
            h.remove()


def _attn_impl(model: torch.nn.Module) -> str:
    cfg = getattr(model, "config", None)
    return getattr(cfg, "_attn_implementation", None) or "eager"


def _self_time(ev: Any, device: bool) -> float:
    return float(ev.self_device_time_total if device else ev.self_cpu_time_total)


def attribute(events: list[Any], device: bool = False,
              step_label: str = "llmbench.step") -> dict[str, float]:
    """Microseconds per category over every profiled step (see the module docstring).

    ``total`` is the sum of the steps' durations (CPU) or of all their kernels (GPU).
    """
    seq_cat: dict[int, str] = {}
    cache: dict[int, str | None] = {}

    def scope(ev: Any) -> str | None:
        chain, cat = [], None
        while ev is not None:
            if id(ev) in cache:
                cat = cache[id(ev)]
                break
            chain.append(ev)
            if ev.name.startswith(PREFIX):
                cat = ev.name[len(PREFIX):]
                break
            if ev.name.startswith("Optimizer."):
                cat = "optimizer"
                break
            if ev.name.startswith("autograd::engine::evaluate_function"):
                cat = seq_cat.get(ev.sequence_nr) if ev.sequence_nr >= 0 else None
                break
            ev = ev.cpu_parent
        for e in chain:
            cache[id(e)] = cat
        return cat

    fwd = sorted((e for e in events if not e.name.startswith("autograd::")),
                 key=lambda e: e.time_range.start)
    for e in fwd:  # forward operators that created autograd nodes
        if e.sequence_nr >= 0 and e.sequence_nr not in seq_cat:
            cat = scope(e)
            if cat:
                seq_cat[e.sequence_nr] = cat
    cache.clear()
    out: dict[str, float] = defaultdict(float)
    steps = [e for e in events if e.name == step_label]
    in_step = {id(e) for s in steps for e in _descendants(s)}
    for e in events:
        if id(e) in in_step:
            out[scope(e) or "other"] += _self_time(e, device)
    out["total"] = (sum(out.values()) if device
                    else sum(float(s.cpu_time_total) for s in steps))
    return {c: out.get(c, 0.0) for c in (*CATEGORIES, "total")}


def _descendants(ev: Any) -> Iterator[Any]:
    stack = [ev]
    while stack:
        e = stack.pop()
        yield e
        stack.extend(e.cpu_children)


def shares(micros: dict[str, float]) -> dict[str, float]:
    """Each category's share of the step; ``covered`` = 1 - other's share."""
    total = micros["total"]
    out = {c: micros[c] / total for c in CATEGORIES}
    out["covered"] = 1.0 - out["other"]
    out["decoder"] = sum(out[c] for c in DECODER)
    return out


class ProfileSteps(Callback):
    """Profile the training batches from ``start`` on (to the end of the fit)."""

    def __init__(self, start: int, cuda: bool) -> None:
        self.start, self.cuda = start, cuda
        self.prof: Any = None
        self._ctx: Any = None

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, idx: int) -> None:
        if idx == self.start:
            os.environ.setdefault("KINETO_LOG_LEVEL", "6")  # no profiler start/stop log lines
            acts = [torch.profiler.ProfilerActivity.CPU]
            if self.cuda:
                acts.append(torch.profiler.ProfilerActivity.CUDA)
            self._ctx = labelled(pl_module.model)
            self._ctx.__enter__()
            self.prof = torch.profiler.profile(activities=acts)
            self.prof.__enter__()

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.prof is not None:
            if self.cuda:
                torch.cuda.synchronize()
            self.prof.__exit__(None, None, None)
            self._ctx.__exit__(None, None, None)
