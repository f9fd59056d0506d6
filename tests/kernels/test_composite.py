"""The compositing kernels agree with the PyTorch reference and with a closed form."""

from __future__ import annotations

import math

import pytest
import torch

from reprobook import kernels
from reprobook.kernels import reference


def _rays(R: int, S: int, dtype=torch.float64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    t = torch.sort(torch.rand(R, S, generator=g, dtype=dtype) * 4 + 0.5, dim=1).values
    deltas = torch.cat([t[:, 1:] - t[:, :-1], torch.full((R, 1), 1e10, dtype=dtype)], dim=1).clamp_max(10.0)
    sigma = torch.rand(R, S, generator=g, dtype=dtype) * 3
    rgb = torch.rand(R, S, 3, generator=g, dtype=dtype)
    return sigma, rgb, deltas, t


def test_uniform_slab_has_the_closed_form_opacity():
    """A slab of constant density sigma and length L is opaque by 1 - exp(-sigma L)."""
    S, L, s = 64, 2.0, 0.7
    t = torch.linspace(0, L, S + 1, dtype=torch.float64)[:-1].expand(3, S).contiguous()
    deltas = torch.full((3, S), L / S, dtype=torch.float64)
    sigma = torch.full((3, S), s, dtype=torch.float64)
    rgb = torch.ones(3, S, 3, dtype=torch.float64)
    for impl in ("reference", "cpp"):
        color, depth, acc, w = kernels.composite(sigma, rgb, deltas, t, impl=impl)
        assert torch.allclose(acc, torch.full((3,), 1 - math.exp(-s * L), dtype=torch.float64), atol=1e-12)
        assert torch.allclose(color, acc[:, None].expand(3, 3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpp_forward_matches_the_reference(dtype):
    args = _rays(257, 33, dtype)
    ref = reference.composite(*args)
    out = kernels.composite(*args, impl="cpp")
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


def test_cpp_backward_passes_gradcheck_and_matches_the_reference():
    sigma, rgb, deltas, t = _rays(7, 9)
    sigma.requires_grad_(True)
    rgb.requires_grad_(True)

    def f(s, c):
        color, depth, acc, w = kernels.composite(s, c, deltas, t, impl="cpp")
        return color, depth, acc, w

    assert torch.autograd.gradcheck(f, (sigma, rgb), eps=1e-6, atol=1e-8)
    g = torch.Generator().manual_seed(1)
    weights = [torch.randn(x.shape, generator=g, dtype=torch.float64) for x in f(sigma, rgb)]
    loss = sum((o * wt).sum() for o, wt in zip(f(sigma, rgb), weights))
    grads = torch.autograd.grad(loss, (sigma, rgb))
    loss_ref = sum((o * wt).sum() for o, wt in zip(reference.composite(sigma, rgb, deltas, t), weights))
    grads_ref = torch.autograd.grad(loss_ref, (sigma, rgb))
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_unknown_implementation_and_bad_shapes_are_errors():
    args = _rays(4, 5)
    with pytest.raises(ValueError, match="unknown implementation"):
        kernels.composite(*args, impl="triton")
    with pytest.raises(RuntimeError, match="rgb must be"):
        kernels.composite(args[0], args[1][:, :, :2], args[2], args[3], impl="cpp")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_the_reference():
    sigma, rgb, deltas, t = (x.cuda() for x in _rays(513, 40))
    sigma.requires_grad_(True)
    out = kernels.composite(sigma, rgb, deltas, t, impl="cuda")
    ref = reference.composite(sigma, rgb, deltas, t)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    (g,) = torch.autograd.grad(out[0].sum() + out[1].sum(), sigma)
    (gr,) = torch.autograd.grad(ref[0].sum() + ref[1].sum(), sigma)
    torch.testing.assert_close(g, gr, atol=1e-8, rtol=1e-8)
