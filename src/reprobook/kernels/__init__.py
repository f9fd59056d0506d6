"""The book's custom kernels (ARCHITECTURE §7): torch extensions with pure-PyTorch references.

``composite`` is volume-rendering compositing (forward and backward; :mod:`.reference` has the
equations), with the density activation (ReLU) and the per-ray interval scale optionally fused in.
It is differentiable in every input: densities, colours, intervals (which depend on a learned
focal length through the ray's length), sample depths and the scale. Implementations, chosen by
``impl``:

- ``"cpp"``: C++ (``csrc/composite_cpu.cpp``, SIMD exponentials, torch's thread pool), built on
  first use with ``torch.utils.cpp_extension.load`` (ninja), with a visible message;
- ``"cuda"``: ``csrc/composite_cuda.cu``, built where a CUDA toolkit and a CUDA device exist;
- ``"reference"``: :func:`reprobook.kernels.reference.composite` (autograd);
- ``"auto"``: the kernel for the inputs' device if it builds, else the reference — and it says so
  once.

Building lives in :mod:`.build`; timing in :mod:`.bench`; the GPU smoke check in
:mod:`.gpu_smoke`.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.autograd.function import once_differentiable

from . import reference
from .build import KernelBuildError, build_dir, load  # noqa: F401 - the package's API

IMPLS = ("auto", "cpp", "cuda", "reference")


def _or_empty(g: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return like.new_empty(0) if g is None else g.contiguous()


class _Composite(torch.autograd.Function):
    """Forward and backward through the extension ``ext``; the forward pass saves only the
    inputs and the transmittance T_{i+1}."""

    @staticmethod
    def forward(ctx, sigma, rgb, deltas, t, scale, ext, relu, need_weights):  # type: ignore[override]
        sc = sigma.new_empty(0) if scale is None else scale
        color, depth, acc, w, T_next = ext.forward(sigma, rgb, deltas, t, sc, relu, need_weights)
        ctx.save_for_backward(sigma, rgb, deltas, t, sc, T_next)
        ctx.ext, ctx.relu, ctx.has_scale = ext, relu, scale is not None
        ctx.set_materialize_grads(False)
        if not need_weights:
            ctx.mark_non_differentiable(w)
        return color, depth, acc, w

    @staticmethod
    @once_differentiable
    def backward(ctx, g_color, g_depth, g_acc, g_w):  # type: ignore[override]
        sigma, rgb, deltas, t, sc, T_next = ctx.saved_tensors
        needs = list(ctx.needs_input_grad[:5])
        needs[4] = needs[4] and ctx.has_scale
        grads = ctx.ext.backward(_or_empty(g_color, sigma), _or_empty(g_depth, sigma),
                                 _or_empty(g_acc, sigma), _or_empty(g_w, sigma),
                                 sigma, rgb, deltas, t, sc, T_next, ctx.relu, needs)
        out = [g if n else None for g, n in zip(grads, needs)]
        return (*out, None, None, None)


_WARNED: set[str] = set()


def composite(sigma: torch.Tensor, rgb: torch.Tensor, deltas: torch.Tensor, t: torch.Tensor,
              impl: str = "auto", *, scale: torch.Tensor | None = None,
              activation: str = "none", need_weights: bool = True
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(colour [R, 3], depth [R], opacity [R], weights [R, S] or None); see :mod:`.reference`.

    ``activation="relu"``: ``sigma`` holds raw densities; ``scale`` [R]: each ray's intervals are
    ``deltas * scale``; ``need_weights=False`` skips writing the weights (returns None for them).
    """
    if impl not in IMPLS:
        raise ValueError(f"unknown implementation {impl!r}; expected one of {IMPLS}")
    if activation not in reference.ACTIVATIONS:
        raise ValueError(f"unknown density activation {activation!r}; "
                         f"expected one of {reference.ACTIVATIONS}")
    if impl == "reference":
        return _ref(sigma, rgb, deltas, t, scale, activation, need_weights)
    kind = impl if impl != "auto" else ("cuda" if sigma.is_cuda else "cpp")
    try:
        ext = load(kind)
    except KernelBuildError as e:
        if impl != "auto":
            raise
        if kind not in _WARNED:
            _WARNED.add(kind)
            warnings.warn(f"{e}; using the PyTorch reference instead", RuntimeWarning, stacklevel=2)
        return _ref(sigma, rgb, deltas, t, scale, activation, need_weights)
    args: list[Any] = [x.contiguous() for x in (sigma, rgb, deltas, t)]
    sc = None if scale is None else scale.contiguous()
    color, depth, acc, w = _Composite.apply(*args, sc, ext, activation == "relu", need_weights)
    return color, depth, acc, (w if need_weights else None)


def _ref(sigma, rgb, deltas, t, scale, activation, need_weights):  # type: ignore[no-untyped-def]
    color, depth, acc, w = reference.composite(sigma, rgb, deltas, t, scale, activation)
    return color, depth, acc, (w if need_weights else None)
