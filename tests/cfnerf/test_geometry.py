"""Camera geometry: SO(3) maps, conventions, rays, Sim(3) alignment and pose errors."""

from __future__ import annotations

import math

import pytest
import torch

from reprobook.cfnerf import geometry as G



@pytest.fixture(autouse=True)
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def _random_sim3(seed: int):
    g = torch.Generator().manual_seed(seed)
    R = G.so3_exp(torch.randn(3, generator=g))
    return 0.5 + torch.rand(1, generator=g).item() * 2, R, torch.randn(3, generator=g)


def _trajectory(n: int = 12) -> torch.Tensor:
    poses = []
    for i in range(n):  # an orbit of 180 degrees around the origin
        a = math.pi * i / (n - 1)
        c = torch.tensor([3 * math.cos(a), 0.3 * math.sin(3 * a), 3 * math.sin(a)])
        poses.append(G.look_at(c, torch.zeros(3), torch.tensor([0.0, -1.0, 0.0])))
    return torch.stack(poses)


def test_so3_exp_log_round_trip_and_orthonormality():
    g = torch.Generator().manual_seed(0)
    phi = torch.randn(200, 3, generator=g)
    phi = phi / phi.norm(dim=-1, keepdim=True) * torch.rand(200, 1, generator=g) * (math.pi - 1e-3)
    phi = torch.cat([phi, torch.zeros(1, 3), torch.tensor([[1e-9, 0, 0], [0, math.pi - 1e-7, 0]])])
    R = G.so3_exp(phi)
    eye = torch.eye(3).expand_as(R)
    torch.testing.assert_close(R @ R.transpose(-1, -2), eye, atol=1e-12, rtol=0)
    assert torch.allclose(torch.det(R), torch.ones(len(R)))
    torch.testing.assert_close(G.so3_log(R), phi, atol=1e-6, rtol=0)
    torch.testing.assert_close(G.so3_exp(G.so3_log(R)), R, atol=1e-7, rtol=0)  # 1e-7 rad from pi


def test_umeyama_recovers_a_known_similarity():
    s, R, t = _random_sim3(1)
    src = torch.randn(30, 3, generator=torch.Generator().manual_seed(2))
    dst = s * src @ R.T + t
    s2, R2, t2 = G.umeyama(src, dst)
    assert abs(float(s2) - s) < 1e-10
    torch.testing.assert_close(R2, R, atol=1e-10, rtol=0)
    torch.testing.assert_close(t2, t, atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="matching"):
        G.umeyama(src[:2], dst[:2])


def test_pose_errors_are_invariant_to_a_sim3_of_the_estimate():
    ref = _trajectory()
    s, R, t = _random_sim3(3)
    est = ref.clone()
    est[:, :3, :3] = R @ ref[:, :3, :3]
    est[:, :3, 3] = s * ref[:, :3, 3] @ R.T + t
    err = G.pose_errors(est, ref)
    assert err["rot_deg"] < 1e-5 and err["trans"] < 1e-9 and err["rpe_rot_deg"] < 1e-5
    noisy = est.clone()
    noisy[3, :3, :3] = G.so3_exp(torch.tensor([0.0, math.radians(10), 0.0])) @ noisy[3, :3, :3]
    e = G.pose_errors(noisy, ref)
    assert 0.5 < e["rot_deg"] < 1.0  # one camera off by 10 degrees out of 12
    assert 10 * 2 / 11 - 0.1 < e["rpe_rot_deg"] < 10 * 2 / 11 + 0.1


def test_opencv_opengl_conversion_round_trips_and_flips_the_view_axis():
    c2w = _trajectory()[4]
    gl = G.opencv_to_opengl(c2w)
    torch.testing.assert_close(G.opengl_to_opencv(gl), c2w)
    torch.testing.assert_close(gl[:3, 2], -c2w[:3, 2])  # OpenGL looks along -z
    torch.testing.assert_close(gl[:3, 3], c2w[:3, 3])


def test_the_centre_pixel_looks_along_the_optical_axis():
    c2w = _trajectory()[5]
    origins, dirs = G.pixel_rays(c2w, focal=40.0, W=33, H=21)
    torch.testing.assert_close(dirs[10, 16], c2w[:3, 2])
    torch.testing.assert_close(origins[0, 0], c2w[:3, 3])
    torch.testing.assert_close(dirs.norm(dim=-1), torch.ones(21, 33))
