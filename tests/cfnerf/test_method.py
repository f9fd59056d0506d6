"""CF-NeRF's schedule, fields, cameras, scenes, localization against a known field, evaluation."""

from __future__ import annotations

import math

import pytest
import torch

from reprobook.cfnerf import geometry as G
from reprobook.cfnerf.evaluate import psnr, ssim, to_method_frame
from reprobook.cfnerf.fields import PEField, PositionalEncoding, SirenField, make_field
from reprobook.cfnerf.render import CameraParams, camera_rays, render_rays
from reprobook.cfnerf.scenes import AnalyticScene, Scene, SceneSpec, make_scene, relative_to_first, trajectory
from reprobook.cfnerf.schedule import Schedule, Stage
from reprobook.cfnerf.train import Config, Trainer, downscale, run_method
from reprobook.core.errors import ParameterError
from reprobook.core.params import config_from


# --- schedule (Sec. 3.3) -------------------------------------------------------------------------

def test_released_schedule_for_53_images_is_376800_steps():
    assert Schedule().total_steps(53) == 376_800  # the released aloe checkpoint's step count


def test_schedule_structure():
    st = Schedule().stages(53)
    assert st[0].kind == "initialization" and st[0].views == (0, 1, 2) and st[0].steps == 9000
    assert "rotation" not in st[0].groups
    loc = [s for s in st if s.kind == "localization"]
    assert [s.image for s in loc] == list(range(1, 53)) and all(len(s.views) == 1 for s in loc)
    assert [s.passes for s in loc[:4]] == [3000, 3000, 3000, 600]
    assert all(s.groups == ("rotation", "translation") for s in loc)
    glob = [s for s in st if s.kind == "global_optimization"]
    # every 10 registered images, after the last one, then at 1/4, 1/2 and full resolution
    assert [len(s.views) for s in glob] == [10, 20, 30, 40, 50, 53, 53, 53, 53]
    assert [s.downscale for s in glob[-3:]] == [4, 2, 1]
    part = [s for s in st if s.kind == "local_optimization"]
    assert part[-1].views == (50, 51, 52)


def test_schedule_rejects_bad_settings():
    with pytest.raises(ValueError, match="passes"):
        Schedule(passes=0)
    with pytest.raises(ValueError, match="initialises on 3 images"):
        Schedule().stages(2)
    with pytest.raises(ValueError, match="localization_passes must be >= 0"):
        Schedule(localization_passes=-1)


def test_localization_passes_vary_only_the_later_localizations():
    base, alt = Schedule(passes=5, first_passes=7), Schedule(passes=5, first_passes=7, localization_passes=11)
    loc = [s.passes for s in alt.stages(8) if s.kind == "localization"]
    assert loc == [7, 7, 7, 11, 11, 11, 11]
    assert [s.passes for s in base.stages(8) if s.kind == "localization"] == [7, 7, 7, 5, 5, 5, 5]


# --- fields ------------------------------------------------------------------------------------

def test_barf_weights_anneal_from_nothing_to_everything():
    enc = PositionalEncoding(6)
    enc.set_progress(0.0)
    assert torch.all(enc.weights() == 0)
    enc.set_progress(0.3)  # alpha = 3: the first three frequencies fully on, the rest off
    assert torch.allclose(enc.weights(), torch.tensor([1.0, 1, 1, 0, 0, 0]))
    enc.set_progress(0.325)
    w = enc.weights()
    assert 0 < w[3] < 1 and torch.all(w[:3] == 1) and torch.all(w[4:] == 0)
    enc.set_progress(1.0)
    assert torch.all(enc.weights() == 1)
    x = torch.randn(5, 3)
    enc.set_progress(0.0)
    assert torch.equal(enc(x)[:, :3], x) and torch.all(enc(x)[:, 3:] == 0)


@pytest.mark.parametrize("kind", ["siren", "pe", "gauss"])
def test_fields_shapes_and_unknown_kind(kind):
    f = make_field(kind, depth=5, width=16)
    s, c = f(torch.randn(7, 3), torch.randn(7, 3))
    assert s.shape == (7,) and c.shape == (7, 3)
    with pytest.raises(ValueError, match="unknown field kind"):
        make_field("grid", 2, 8)


def test_siren_initialisation_and_released_first_w0_switch():
    f = SirenField(depth=3, width=32)
    w1 = f.base[0].linear.weight
    assert w1.abs().max() <= 1 / 3 and f.base[0].w0 == 30.0
    w2 = f.base[1].linear.weight
    assert w2.abs().max() <= math.sqrt(6 / 32) / 1.0
    assert SirenField(depth=2, width=8, first_w0_from_sigma_mul=True).base[0].w0 == 20.0
    assert isinstance(PEField(depth=8, width=16).layers[4].in_features, int)
    assert PEField(depth=8, width=16).layers[4].in_features == 16 + 63  # skip after layer 4


# --- cameras and rays ----------------------------------------------------------------------------

def test_camera_params_initial_state():
    cams = CameraParams(4, W=40, H=24)
    # 53.13 degrees is the field of view at which 0.5 / tan(fov / 2) = 1: f = (W + H) / 2
    assert float(cams.focal().detach()) == pytest.approx(32.0, rel=1e-4)
    assert float(cams.focal(20, 12).detach()) == pytest.approx(16.0, rel=1e-4)
    assert torch.allclose(cams.c2w(), torch.eye(4).expand(4, 4, 4))
    P = G.look_at(torch.tensor([1.0, 2.0, 0.5]), torch.zeros(3), torch.tensor([0.0, 0, 1]))
    cams.set_pose(2, P)
    assert torch.allclose(cams.c2w(2), P, atol=1e-5)
    assert float(CameraParams(1, 8, 8, known_focal=10.0).focal(4, 4)) == pytest.approx(5.0)


def test_centre_pixel_ray_is_the_optical_axis_and_matches_geometry():
    P = G.look_at(torch.tensor([0.3, -2.0, 0.4]), torch.zeros(3), torch.tensor([0.0, 0, 1]))
    o, d = camera_rays(P[:3, :3], P[:3, 3], 7.0, 5, 5, torch.tensor([12]))  # pixel (2, 2) of 5 x 5
    assert torch.allclose(d[0] / d[0].norm(), P[:3, 2], atol=1e-6)
    assert torch.allclose(o[0], P[:3, 3])
    og, dg = G.pixel_rays(P, 7.0, 6, 4)
    o2, d2 = camera_rays(P[:3, :3], P[:3, 3], 7.0, 6, 4)
    assert torch.allclose(d2 / d2.norm(dim=-1, keepdim=True), dg.reshape(-1, 3), atol=1e-6)
    # unnormalised: unit depth along the optical axis
    assert torch.allclose(d2 @ P[:3, 2], torch.ones(24), atol=1e-6)


def test_se3_parameterisation_round_trips_and_is_the_matrix_exponential():
    xi = torch.tensor([0.3, -0.2, 0.5, 0.4, -0.1, 0.25], dtype=torch.float64)
    twist = torch.zeros(4, 4, dtype=torch.float64)
    twist[:3, :3] = G.hat(xi[3:])
    twist[:3, 3] = xi[:3]
    torch.testing.assert_close(G.se3_exp(xi), torch.linalg.matrix_exp(twist), atol=1e-12, rtol=0)
    cams = CameraParams(2, 8, 8, pose_param="se3")
    P = G.look_at(torch.tensor([1.0, 2.0, 0.5]), torch.zeros(3), torch.tensor([0.0, 0, 1]))
    cams.set_pose(1, P)
    assert torch.allclose(cams.c2w(1), P, atol=1e-5)
    assert not torch.allclose(cams.t[1], P[:3, 3], atol=1e-3)  # t holds the twist's u
    with pytest.raises(ValueError, match="unknown pose parameterisation"):
        CameraParams(2, 8, 8, pose_param="quaternion")


@pytest.mark.parametrize("impl", ["cpp", "reference"])
def test_the_focal_gradient_flows_through_the_intervals(impl):
    """|d| depends on the focal and scales the intervals: the kernel path must give the learned
    focal the reference's gradient (the first kernel dropped the intervals' gradient)."""
    torch.manual_seed(0)
    field = SirenField(depth=2, width=16)
    cams = CameraParams(1, 12, 12, initial_fov_deg=45.0)
    P = G.look_at(torch.tensor([0.3, -2.0, 0.4]), torch.zeros(3), torch.tensor([0.0, 0, 1]))
    cams.set_pose(0, P)

    def grad_s(impl_):
        cams.s.grad = None
        o, d = camera_rays(cams.rotation(0), cams.centre(0), cams.focal(), 12, 12)
        out = render_rays(field, o, d, 0.5, 4.0, 16, perturb=False, impl=impl_)
        (out["rgb"].sum() + out["acc"].sum()).backward()
        return cams.s.grad.clone()

    g = grad_s(impl)
    assert g.abs().item() > 0
    torch.testing.assert_close(g, grad_s("reference"), atol=1e-5, rtol=1e-4)


def test_render_of_a_uniform_medium_is_closed_form():
    class Fog(torch.nn.Module):
        def forward(self, x, d):
            return torch.full(x.shape[:1], 0.5), torch.zeros(x.shape[0], 3) + torch.logit(torch.tensor(0.25))

    o = torch.zeros(3, 3)
    d = torch.tensor([[0.0, 0, 1], [0.0, 0.3, 1], [0.2, 0.0, 1]])
    out = render_rays(Fog(), o, d, near=1.0, far=3.0, n_samples=16, perturb=False, impl="reference")
    # the last interval is 1e2 long: opacity 1 - exp(-0.5 (2 + 100) |d|) ~ 1
    L = (2.0 + 100.0) * d.norm(dim=-1)
    assert torch.allclose(out["acc"], 1 - torch.exp(-0.5 * L), atol=1e-6)
    assert torch.allclose(out["rgb"], 0.25 * out["acc"][:, None], atol=1e-6)


# --- scenes ----------------------------------------------------------------------------------------

def test_scene_spec_validation():
    with pytest.raises(ValueError, match="unknown trajectory kind"):
        SceneSpec(kind="spiral")
    with pytest.raises(ValueError, match="at least 3 frames"):
        SceneSpec(n_frames=2)
    with pytest.raises(ValueError, match="fov_deg must lie"):
        SceneSpec(fov_deg=0.0)


def test_scenes_are_rendered_away_from_the_initial_focal_guess():
    """The learned focal starts at (W + H) / 2 (53.13 degrees); the scenes use 65 degrees, so
    a focal that never moves is off by 27 %."""
    spec = SceneSpec(width=32, height=32)
    assert spec.fov_deg == 65.0
    init = float(CameraParams(1, 32, 32).focal().detach())
    assert 100 * abs(init - spec.focal) / spec.focal == pytest.approx(27.4, abs=0.2)


def test_orbit_steps_by_arc_over_n_minus_one_degrees():
    spec = SceneSpec(kind="orbit", n_frames=7, arc_deg=90.0)
    P = trajectory(spec, torch.linspace(0, 1, 7).numpy())
    rel = G.rotation_angle_deg(P[:-1, :3, :3], P[1:, :3, :3])
    assert torch.allclose(rel, torch.full((6,), 15.0), atol=1e-3)
    Q = trajectory(SceneSpec(kind="forward", n_frames=7), torch.linspace(0, 1, 7).numpy())
    spread = G.rotation_angle_deg(Q[:1, :3, :3].expand(7, 3, 3), Q[:, :3, :3])
    assert 2.0 < float(spread.max()) < 15.0  # forward-facing: small rotations, not none
    assert torch.allclose(relative_to_first(P)[0], torch.eye(4), atol=1e-6)


def test_make_scene_is_cached_and_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_CACHE_DIR", str(tmp_path))
    spec = SceneSpec(kind="orbit", n_frames=3, n_test=1, width=8, height=8, render_samples=64)
    a = make_scene(spec)
    assert list(tmp_path.rglob("*.npz")), "the render is cached"
    b = make_scene(spec)
    c = make_scene(spec, cache=False)
    assert torch.equal(a.images, b.images) and torch.allclose(a.images, c.images)
    assert a.images.shape == (3, 8, 8, 3) and a.test_images.shape == (1, 8, 8, 3)
    assert 0 < float(a.images.min()) and float(a.images.max()) < 1
    assert a.images.std() > 0.05  # textured, not flat


# --- localization against the known field (the prototype's check) -----------------------------

def test_single_image_localization_against_the_known_field_reduces_pose_error_5x():
    spec = SceneSpec(kind="orbit", n_frames=3, n_test=0, width=16, height=16, render_samples=128,
                     fov_deg=53.13)
    true = trajectory(spec, torch.tensor([0.5]).numpy())
    with torch.no_grad():
        from reprobook.cfnerf.scenes import render_views
        img = render_views(spec, true, supersample=1)
    scene = Scene(spec, img, true, torch.zeros(0, 16, 16, 3), torch.zeros(0, 4, 4), spec.focal)
    cfg = Config(n_samples=64, noise_std=0.0, near=0.5, far=6.0, lr_param=4e-3, known_focal=True, impl="reference")
    tr = Trainer(scene, cfg, seed=0)
    tr.field = AnalyticScene()
    start = true[0].clone()
    start[:3, :3] = G.so3_exp(torch.tensor([0.05, -0.06, 0.03])) @ start[:3, :3]  # ~4.6 degrees off
    start[:3, 3] += torch.tensor([0.05, -0.04, 0.03])
    tr.cams.set_pose(0, start)
    err0 = float(G.rotation_angle_deg(tr.poses()[0, :3, :3], true[0, :3, :3]))
    tr.run_stage(Stage("localization", (0,), 150, 1, False))
    P = tr.poses()[0]
    err1 = float(G.rotation_angle_deg(P[:3, :3], true[0, :3, :3]))
    assert err0 > 4
    assert err1 < err0 / 5, (err0, err1)
    assert (P[:3, 3] - true[0, :3, 3]).norm() < (start[:3, 3] - true[0, :3, 3]).norm() / 5


# --- evaluation ------------------------------------------------------------------------------------

def test_psnr_and_ssim_known_values():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 16, 3, generator=g)
    assert ssim(x, x) == pytest.approx(1.0)
    y = torch.full((8, 8, 3), 0.5)
    assert psnr(y, y + 0.1) == pytest.approx(20.0)
    assert ssim(x, 1 - x) < 0.2
    with pytest.raises(ValueError, match="one shape"):
        ssim(x, x[:8])


def test_test_views_map_into_the_method_frame_and_back():
    spec = SceneSpec(kind="orbit", n_frames=6)
    ref = trajectory(spec, torch.linspace(0, 1, 6).numpy())
    s, R, t = 0.4, G.so3_exp(torch.tensor([0.3, -0.2, 0.5])), torch.tensor([1.0, -2.0, 0.5])
    est = ref.clone()  # the same cameras in another similarity frame: x_est = (R^T (x - t)) / s
    est[:, :3, :3] = R.T @ ref[:, :3, :3]
    est[:, :3, 3] = ((R.T @ (ref[:, :3, 3] - t).T) / s).T
    test = trajectory(spec, torch.tensor([0.25, 0.7]).numpy())
    mapped = to_method_frame(est, ref, test)
    want = test.clone()
    want[:, :3, :3] = R.T @ test[:, :3, :3]
    want[:, :3, 3] = ((R.T @ (test[:, :3, 3] - t).T) / s).T
    assert torch.allclose(mapped, want, atol=1e-4)


# --- config ------------------------------------------------------------------------------------------

def test_configs_come_from_notebook_parameters_and_downscale_checks_divisibility():
    params = {"depth": 3, "width": 24, "final_downscales": [2, 1], "passes": 5, "seed": 7}
    cfg, sch = config_from(Config, params), config_from(Schedule, params)
    assert (cfg.depth, cfg.width, cfg.n_rays) == (3, 24, 2048)  # given, given, released default
    assert sch.final_downscales == (2, 1) and sch.passes == 5
    with pytest.raises(ParameterError, match="unknown field"):
        config_from(Config, params, widht=3)
    with pytest.raises(ValueError, match="nerfmm_refine"):
        Config(nerfmm_refine=1.0)
    with pytest.raises(ValueError, match="cannot be downscaled by 4"):
        downscale(torch.zeros(1, 6, 6, 3), 4)
    x = torch.arange(16.0).reshape(1, 4, 4, 1).expand(1, 4, 4, 3)
    assert torch.allclose(downscale(x, 2)[0, :, :, 0], torch.tensor([[2.5, 4.5], [10.5, 12.5]]))


def test_experiment_inputs_name_what_is_wrong(tmp_path):
    from reprobook.cfnerf import experiments as X

    with pytest.raises(KeyError, match="n_frames"):
        X.scene_from({"image_size": 8}, "orbit")
    with pytest.raises(ValueError, match="unknown ablation\\(s\\) \\['focal'\\]"):
        X.ablation_arms(Config(), Schedule(), 8, ["focal"], 10, 100)
    spec = SceneSpec(kind="orbit", n_frames=3, n_test=0, width=8, height=8)
    scene = Scene(spec, torch.zeros(3, 8, 8, 3), torch.eye(4).repeat(3, 1, 1), torch.zeros(0, 8, 8, 3),
                  torch.zeros(0, 4, 4), spec.focal)
    with pytest.raises(ValueError, match="unknown method 'COLMAP'"):
        X.run("COLMAP", scene, Config(), Schedule(), 0)
    with pytest.raises(ValueError, match="unknown method 'COLMAP'"):
        X.run_many([("COLMAP", scene, Config(), Schedule(), 0)])
    with pytest.raises(ValueError, match="capture_downscale must be an integer >= 1"):
        X.scene_from_capture(str(tmp_path), 0, 1)
    with pytest.raises(ValueError, match="loaded, not rendered"):
        make_scene(SceneSpec(kind="capture", n_frames=3, n_test=0))
