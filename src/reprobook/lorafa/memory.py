"""Activation memory of LoRA and LoRA-FA (the paper's memory-complexity analysis).

For one adapted linear layer y = X W + alpha X A B with X of shape (b, s, d), W (d x o),
A (d x r), B (r x o), and beta bytes per element, the tensors saved for the backward pass are

============  ===============  ==========================================
method        trainable        activations saved for backward
============  ===============  ==========================================
full FT       d o              beta b s d          (X, for dW = X^T dY)
LoRA          r (d + o)        beta b s (d + r)    (X for dA, X A for dB)
LoRA-FA       r o              beta b s r          (X A for dB; A frozen)
============  ===============  ==========================================

With LoRA dropout p > 0 each adapted layer also keeps its dropout mask (``mask_bytes`` per
element of X: beta on the CPU, where dropout saves a mask of X's dtype — measured — and 1 on
CUDA, whose fused dropout saves a bool mask) and LoRA keeps the dropped copy of X instead of X.
Over a whole model the adapted layers' terms add to the activations of everything else
("other", the same for LoRA and LoRA-FA); layers that share one input (query, key and value)
share one saved X.

The paper's *overall* memory adds the weights, the gradients of the trainable weights and the
optimizer state (:class:`TrainingMemory`, :func:`measure_training_memory`).

:class:`SavedTensorMeter` measures what autograd really saves, through
``torch.autograd.graph.saved_tensors_hooks``: each storage is counted once and parameters are
excluded, so the count is the activation memory of the backward pass.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch

METHODS = ("full", "lora", "lorafa")


def _check(b: int, s: int, d: int, r: int, beta: int) -> None:
    for name, v in (("batch", b), ("sequence", s), ("d", d), ("beta", beta)):
        if v <= 0:
            raise ValueError(f"{name} must be positive, got {v}")
    if r <= 0:
        raise ValueError(f"rank r must be a positive integer, got {r}")


def layer_activation_bytes(method: str, b: int, s: int, d: int, r: int, beta: int,
                           dropout: bool = False, mask_bytes: int | None = None) -> int:
    """Bytes one adapted layer saves for backward (table in the module docstring)."""
    mask = beta if mask_bytes is None else mask_bytes
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {METHODS}")
    _check(b, s, d, r, beta)
    n = b * s
    if method == "full":
        return beta * n * d
    if method == "lora":
        return beta * n * (d + r) + (mask * n * d if dropout else 0)
    return beta * n * r + (mask * n * d if dropout else 0)


@dataclass(frozen=True)
class Adapted:
    """One adapted linear layer: its name, input width and the group of layers sharing its input."""

    name: str
    d_in: int
    input_group: str


def adapter_activation_bytes(method: str, layers: Iterable[Adapted], b: int, s: int, r: int,
                             beta: int, dropout: bool = False, mask_bytes: int | None = None) -> int:
    """The adapted layers' share of a whole model's saved activations (LoRA or LoRA-FA).

    Without dropout, layers sharing an input save it once (LoRA); with dropout every layer keeps
    its own mask, and LoRA its own dropped copy of the input.
    """
    if method not in ("lora", "lorafa"):
        raise ValueError(f"whole-model formula is for 'lora' and 'lorafa', not {method!r}")
    layers = list(layers)
    _check(b, s, 1, r, beta)
    n = b * s
    mask = beta if mask_bytes is None else mask_bytes
    total = sum(beta * n * r for _ in layers)  # X A of every layer
    if dropout:
        total += sum(mask * n * a.d_in for a in layers)
        if method == "lora":
            total += sum(beta * n * a.d_in for a in layers)
    elif method == "lora":
        groups = {a.input_group: a.d_in for a in layers}
        total += sum(beta * n * d for d in groups.values())
    return total


class SavedTensorMeter:
    """Counts the bytes autograd saves for backward inside the ``with`` block.

    Each storage is counted once (views and re-saves of one tensor are free); storages of
    ``exclude`` (the model's parameters and buffers) are not activations and are skipped. Only
    tensors still held when :attr:`bytes` is read count: a tensor packed by a piece of graph
    that was discarded during the forward pass is freed, and its address may be reused by a
    later tensor, so tensors are tracked by weak reference, not by address alone. Read
    :attr:`bytes` while the graph (the forward's output) is alive.
    """

    def __init__(self, exclude: Iterable[torch.Tensor] = ()) -> None:
        self._excluded = {t.untyped_storage().data_ptr() for t in exclude}
        self._packed: list[tuple[weakref.ref, int, int]] = []
        self._ctx: Any = None

    @property
    def bytes(self) -> int:
        alive: dict[int, int] = {}
        for ref, ptr, nbytes in self._packed:
            if ref() is not None:
                alive[ptr] = nbytes
        return sum(alive.values())

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        ptr = st.data_ptr()
        if ptr not in self._excluded:
            self._packed.append((weakref.ref(t), ptr, st.nbytes()))
        return t

    def __enter__(self) -> SavedTensorMeter:
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def metered_forward(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[int, Any]:
    """One training forward pass of ``model`` on ``batch``: its saved-for-backward bytes, and
    its output (which keeps the graph alive for a backward)."""
    exclude = [*model.parameters(), *model.buffers()]
    with SavedTensorMeter(exclude) as meter:
        out = model(**batch)
    return meter.bytes, out  # bytes read while the graph is alive


def measure_activation_bytes(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> int:
    """Saved-for-backward bytes of one training forward pass of ``model`` on ``batch``."""
    nbytes, out = metered_forward(model, batch)
    del out  # frees the graph
    return nbytes


def trainable_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of distinct storages among ``tensors`` (a storage shared by two views counts once)."""
    seen: dict[int, int] = {}
    for t in tensors:
        st = t.untyped_storage()
        seen[st.data_ptr()] = st.nbytes()
    return sum(seen.values())


@dataclass(frozen=True)
class TrainingMemory:
    """The paper's overall training memory of one step, in bytes, each part measured from the
    tensors that hold it: the weights, the gradients of the trainable weights, the optimizer's
    state (AdamW: two moments per trainable weight) and the activations saved for backward."""

    parameters: int
    gradients: int
    optimizer: int
    activations: int

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.optimizer + self.activations

    def as_dict(self) -> dict[str, int]:
        return {"parameters": self.parameters, "gradients": self.gradients,
                "optimizer": self.optimizer, "activations": self.activations, "total": self.total}


def _one_short_example(batch: dict[str, torch.Tensor], tokens: int = 8) -> dict[str, torch.Tensor]:
    return {k: v[:1, :tokens] if v.dim() > 1 else v[:1] for k, v in batch.items()}


def measure_training_memory(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                            optimizer_fn: Callable[[torch.nn.Module], torch.optim.Optimizer],
                            ) -> TrainingMemory:
    """Every part of :class:`TrainingMemory` for a training step of ``model`` on ``batch``
    (which holds ``labels``, so that the model returns its loss). The activations are what one
    forward pass on ``batch`` saves; gradients and optimizer state do not depend on the batch, so
    a real backward pass and optimizer step run on one short example of it (the batch's own
    backward would only cost time). The model's weights change (one step): pass a copy."""
    model.train()
    params = list(model.parameters())
    activations = measure_activation_bytes(model, batch)
    model(**_one_short_example(batch)).loss.backward()
    grads = tensor_bytes(p.grad for p in params if p.grad is not None)
    opt = optimizer_fn(model)
    opt.step()
    state = tensor_bytes(v for st in opt.state.values() for v in st.values()
                         if isinstance(v, torch.Tensor))
    return TrainingMemory(parameters=tensor_bytes(params), gradients=grads, optimizer=state,
                          activations=activations)


def measure_layer(method: str, b: int, s: int, d: int, o: int, r: int, dropout: float = 0.0,
                  dtype: torch.dtype = torch.float32, seed: int = 0) -> int:
    """Measured saved bytes of one adapted linear layer d -> o on a random input X (b, s, d)
    that requires grad (as inside a network), for ``full``, ``lora`` or ``lorafa`` (peft)."""
    from peft import LoraConfig, get_peft_model

    _check(b, s, d, r, 1)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(d, o)).to(dtype)
    if method == "full":
        model: torch.nn.Module = net
    else:
        model = get_peft_model(net, LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=dropout,
                                               target_modules=["0"]))
        if method == "lorafa":
            for n, p in model.named_parameters():
                if "lora_A" in n:
                    p.requires_grad_(False)
    x = torch.randn(b, s, d, dtype=dtype, requires_grad=True)
    model.train()
    with SavedTensorMeter([*model.parameters(), *model.buffers()]) as meter:
        y = model(x)
    nbytes = meter.bytes
    del y
    return nbytes


def adapted_layers(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> list[Adapted]:
    """The peft LoRA layers of ``model`` with their input widths; layers that receive the very
    same input tensor object in a forward pass on ``batch`` (query, key, value) share an
    ``input_group``. Inputs are kept alive during the pass, so object ids stay unique."""
    from peft.tuners.lora import Linear as PeftLoraLinear

    seen: dict[str, tuple[int, int]] = {}
    alive: list[torch.Tensor] = []

    def recorder(name: str):  # noqa: ANN202
        def hook(module: torch.nn.Module, args: tuple) -> None:
            alive.append(args[0])
            seen.setdefault(name, (id(args[0]), args[0].shape[-1]))
        return hook

    hooks = [m.register_forward_pre_hook(recorder(name))
             for name, m in model.named_modules() if isinstance(m, PeftLoraLinear)]
    try:
        with torch.no_grad():
            model(**batch)
    finally:
        for h in hooks:
            h.remove()
    return [Adapted(name=n, d_in=d, input_group=str(key)) for n, (key, d) in seen.items()]
