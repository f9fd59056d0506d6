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


def test_a_capture_in_nerfstudio_format_loads_with_opencv_poses(tmp_path):
    import json

    import numpy as np
    from PIL import Image

    poses = [G.look_at(torch.tensor([2.0 * float(np.cos(a)), 2.0 * float(np.sin(a)), 0.5]), torch.zeros(3), torch.tensor([0.0, 0, 1]))
             for a in (0.0, 0.4, 0.8)]
    frames = []
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    for i, P in enumerate(poses):
        Image.fromarray(rng.integers(0, 255, (8, 12, 3), dtype=np.uint8)).save(tmp_path / "images" / f"f{i}.png")
        frames.append({"file_path": f"images/f{i}.png", "transform_matrix": G.opencv_to_opengl(P).tolist()})
    (tmp_path / "transforms.json").write_text(json.dumps(
        {"fl_x": 10.0, "fl_y": 10.0, "cx": 6.0, "cy": 4.0, "w": 12, "h": 8, "camera_model": "OPENCV", "frames": frames}))
    cap = ns.load_capture(tmp_path)
    assert cap["images"].shape == (3, 8, 12, 3) and cap["focal"] == pytest.approx(10.0)
    assert torch.allclose(cap["poses"], torch.stack(poses), atol=1e-5)
    half = ns.load_capture(tmp_path, downscale=2)
    assert half["images"].shape == (3, 4, 6, 3) and half["focal"] == pytest.approx(5.0)
