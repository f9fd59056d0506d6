"""nerfstudio agrees with the chapter's cameras, rotations and compositing (nerf environment)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("nerfstudio")

from reprobook.cfnerf import geometry as G  # noqa: E402
from reprobook.cfnerf import ns  # noqa: E402
from reprobook.kernels import reference  # noqa: E402


def test_nerfstudio_rays_equal_ours_through_the_one_conversion():
    P = G.look_at(torch.tensor([1.2, -2.0, 0.6]), torch.zeros(3), torch.tensor([0.0, 0, 1]))
    o_ns, d_ns = ns.rays(P, 27.0, 20, 12)
    o, d = G.pixel_rays(P, 27.0, 20, 12)
    assert torch.allclose(d_ns, d, atol=1e-5)
    assert torch.allclose(o_ns, o, atol=1e-6)
    # and without the conversion they disagree (y and z flipped)
    o_bad, d_bad = ns.rays(G.opencv_to_opengl(P), 27.0, 20, 12)
    assert not torch.allclose(d_bad, d, atol=1e-2)


def test_so3xr3_rotation_equals_rodrigues():
    phi = torch.randn(50, 3, generator=torch.Generator().manual_seed(1)) * 1.5
    assert torch.allclose(ns.so3xr3_rotation(phi), G.so3_exp(phi), atol=1e-5)


def test_nerfstudio_compositing_equals_the_reference():
    g = torch.Generator().manual_seed(0)
    t = torch.sort(torch.rand(64, 24, generator=g) * 6, dim=1).values
    deltas = torch.cat([t[:, 1:] - t[:, :-1], torch.full((64, 1), 1e2)], 1)
    sigma, rgb = torch.rand(64, 24, generator=g) * 3, torch.rand(64, 24, 3, generator=g)
    for a, b in zip(ns.composite(sigma, rgb, deltas, t), reference.composite(sigma, rgb, deltas, t)):
        assert torch.allclose(a, b, atol=1e-5)


def test_ssim_agrees_with_torchmetrics():
    tm = pytest.importorskip("torchmetrics.functional.image")
    from reprobook.cfnerf.evaluate import ssim

    g = torch.Generator().manual_seed(2)
    x = torch.rand(24, 24, 3, generator=g)
    y = (x + 0.1 * torch.randn(24, 24, 3, generator=g)).clamp(0, 1)
    want = float(tm.structural_similarity_index_measure(y.permute(2, 0, 1)[None], x.permute(2, 0, 1)[None],
                                                         data_range=1.0, gaussian_kernel=True, kernel_size=11,
                                                         sigma=1.5))
    assert ssim(y, x) == pytest.approx(want, abs=2e-3)


def test_missing_capture_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="ns-download-data nerfbusters"):
        ns.load_capture(tmp_path)
