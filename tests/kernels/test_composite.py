"""The compositing kernels agree with the PyTorch reference, a closed form and finite differences
(every input, float64), and the CUDA source compiles with the machine's nvcc."""

from __future__ import annotations

import math

import pytest
import torch

from reprobook import kernels
from reprobook.kernels import build, gpu_smoke, reference


def _rays(R: int, S: int, dtype=torch.float64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    t = torch.sort(torch.rand(R, S, generator=g, dtype=dtype) * 4 + 0.5, dim=1).values
    deltas = torch.cat([t[:, 1:] - t[:, :-1], torch.full((R, 1), 1e10, dtype=dtype)], dim=1)
    deltas = deltas.clamp_max(10.0)
    sigma = torch.rand(R, S, generator=g, dtype=dtype) * 3
    rgb = torch.rand(R, S, 3, generator=g, dtype=dtype)
    return sigma, rgb, deltas, t


@pytest.mark.parametrize("impl", ["reference", "cpp"])
def test_uniform_slab_has_the_closed_form_opacity(impl):
    """A slab of constant density sigma and length L is opaque by 1 - exp(-sigma L), whatever
    part of L is carried by the per-ray scale."""
    S, L, s = 64, 2.0, 0.7
    t = torch.linspace(0, L, S + 1, dtype=torch.float64)[:-1].expand(3, S).contiguous()
    scale = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    deltas = torch.full((3, S), L / S, dtype=torch.float64) / scale[:, None]
    sigma = torch.full((3, S), s, dtype=torch.float64)
    rgb = torch.ones(3, S, 3, dtype=torch.float64)
    color, depth, acc, w = kernels.composite(sigma, rgb, deltas, t, impl=impl, scale=scale)
    torch.testing.assert_close(acc, torch.full((3,), 1 - math.exp(-s * L), dtype=torch.float64),
                               atol=1e-12, rtol=0)
    torch.testing.assert_close(color, acc[:, None].expand(3, 3))
    torch.testing.assert_close(w.sum(-1), acc)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fused", [False, True])
def test_cpp_forward_matches_the_reference(dtype, fused):
    sigma, rgb, deltas, t = _rays(257, 33, dtype)
    kw = {}
    if fused:  # raw densities of both signs, a per-ray scale
        sigma = sigma - 1.0
        kw = {"scale": 0.5 + torch.rand(257, dtype=dtype, generator=torch.Generator().manual_seed(3)),
              "activation": "relu"}
    ref = reference.composite(sigma, rgb, deltas, t, **kw)
    out = kernels.composite(sigma, rgb, deltas, t, impl="cpp", **kw)
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)
    no_w = kernels.composite(sigma, rgb, deltas, t, impl="cpp", need_weights=False, **kw)
    assert no_w[3] is None
    for a, b in zip(no_w[:3], out[:3]):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_opaque_rays_stay_finite_and_match_the_reference():
    """Densities that make a ray opaque within a few samples (transmittance far below the
    smallest normal float) give the reference's numbers, no NaN."""
    sigma, rgb, deltas, t = _rays(64, 48, torch.float32)
    sigma = sigma * 500
    ref = reference.composite(sigma, rgb, deltas, t)
    out = kernels.composite(sigma, rgb, deltas, t, impl="cpp")
    for a, b in zip(out, ref):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, atol=2e-6, rtol=2e-6)


def test_cpp_gradcheck_covers_every_input():
    """float64 gradcheck of sigma (raw, ReLU fused), rgb, deltas, t and the per-ray scale."""
    assert gpu_smoke.gradcheck("cpp", "cpu")


def test_cpp_gradients_equal_the_reference_for_every_input():
    errs = gpu_smoke.max_errors("cpp", 33, 17, "cpu", torch.float64)
    assert errs["forward_max_abs_err"] < 1e-12 and errs["backward_max_abs_err"] < 1e-11, errs


def test_the_deltas_gradient_is_returned():
    """The intervals carry the learned focal's gradient (|d| depends on it): the kernel must not
    drop it (the first version returned None)."""
    sigma, rgb, deltas, t = _rays(5, 6)
    deltas.requires_grad_(True)
    color = kernels.composite(sigma, rgb, deltas, t, impl="cpp")[0]
    (g,) = torch.autograd.grad(color.sum(), deltas)
    (gr,) = torch.autograd.grad(reference.composite(sigma, rgb, deltas, t)[0].sum(), deltas)
    assert g.abs().max() > 0
    torch.testing.assert_close(g, gr, atol=1e-12, rtol=1e-10)


def test_gpu_smoke_check_runs_on_the_cpu_kernel():
    out = gpu_smoke.check_composite("cpu", tiny=True)
    assert out["kernel"] == "cpp" and out["gradcheck_float64"] is True
    assert gpu_smoke.CHECKS == [gpu_smoke.check_composite]


def test_unknown_implementation_and_bad_inputs_are_errors():
    sigma, rgb, deltas, t = _rays(4, 5)
    with pytest.raises(ValueError, match="unknown implementation"):
        kernels.composite(sigma, rgb, deltas, t, impl="triton")
    with pytest.raises(ValueError, match="unknown density activation"):
        kernels.composite(sigma, rgb, deltas, t, activation="softplus")
    with pytest.raises(RuntimeError, match="rgb must be"):
        kernels.composite(sigma, rgb[:, :, :2], deltas, t, impl="cpp")
    with pytest.raises(RuntimeError, match="scale must be \\[R\\]"):
        kernels.composite(sigma, rgb, deltas, t, impl="cpp", scale=torch.ones(3, dtype=sigma.dtype))
    with pytest.raises(RuntimeError, match="must have the dtype of sigma"):
        kernels.composite(sigma, rgb.float(), deltas, t, impl="cpp")


@pytest.mark.slow
def test_the_cuda_kernel_compiles_with_nvcc(tmp_path):
    """Compile-only: composite_cuda.cu against this torch with the machine's nvcc (or PyPI's
    nvidia-cuda-nvcc wheels beside torch); no GPU needed."""
    if build.nvcc() is None:
        pytest.skip("no CUDA toolkit here (no nvcc on PATH, in $CUDA_HOME, /usr/local/cuda, or "
                    "the nvidia wheels beside torch)")
    obj = build.compile_cuda_object(tmp_path)
    assert obj.is_file() and obj.stat().st_size > 10_000


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_the_reference_and_passes_gradcheck():
    out = gpu_smoke.check_composite("cuda", tiny=False)
    assert out["gradcheck_float64"] is True
    assert out["float32_4096x128_forward_max_abs_err"] < 1e-4
