"""GPU smoke check of the compositing kernel (ARCHITECTURE §7, ``core.gpusmoke``).

``check_composite(device, tiny)`` builds the kernel for ``device`` (CUDA on a GPU, the C++ one on
the CPU), gradchecks it in float64 against finite differences over every input (densities,
colours, intervals, depths, per-ray scale; ReLU fused), compares forward and backward with the
PyTorch reference, and on CUDA also compares a float32 batch of training size. The unit tests call
it with ``device="cpu", tiny=True``.
"""

from __future__ import annotations

from typing import Any

import torch

from . import KernelBuildError, composite, load, reference
from .build import cuda_home


def _rays(R: int, S: int, device: str, dtype: torch.dtype, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = torch.sort(torch.rand(R, S, generator=g, dtype=dtype) * 4 + 0.5, dim=1).values
    deltas = torch.cat([t[:, 1:] - t[:, :-1], torch.full((R, 1), 0.7, dtype=dtype)], dim=1)
    # raw densities away from 0, where ReLU is not differentiable (finite differences would cross it)
    sigma = torch.randn(R, S, generator=g, dtype=dtype)
    sigma = sigma + 0.2 * torch.sign(sigma)
    rgb = torch.rand(R, S, 3, generator=g, dtype=dtype)
    scale = 1 + torch.rand(R, generator=g, dtype=dtype)
    return [x.to(device) for x in (sigma, rgb, deltas, t, scale)]


def max_errors(impl: str, R: int, S: int, device: str, dtype: torch.dtype) -> dict[str, float]:
    """Largest |kernel - reference| over the four outputs and over the five input gradients."""
    xs = _rays(R, S, device, dtype)
    for x in xs:
        x.requires_grad_(True)
    g = torch.Generator().manual_seed(1)
    outs = composite(*xs[:4], impl=impl, scale=xs[4], activation="relu")
    refs = reference.composite(*xs[:4], scale=xs[4], activation="relu")
    ws = [torch.randn(o.shape, generator=g, dtype=dtype).to(device) for o in refs]
    gk = torch.autograd.grad(sum((o * w).sum() for o, w in zip(outs, ws)), xs)
    gr = torch.autograd.grad(sum((o * w).sum() for o, w in zip(refs, ws)), xs)
    return {"forward_max_abs_err": max(float((a - b).detach().abs().max())
                                       for a, b in zip(outs, refs)),
            "backward_max_abs_err": max(float((a - b).abs().max()) for a, b in zip(gk, gr))}


def gradcheck(impl: str, device: str, R: int = 5, S: int = 7) -> bool:
    """torch.autograd.gradcheck of the kernel in float64 over every input."""
    xs = [x.requires_grad_(True) for x in _rays(R, S, device, torch.float64)]

    def f(sigma, rgb, deltas, t, scale):  # type: ignore[no-untyped-def]
        return composite(sigma, rgb, deltas, t, impl=impl, scale=scale, activation="relu")

    return bool(torch.autograd.gradcheck(f, tuple(xs), eps=1e-6, atol=1e-7, rtol=1e-5))


def check_composite(device: str, tiny: bool) -> dict[str, Any]:
    """Build the compositing kernel and gradcheck it against the reference on this device."""
    from ..core.gpusmoke import Skip

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise Skip("torch sees no CUDA device")
        if cuda_home() is None:
            raise Skip("no CUDA toolkit (nvcc) to build the kernel")
        impl = "cuda"
    else:
        impl = "cpp"
    try:
        load(impl)
    except KernelBuildError as e:
        raise Skip(f"the {impl} kernel does not build here: {e}") from e
    ok = gradcheck(impl, device)
    out: dict[str, Any] = {"kernel": impl, "gradcheck_float64": ok}
    small = max_errors(impl, 33, 17, device, torch.float64)
    out.update({f"float64_{k}": v for k, v in small.items()})
    if not tiny:
        big = max_errors(impl, 4096, 128, device, torch.float32)
        out.update({f"float32_4096x128_{k}": v for k, v in big.items()})
    if not ok or small["forward_max_abs_err"] > 1e-10 or small["backward_max_abs_err"] > 1e-8:
        raise AssertionError(f"the {impl} kernel disagrees with the reference: {out}")
    return out


CHECKS = [check_composite]
