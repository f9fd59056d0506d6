"""GPU smoke check of CF-NeRF's training step (ARCHITECTURE §7, ``core.gpusmoke``).

``check_training_steps(device, tiny)`` runs a few CF-NeRF optimisation steps (field, learned focal
and poses, compositing through the book's kernel on that device) and the same steps with the
PyTorch reference compositor from the same seed, and compares their losses and the learned
cameras. On CUDA this exercises the CUDA kernel inside a real training step; the unit tests call
it with ``device="cpu", tiny=True`` (the C++ kernel).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from .scenes import Scene, SceneSpec
from .schedule import Stage
from .train import Config, Trainer


def _scene(size: int) -> Scene:
    g = torch.Generator().manual_seed(0)
    spec = SceneSpec(kind="orbit", n_frames=3, n_test=0, width=size, height=size)
    imgs = torch.rand(3, size, size, 3, generator=g)
    return Scene(spec, imgs, torch.eye(4).repeat(3, 1, 1), torch.zeros(0, size, size, 3),
                 torch.zeros(0, 4, 4), spec.focal)


def _train(cfg: Config, scene: Scene, device: str, passes: int) -> tuple[list[float], Trainer]:
    tr = Trainer(scene, cfg, seed=0, device=device)
    losses = [tr.run_stage(Stage("global_optimization", (0, 1, 2), 1, 1, False))
              for _ in range(passes)]
    return losses, tr


def check_training_steps(device: str, tiny: bool) -> dict[str, Any]:
    """CF-NeRF training steps through the compositing kernel against the reference."""
    from ..core.gpusmoke import Skip

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise Skip("torch sees no CUDA device")
    size, passes = (8, 2) if tiny else (32, 5)
    cfg = Config(depth=2 if tiny else 4, width=16 if tiny else 64, n_samples=16 if tiny else 64,
                 n_rays=64 if tiny else 1024, noise_std=0.0)
    scene = _scene(size)
    kernel_losses, a = _train(replace(cfg, impl="auto"), scene, device, passes)
    ref_losses, b = _train(replace(cfg, impl="reference"), scene, device, passes)
    d_loss = max(abs(x - y) for x, y in zip(kernel_losses, ref_losses))
    with torch.no_grad():
        d_pose = float((a.cams.c2w() - b.cams.c2w()).abs().max())
        d_focal = float((a.cams.focal() - b.cams.focal()).abs())
    out = {"steps": passes * 3, "loss_max_abs_diff": d_loss, "pose_max_abs_diff": d_pose,
           "focal_abs_diff_px": d_focal, "last_loss": kernel_losses[-1]}
    if d_loss > 1e-3 or d_pose > 1e-3:
        raise AssertionError(f"training through the kernel diverges from the reference: {out}")
    return out


CHECKS = [check_training_steps]
