"""Training CF-NeRF and its baselines on one code path (paper Sec. 3.3 and 4).

:class:`Config` holds the model and optimiser settings (defaults: the released SIREN run, whose
NeRFBuster settings live in the ``gpu-1x`` profile). :class:`Trainer` owns the field, the learned
cameras and the image pyramid, and runs a :class:`~.schedule.Stage` as the released code does:
for each stage fresh Adam optimisers (one per group: NeRF, focal, rotations, translations, all at
lr 1e-3; the chapter's small runs raise the pose rate alone, ``lr_param``) and step decays (NeRF
x0.9954 every 200 steps, cameras x0.9 every 2000), one step per
view and pass with ``n_rays`` random rays of that view (all pixels if the image has fewer),
smooth-L1 between rendered and observed colour.

Methods (:data:`METHODS`), each as its own paper describes it, on this one trainer:

* :func:`run_cfnerf` — the incremental schedule (:class:`~.schedule.Schedule`) on ``cfg.field``
  (the released SIREN);
* :func:`run_nerfmm` — NeRFmm (NeRF--, Wang et al. 2021): the focal, all poses (axis-angle +
  centre) and NeRF's positional-encoding field jointly from the identity, then its refinement
  stage: the field re-initialised and trained again jointly from the learned cameras
  (``nerfmm_refine`` of the steps; 0 turns it off);
* :func:`run_barf` — BARF (Lin et al. 2021): poses as se(3) twists from the identity, the
  positional-encoding field with frequencies 2^k pi and its coarse-to-fine annealing (BARF
  Eq. 14, alpha rising over 10-50 % of the run), the focal known (BARF assumes intrinsics);
* :func:`run_garf` — GARF (Chng et al. 2022): BARF's setting on a Gaussian-activated field
  without positional encoding or annealing.

The baselines get as many optimisation steps as CF-NeRF's schedule takes on the same sequence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..core.progress import progress
from .fields import PEField, make_field
from .geometry import pose_errors, rotation_angle_deg
from .render import CameraParams, camera_rays, render_rays
from .scenes import Scene
from .schedule import Schedule, Stage


@dataclass(frozen=True)
class Config:
    """Model, rendering and optimiser settings (released defaults)."""

    field: str = "siren"              # "siren", "pe" or "gauss" (fields.FIELDS)
    depth: int = 8
    width: int = 128
    sigma_mul: float = 20.0           # SIREN density multiplier
    w0_first: float = 30.0            # SIREN first-layer frequency (paper); see first_w0_from_sigma_mul
    first_w0_from_sigma_mul: bool = False  # the released code's behaviour: first-layer w0 = sigma_mul
    use_viewdirs: bool = True
    n_freqs_xyz: int = 10
    n_freqs_dir: int = 4
    near: float = 0.0
    far: float = 6.0
    n_samples: int = 128
    noise_std: float = 1.0
    n_rays: int = 2048
    lr_nerf: float = 1e-3
    lr_param: float = 1e-3            # rotations and translations
    lr_focal: float = 1e-3            # the shared focal (released: 1e-3, like every group)
    step_nerf: int = 200
    gamma_nerf: float = 0.9954
    step_param: int = 2000
    gamma_param: float = 0.9
    initial_fov_deg: float = 53.13    # release: f = (W + H) / 2 at start
    known_focal: bool = False         # True: use the scene's true focal instead of learning it
    rgb_activation: str = "sigmoid"   # paper (NeRF); "none": the release composites raw colour
    pose_param: str = "so3xr3"        # axis-angle + centre; "se3" for BARF / GARF
    pe_pi: bool = False               # positional encoding 2^k x (release) or 2^k pi x (NeRF, BARF)
    gauss_s: float = 0.1              # GARF's Gaussian width
    barf_start: float = 0.1           # BARF: fraction of the run where annealing starts / ends
    barf_end: float = 0.5
    barf_known_focal: bool = True     # BARF and GARF assume known intrinsics (BARF Sec. 4)
    nerfmm_refine: float = 0.5        # NeRFmm: share of its steps in the refinement stage
    impl: str = "auto"                # compositing: "auto" (C++/CUDA kernel) or "reference"

    def __post_init__(self) -> None:
        if not 0.0 <= self.nerfmm_refine < 1.0:
            raise ValueError(f"Config.nerfmm_refine must lie in [0, 1), got {self.nerfmm_refine}")
        if self.n_rays < 1 or self.n_samples < 2:
            raise ValueError(f"Config needs n_rays >= 1 and n_samples >= 2, got {self.n_rays}, "
                             f"{self.n_samples}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def downscale(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Area-average [N, H, W, 3] images by an integer ``factor``."""
    if factor == 1:
        return images
    N, H, W, C = images.shape
    if H % factor or W % factor:
        raise ValueError(f"images of {W} x {H} cannot be downscaled by {factor}")
    return images.reshape(N, H // factor, factor, W // factor, factor, C).mean((2, 4))


def new_field(cfg: Config) -> torch.nn.Module:
    """The field of ``cfg`` (freshly initialised by the current torch seed)."""
    kw: dict[str, Any] = {"use_viewdirs": cfg.use_viewdirs}
    if cfg.field == "siren":
        kw.update(sigma_mul=cfg.sigma_mul, w0_first=cfg.w0_first,
                  first_w0_from_sigma_mul=cfg.first_w0_from_sigma_mul)
    elif cfg.field == "pe":
        kw.update(n_freqs_xyz=cfg.n_freqs_xyz, n_freqs_dir=cfg.n_freqs_dir, pi=cfg.pe_pi)
    elif cfg.field == "gauss":
        kw.update(s=cfg.gauss_s)
    return make_field(cfg.field, cfg.depth, cfg.width, **kw)


@dataclass
class History:
    """What a run recorded: per registered image, the error of its pose just before and after
    localization (frame-to-frame rotation to the previous image, degrees) and the aligned errors of
    all registered poses after its stages; the loss per stage; wall time."""

    registration: list[dict[str, float]] = field(default_factory=list)
    losses: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[torch.Tensor] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0


class Trainer:
    """Field + cameras + images of one sequence; runs stages."""

    def __init__(self, scene: Scene, cfg: Config, seed: int = 0, device: str = "cpu"):
        self.scene, self.cfg, self.device = scene, cfg, torch.device(device)
        torch.manual_seed(seed)
        self.field = new_field(cfg).to(self.device)
        n = scene.images.shape[0]
        self.cams = CameraParams(n, scene.W, scene.H, cfg.initial_fov_deg,
                                 known_focal=scene.focal if cfg.known_focal else None,
                                 pose_param=cfg.pose_param).to(self.device)
        self.images = scene.images.to(self.device)
        self._pyramid: dict[int, torch.Tensor] = {}
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.step = 0
        self.progress_hook: Callable[[float], None] | None = None  # BARF's annealing

    def level(self, ds: int) -> torch.Tensor:
        if ds not in self._pyramid:
            self._pyramid[ds] = downscale(self.images, ds).reshape(self.images.shape[0], -1, 3)
        return self._pyramid[ds]

    def loss_on(self, view: int, ds: int, n_rays: int | None = None, jitter: bool = True) -> torch.Tensor:
        """Smooth-L1 loss of ``n_rays`` random rays (all pixels if fewer) of image ``view``."""
        cfg = self.cfg
        img = self.level(ds)[view]
        W, H = self.scene.W // ds, self.scene.H // ds
        n = cfg.n_rays if n_rays is None else n_rays
        if n >= W * H:
            pix = torch.arange(W * H, device=self.device)
        else:
            pix = torch.randperm(W * H, generator=self.gen, device=self.device)[:n]
        R = self.cams.rotation(view)
        o, d = camera_rays(R, self.cams.centre(view), self.cams.focal(W, H), W, H, pix, jitter=jitter,
                           generator=self.gen)
        out = render_rays(self.field, o, d, cfg.near, cfg.far, cfg.n_samples, perturb=True,
                          noise_std=cfg.noise_std, generator=self.gen, impl=cfg.impl,
                          rgb_activation=cfg.rgb_activation)
        return F.smooth_l1_loss(out["rgb"], img[pix])

    def _optimisers(self, groups: tuple[str, ...]) -> list[tuple[torch.optim.Optimizer, Any]]:
        cfg = self.cfg
        params = {"nerf": (list(self.field.parameters()), cfg.lr_nerf, cfg.step_nerf, cfg.gamma_nerf),
                  "focal": ([self.cams.s], cfg.lr_focal, cfg.step_param, cfg.gamma_param),
                  "rotation": ([self.cams.phi], cfg.lr_param, cfg.step_param, cfg.gamma_param),
                  "translation": ([self.cams.t], cfg.lr_param, cfg.step_param, cfg.gamma_param)}
        out = []
        for g in groups:
            if g == "focal" and cfg.known_focal:
                continue
            p, lr, step, gamma = params[g]
            opt = torch.optim.Adam(p, lr=lr, betas=(0.9, 0.999))
            out.append((opt, torch.optim.lr_scheduler.StepLR(opt, step_size=step, gamma=gamma)))
        return out

    def run_stage(self, stage: Stage, total_steps: int | None = None) -> float:
        """Run one stage; returns its mean loss over the last pass."""
        opts = self._optimisers(stage.groups)
        field_frozen = "nerf" not in stage.groups
        for p in self.field.parameters():
            p.requires_grad_(not field_frozen)
        last: list[float] = []
        views = list(stage.views)
        for it in range(stage.passes):
            order = list(self.rng.permutation(views)) if stage.shuffle else views
            for v in order:
                if self.progress_hook is not None and total_steps:
                    self.progress_hook(self.step / total_steps)
                loss = self.loss_on(int(v), stage.downscale)
                for opt, _ in opts:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                for opt, sch in opts:
                    opt.step()
                    sch.step()
                self.step += 1
                if it == stage.passes - 1:
                    last.append(loss.item())
        for p in self.field.parameters():
            p.requires_grad_(True)
        return float(np.mean(last)) if last else float("nan")

    def poses(self) -> torch.Tensor:
        with torch.no_grad():
            return self.cams.c2w().detach().cpu()


def _frame_rotation_error(est: torch.Tensor, ref: torch.Tensor, k: int) -> float:
    """Rotation error (deg) of the relative pose from image k-1 to k."""
    re = est[k - 1, :3, :3].T @ est[k, :3, :3]
    rr = ref[k - 1, :3, :3].T @ ref[k, :3, :3]
    return float(rotation_angle_deg(re, rr))


def run_schedule(trainer: Trainer, stages: list[Stage], desc: str = "cfnerf",
                 on_registered: Callable[[Trainer, int], None] | None = None,
                 before_stage: Callable[[Trainer, int], None] | None = None) -> History:
    """Run ``stages`` in order, recording the registration history (``before_stage(trainer, i)``
    runs before stage i)."""
    hist = History()
    ref = trainer.scene.poses
    total = sum(s.steps for s in stages)
    t0 = time.perf_counter()
    for i, stage in progress(list(enumerate(stages)), desc=desc):
        if before_stage is not None:
            before_stage(trainer, i)
        if stage.kind == "localization" and stage.image > 0:
            k = stage.image
            with torch.no_grad():  # a new image starts at the previous image's pose
                trainer.cams.phi[k] = trainer.cams.phi[k - 1]
                trainer.cams.t[k] = trainer.cams.t[k - 1]
            before = _frame_rotation_error(trainer.poses(), ref, k)
        loss = trainer.run_stage(stage, total)
        hist.losses.append({"stage": i, "kind": stage.kind, "image": stage.image, "downscale": stage.downscale,
                            "steps": stage.steps, "loss": loss, "t": time.perf_counter() - t0})
        if stage.kind == "localization" and stage.image > 0:
            hist.registration.append({"image": stage.image, "rpe_before_deg": before,
                                      "rpe_after_deg": _frame_rotation_error(trainer.poses(), ref, stage.image)})
        last_of_image = stage.image > 0 and (i + 1 == len(stages) or stages[i + 1].image != stage.image)
        if last_of_image:
            k = stage.image
            P = trainer.poses()
            err = pose_errors(P[:k + 1], ref[:k + 1]) if k >= 2 else {"rot_deg": float("nan"), "trans": float("nan"),
                                                                        "rot_deg_ra": float("nan"), "rpe_rot_deg": float("nan")}
            hist.registration[-1].update({f"registered_{key}": v for key, v in err.items()})
            hist.registration[-1]["t"] = time.perf_counter() - t0
            hist.snapshots.append(P[:k + 1].clone())
            if on_registered is not None:
                on_registered(trainer, k)
    hist.seconds = time.perf_counter() - t0
    hist.steps = trainer.step
    return hist


def run_cfnerf(scene: Scene, cfg: Config, schedule: Schedule, seed: int = 0, device: str = "cpu",
               on_registered: Callable[[Trainer, int], None] | None = None) -> tuple[Trainer, History]:
    """CF-NeRF: the incremental schedule on the scene's image sequence."""
    tr = Trainer(scene, cfg, seed=seed, device=device)
    stages = schedule.stages(scene.images.shape[0])
    return tr, run_schedule(tr, stages, desc="CF-NeRF", on_registered=on_registered)


def joint_stages(n_images: int, steps: int, downscale_: int = 1) -> list[Stage]:
    """One global optimization of every image for about ``steps`` steps (the joint methods)."""
    passes = max(1, round(steps / n_images))
    return [Stage("global_optimization", tuple(range(n_images)), passes, downscale_, True)]


def run_nerfmm(scene: Scene, cfg: Config, steps: int, seed: int = 0, device: str = "cpu",
               downscale_: int = 1) -> tuple[Trainer, History]:
    """NeRFmm: NeRF's positional-encoding field, the focal and all poses jointly from the
    identity; then (``cfg.nerfmm_refine`` > 0) the refinement stage: a new field trained jointly
    again from the learned cameras, within the same total number of steps."""
    cfg = replace(cfg, field="pe", pose_param="so3xr3")
    tr = Trainer(scene, cfg, seed=seed, device=device)
    n = scene.images.shape[0]
    refine = round(steps * cfg.nerfmm_refine)
    stages = joint_stages(n, steps - refine, downscale_)
    if not refine:
        return tr, run_schedule(tr, stages, desc="NeRFmm")

    def reinit(trainer: Trainer, i: int) -> None:
        if i == 1:  # the refinement stage starts from a new field
            torch.manual_seed(seed + 1)
            trainer.field = new_field(trainer.cfg).to(trainer.device)

    stages = stages + joint_stages(n, refine, downscale_)
    return tr, run_schedule(tr, stages, desc="NeRFmm", before_stage=reinit)


def _joint_c2f(scene: Scene, cfg: Config, steps: int, seed: int, device: str, downscale_: int,
               desc: str) -> tuple[Trainer, History]:
    cfg = replace(cfg, pose_param="se3", known_focal=cfg.barf_known_focal)
    tr = Trainer(scene, cfg, seed=seed, device=device)
    if isinstance(tr.field, PEField):
        enc = tr.field.enc_x
        tr.progress_hook = lambda frac: enc.set_progress(frac, cfg.barf_start, cfg.barf_end)
    return tr, run_schedule(tr, joint_stages(scene.images.shape[0], steps, downscale_), desc=desc)


def run_barf(scene: Scene, cfg: Config, steps: int, seed: int = 0, device: str = "cpu",
             downscale_: int = 1) -> tuple[Trainer, History]:
    """BARF: se(3) poses from the identity, the positional-encoding field (2^k pi frequencies)
    with coarse-to-fine annealing, the focal known (``cfg.barf_known_focal``)."""
    return _joint_c2f(scene, replace(cfg, field="pe", pe_pi=True), steps, seed, device, downscale_,
                      "BARF")


def run_garf(scene: Scene, cfg: Config, steps: int, seed: int = 0, device: str = "cpu",
             downscale_: int = 1) -> tuple[Trainer, History]:
    """GARF: BARF's setting on the Gaussian-activated field (no encoding, no annealing)."""
    return _joint_c2f(scene, replace(cfg, field="gauss"), steps, seed, device, downscale_, "GARF")


METHODS = ("CF-NeRF", "NeRFmm", "BARF", "GARF")
_RUNNERS = {"NeRFmm": run_nerfmm, "BARF": run_barf, "GARF": run_garf}


def run_method(method: str, scene: Scene, cfg: Config, schedule: Schedule, seed: int = 0,
               device: str = "cpu") -> tuple[Trainer, History]:
    """Train ``method`` (one of :data:`METHODS`); a baseline gets as many steps as CF-NeRF's
    schedule takes on this sequence."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    if method == "CF-NeRF":
        return run_cfnerf(scene, cfg, schedule, seed=seed, device=device)
    steps = schedule.total_steps(scene.images.shape[0])
    return _RUNNERS[method](scene, cfg, steps, seed=seed, device=device)
