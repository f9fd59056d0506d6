"""nerfstudio agrees with the chapter's cameras, rotations and compositing (nerf environment)."""

from __future__ import annotations

import numpy as np
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
    with pytest.raises(FileNotFoundError, match="nerfbusters-dataset.zip") as e:
        ns.load_capture(tmp_path)
    assert "ns-download-data nerfbusters" not in str(e.value)  # no such subcommand in 1.1.5


def test_a_written_capture_becomes_a_scene_in_file_name_order(capture):
    from reprobook.cfnerf import experiments as X
    from reprobook.cfnerf.scenes import SceneSpec

    sc = X.scene_from_capture(str(capture), 1, 2, multiple=3)
    assert sc.images.shape == (8, 15, 15, 3) and sc.test_images.shape == (2, 15, 15, 3)
    fov = SceneSpec().fov_deg
    assert sc.focal == pytest.approx(16 / 2 / np.tan(np.radians(fov / 2)), rel=1e-4)
    # file-name order is the orbit's order: consecutive training centres are neighbours
    gaps = (sc.poses[1:, :3, 3] - sc.poses[:-1, :3, 3]).norm(dim=-1)
    assert float(gaps.max()) < 3 * float(gaps.min())
    with pytest.raises(ValueError, match="fewer than 3 for training"):
        X.scene_from_capture(str(capture), 1, 8)


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


# --- CF-NeRF as a nerfstudio method ------------------------------------------------------------

def test_the_step_plan_walks_the_schedule():
    from reprobook.cfnerf.nsmethod import StepPlan
    from reprobook.cfnerf.schedule import Schedule

    sch = Schedule(init_passes=3, first_passes=2, passes=1, global_every=2,
                   incremental_downscale=1, final_downscales=(1,))
    stages = sch.stages(5)
    plan = StepPlan(stages, seed=0)
    assert len(plan) == sch.total_steps(5)
    for i, st in enumerate(stages):  # each stage's steps are its views, pass after pass
        views = [v for j, v in plan.index if j == i]
        assert len(views) == st.steps and sorted(set(views)) == sorted(set(st.views))
    assert plan.at(10**9) == plan.at(len(plan) - 1)


@pytest.mark.slow
def test_ns_train_lists_cf_nerf_and_trains_it_on_a_capture(capture, tmp_path):
    """`ns-train cf-nerf --data CAPTURE ...` as nerfstudio parses it, a few steps, then
    nerfstudio's evaluation (ns-eval's call) with test-time pose optimisation."""
    import tyro
    from nerfstudio.configs.method_configs import AnnotatedBaseConfigUnion, all_methods
    from nerfstudio.scripts.train import main
    from nerfstudio.utils.eval_utils import eval_setup

    assert "cf-nerf" in all_methods
    args = ["cf-nerf", "--data", str(capture), "--output-dir", str(tmp_path),
            "--max-num-iterations", "6", "--vis", "tensorboard", "--machine.device-type", "cpu",
            "--steps-per-eval-batch", "3", "--steps-per-eval-image", "5",
            "--pipeline.model.cfnerf.depth", "2", "--pipeline.model.cfnerf.width", "16",
            "--pipeline.model.cfnerf.n-samples", "8", "--pipeline.model.cfnerf.n-rays", "32",
            "--pipeline.model.cfnerf.impl", "cpp", "--pipeline.model.tto-steps", "2",
            "--pipeline.model.schedule.init-passes", "1",
            "--pipeline.model.schedule.first-passes", "1", "--pipeline.model.schedule.passes", "1",
            "--pipeline.model.schedule.incremental-downscale", "2",
            "nerfstudio-data", "--eval-mode", "interval", "--eval-interval", "4"]
    config = tyro.cli(AnnotatedBaseConfigUnion, args=args)
    assert type(config).__name__ == "CFNeRFTrainerConfig"
    main(config)
    cfg_path = next(tmp_path.rglob("config.yml"))
    assert list(tmp_path.rglob("step-*.ckpt"))
    _, pipeline, _, _ = eval_setup(cfg_path, test_mode="test")
    cams = pipeline.model.cams
    assert cams.phi.abs().sum() > 0  # the schedule moved the rotations (localization etc.)
    assert len(pipeline.plan) > 6  # the schedule is longer than the 6 steps run here
    metrics = pipeline.get_average_eval_image_metrics(get_std=True)
    assert metrics["num_eval_views"] >= 1
    assert np.isfinite(metrics["psnr"]) and np.isfinite(metrics["rot_deg_ra"])
