"""Evaluation (paper Sec. 4): pose errors after Sim(3) alignment, and novel-view PSNR/SSIM with
test-time pose optimisation.

The learned cameras live in the method's own frame (image 0 at the identity, scale set by the
field). For a held-out view, the reference pose is mapped into that frame with the inverse of the
Umeyama Sim(3) fitted on the training cameras, then refined for ``steps`` Adam steps on its own
photometric loss with the field and focal frozen (as BARF and NeRFmm evaluate), and rendered.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from .geometry import apply_sim3, pose_errors, sim3_from_poses, so3_exp, so3_log
from .render import camera_rays, render_image, render_rays
from .train import Config, Trainer


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio (dB) of images in [0, 1]."""
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else -10 * math.log10(mse)


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> float:
    """SSIM (Wang et al. 2004) of [H, W, 3] images in [0, 1]: Gaussian window 11 / 1.5,
    K1 = 0.01, K2 = 0.03, averaged over the valid region and the channels."""
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(f"ssim needs two [H, W, C] images of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    x = a.permute(2, 0, 1)[:, None].double()
    y = b.permute(2, 0, 1)[:, None].double()
    win = min(window, a.shape[0], a.shape[1])
    g = torch.exp(-((torch.arange(win, dtype=torch.float64) - (win - 1) / 2) ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    k = (g[:, None] * g[None, :])[None, None]
    mu_x, mu_y = F.conv2d(x, k), F.conv2d(y, k)
    sxx = F.conv2d(x * x, k) - mu_x ** 2
    syy = F.conv2d(y * y, k) - mu_y ** 2
    sxy = F.conv2d(x * y, k) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return float(s.mean())


def to_method_frame(est: torch.Tensor, ref: torch.Tensor, ref_poses: torch.Tensor) -> torch.Tensor:
    """Map reference-frame poses into the frame of the estimated cameras ``est`` (the inverse of
    the Sim(3) fitted on the training cameras' orientations and centres,
    :func:`.geometry.sim3_from_poses`; test-time optimisation then refines them)."""
    s, R, t = sim3_from_poses(est.double(), ref.double())
    return apply_sim3(ref_poses.double(), 1 / s, R.T, -(R.T @ t) / s).float()


def refine_pose(trainer: Trainer, image: torch.Tensor, c2w: torch.Tensor, steps: int,
                lr: float | None = None) -> torch.Tensor:
    """Adam on (phi, t) of one camera against ``image`` [H, W, 3] with the field and the focal
    frozen (learning rate: the run's camera rate unless given)."""
    H, W = image.shape[:2]
    return refine_pose_with(trainer.field, trainer.cfg, trainer.cams.focal(W, H).detach(), image,
                            c2w, steps, lr)


def refine_pose_with(field: torch.nn.Module, cfg: Config, focal: torch.Tensor | float,
                     image: torch.Tensor, c2w: torch.Tensor, steps: int,
                     lr: float | None = None) -> torch.Tensor:
    """Test-time pose optimisation of one camera (OpenCV c2w) against ``image`` through
    ``field``: ``steps`` Adam steps of ``cfg.n_rays`` random rays each, field frozen."""
    lr = cfg.lr_param if lr is None else lr
    dev = image.device
    phi = so3_log(c2w[:3, :3].double()).float().to(dev).clone().requires_grad_(True)
    t = c2w[:3, 3].float().to(dev).clone().requires_grad_(True)
    H, W = image.shape[:2]
    target = image.reshape(-1, 3)
    opt = torch.optim.Adam([phi, t], lr=lr)
    gen = torch.Generator(device=dev).manual_seed(0)
    grads = [p.requires_grad for p in field.parameters()]
    for p in field.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):  # the run's rays per step, drawn at random like in training
            pix = torch.randperm(W * H, generator=gen, device=dev)[:cfg.n_rays]
            o, d = camera_rays(so3_exp(phi), t, focal, W, H, pix)
            out = render_rays(field, o, d, cfg.near, cfg.far, cfg.n_samples, perturb=False,
                              impl=cfg.impl, rgb_activation=cfg.rgb_activation)
            loss = F.smooth_l1_loss(out["rgb"], target[pix])
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p, g in zip(field.parameters(), grads):
            p.requires_grad_(g)
    out_pose = torch.eye(4, device=dev)
    out_pose[:3, :3] = so3_exp(phi.detach())
    out_pose[:3, 3] = t.detach()
    return out_pose


def novel_views(trainer: Trainer, steps: int = 100) -> dict[str, Any]:
    """PSNR / SSIM of the held-out views (mean) with ``steps`` of test-time pose optimisation;
    also returns the renders [N, H, W, 3]."""
    sc = trainer.scene
    if len(sc.test_images) == 0:
        return {"psnr": float("nan"), "ssim": float("nan"), "renders": torch.zeros(0)}
    est = trainer.poses()
    init = to_method_frame(est, sc.poses, sc.test_poses)
    W, H = sc.W, sc.H
    renders, ps, ss = [], [], []
    for img, c2w in zip(sc.test_images, init):
        pose = refine_pose(trainer, img, c2w, steps) if steps > 0 else c2w
        r = render_image(trainer.field, pose, trainer.cams.focal(W, H).detach(), W, H, trainer.cfg.near,
                         trainer.cfg.far, trainer.cfg.n_samples, impl=trainer.cfg.impl,
                         rgb_activation=trainer.cfg.rgb_activation)["rgb"].clamp(0, 1)
        renders.append(r)
        ps.append(psnr(r, img))
        ss.append(ssim(r, img))
    return {"psnr": float(sum(ps) / len(ps)), "ssim": float(sum(ss) / len(ss)), "renders": torch.stack(renders),
            "psnr_each": ps}


def summary_row(trainer: Trainer, method: str, nv: dict[str, Any] | None = None, tto_steps: int = 50
                ) -> dict[str, Any]:
    """One row of the comparison: aligned pose errors, frame-to-frame RPE, focal error, novel-view
    PSNR/SSIM (``nv`` from :func:`novel_views`, computed here when not given)."""
    sc = trainer.scene
    err = pose_errors(trainer.poses(), sc.poses)
    nv = novel_views(trainer, tto_steps) if nv is None else nv
    f = float(trainer.cams.focal().detach())
    return {"method": method, "sequence": sc.spec.kind, "rot_deg": err["rot_deg"], "trans": err["trans"],
            "rot_deg_ra": err["rot_deg_ra"], "rpe_rot_deg": err["rpe_rot_deg"], "focal_err_pct": 100 * abs(f - sc.focal) / sc.focal,
            "psnr": nv["psnr"], "ssim": nv["ssim"]}
