"""The book's custom kernels (ARCHITECTURE §7): torch extensions with pure-PyTorch references.

``composite`` is volume-rendering compositing (forward and backward; :mod:`.reference` has the
equations). Implementations, chosen by ``impl``:

- ``"cpp"``: C++ with OpenMP (``csrc/composite_cpu.cpp``), built on first use with
  ``torch.utils.cpp_extension.load`` (ninja), with a visible message;
- ``"cuda"``: ``csrc/composite_cuda.cu``, built only where ``nvcc`` and a CUDA device exist;
- ``"reference"``: :func:`reprobook.kernels.reference.composite` (autograd);
- ``"auto"``: the kernel for the inputs' device if it builds, else the reference — and it says so
  once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from . import reference

CSRC = Path(__file__).parent / "csrc"
IMPLS = ("auto", "cpp", "cuda", "reference")


class KernelBuildError(RuntimeError):
    """A kernel that could not be compiled or loaded here."""


def build_dir() -> Path:
    """Where extensions are built: one folder per torch version and Python environment (the book's
    environments each compile their own copy, so they never rebuild each other's)."""
    root = os.environ.get("REPROBOOK_KERNEL_DIR")
    env = hashlib.sha256(sys.prefix.encode()).hexdigest()[:8]
    d = Path(root) if root else (Path.home() / ".cache" / "reprobook" / "torch_extensions"
                                 / f"torch-{torch.__version__}-env-{env}")
    d.mkdir(parents=True, exist_ok=True)
    return d


@lru_cache(maxsize=None)
def load(kind: str = "cpp", verbose: bool = False) -> Any:
    """Build (first time) and import the ``kind`` ("cpp" or "cuda") extension."""
    from torch.utils import cpp_extension

    if kind == "cpp":
        name, sources = "reprobook_composite_cpu", [CSRC / "composite_cpu.cpp"]
        # -fno-math-errno lets GCC call glibc's vector exp (libmvec) in the simd loop
        extra = {"extra_cflags": ["-O3", "-fopenmp", "-fno-math-errno"], "extra_ldflags": ["-fopenmp"]}
    elif kind == "cuda":
        if not torch.cuda.is_available() or shutil.which("nvcc") is None:
            raise KernelBuildError("the CUDA kernel needs a CUDA device and nvcc")
        name, sources = "reprobook_composite_cuda", [CSRC / "composite_cuda.cu"]
        extra = {"extra_cuda_cflags": ["-O3"]}
    else:
        raise ValueError(f"unknown kernel kind {kind!r}; expected 'cpp' or 'cuda'")
    d = build_dir() / name
    d.mkdir(parents=True, exist_ok=True)
    print(f"reprobook.kernels: building/loading the {kind} compositing kernel in {d} "
          f"(first build takes about a minute)", file=sys.stderr, flush=True)
    try:
        return cpp_extension.load(name=name, sources=[str(s) for s in sources], build_directory=str(d),
                                  verbose=verbose, **extra)
    except Exception as e:  # compiler missing, ninja missing, a build error
        raise KernelBuildError(f"building the {kind} compositing kernel failed: {e}") from e


class _Composite(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sigma, rgb, deltas, t, ext):  # type: ignore[override]
        color, depth, acc, w, *extra = ext.forward(sigma, rgb, deltas, t)
        ctx.save_for_backward(sigma, rgb, deltas, t, w, *extra)
        ctx.ext = ext
        return color, depth, acc, w

    @staticmethod
    def backward(ctx, g_color, g_depth, g_acc, g_w):  # type: ignore[override]
        sigma, rgb, deltas, t, w, *extra = ctx.saved_tensors

        def z(g, like):
            return torch.zeros_like(like) if g is None else g.contiguous()
        gw = sigma.new_empty(0) if g_w is None else g_w.contiguous()  # empty: weights unused
        g_sigma, g_rgb = ctx.ext.backward(z(g_color, rgb[:, 0]), z(g_depth, sigma[:, 0]), z(g_acc, sigma[:, 0]),
                                          gw, sigma, rgb, deltas, t, w, *extra)
        return g_sigma, g_rgb, None, None, None


_WARNED: set[str] = set()


def composite(sigma: torch.Tensor, rgb: torch.Tensor, deltas: torch.Tensor, t: torch.Tensor,
              impl: str = "auto") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(colour [R, 3], depth [R], opacity [R], weights [R, S]); see :mod:`.reference`."""
    if impl not in IMPLS:
        raise ValueError(f"unknown implementation {impl!r}; expected one of {IMPLS}")
    if impl == "reference":
        return reference.composite(sigma, rgb, deltas, t)
    kind = impl if impl != "auto" else ("cuda" if sigma.is_cuda else "cpp")
    try:
        ext = load(kind)
    except KernelBuildError as e:
        if impl != "auto":
            raise
        if kind not in _WARNED:
            _WARNED.add(kind)
            warnings.warn(f"{e}; using the PyTorch reference instead", RuntimeWarning, stacklevel=2)
        return reference.composite(sigma, rgb, deltas, t)
    args = [x.contiguous() for x in (sigma, rgb, deltas, t)]
    return _Composite.apply(*args, ext)

