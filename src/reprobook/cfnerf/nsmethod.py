"""CF-NeRF as a nerfstudio method: ``ns-train cf-nerf --data CAPTURE`` (nerfstudio 1.1.5).

Registered through the ``nerfstudio.method_configs`` entry point (``pyproject.toml``), so a
nerfstudio user trains it like any other method, on a capture in nerfstudio's format (NeRFBuster
scenes come so), with nerfstudio's trainer, optimisers, checkpoints, loggers, viewer and
``ns-eval``. What CF-NeRF changes is who decides what each step optimises:

* :class:`CFNeRFDataManager` loads the training images through the chosen dataparser (default
  ``nerfstudio-data``) in file-name order — the order images are registered in — and hands out
  the rays of one image per step at the schedule's resolution. The dataparser's poses are never
  used for training; they are kept (OpenCV) to evaluate the learned ones.
* :class:`CFNeRFPipeline` walks the incremental schedule (:class:`~.schedule.Schedule`, the
  released one by default: 376,800 steps on a 53-image scene) step by step: each step belongs to
  a stage (initialization, localization of image k, local, global optimization) and a view. A
  training callback starts every stage as the release does — fresh Adam states for the four
  groups (NeRF, focal, rotations, translations), their learning rates back at the start and
  decaying per stage (NeRF x0.9954 every 200 steps, cameras x0.9 every 2000) — and freezes the
  groups the stage does not optimise (their gradients stay None, so nerfstudio's optimisers skip
  them). A new image's pose starts from its predecessor's before its localization.
* :class:`CFNeRFModel` is the chapter's field (:func:`~.train.new_field`) and learned cameras
  (:class:`~.render.CameraParams`, shared focal f = s^2 (W + H) / 2, axis-angle + centre),
  rendering through the chapter's renderer and compositing kernel.
* Evaluation uses test-time pose optimisation (as BARF and NeRFmm evaluate): each held-out
  camera of the dataparser is mapped into the learned frame by the Sim(3) that aligns the
  learned training cameras to the dataparser's, refined on its own image with the field frozen
  (``tto_steps``), then rendered; PSNR and SSIM against the image. The learned poses are scored
  against the dataparser's as in notebook 3 (rotation error after alignment, centre error,
  frame-to-frame error).
* :class:`CFNeRFTrainer` only sets the number of iterations to the schedule's length unless
  ``--max-num-iterations`` says otherwise.

Module-level names are imported by nerfstudio when it discovers methods; the chapter's own code
does not import this module (nerfstudio lives in the ``nerf`` environment only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Tuple, Type

import numpy as np
import torch
import torch.nn.functional as F
from nerfstudio.cameras.cameras import Cameras
from nerfstudio.configs.dataparser_configs import AnnotatedDataParserUnion
from nerfstudio.data.datamanagers.base_datamanager import DataManager, DataManagerConfig
from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
from nerfstudio.data.datasets.base_dataset import InputDataset
from nerfstudio.engine.callbacks import (TrainingCallback, TrainingCallbackAttributes,
                                         TrainingCallbackLocation)
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.trainer import Trainer, TrainerConfig
from nerfstudio.models.base_model import Model, ModelConfig
from nerfstudio.pipelines.base_pipeline import Pipeline, VanillaPipelineConfig
from nerfstudio.plugins.types import MethodSpecification
from torch.nn import Parameter

from .evaluate import psnr, refine_pose_with, ssim
from .geometry import apply_sim3, opengl_to_opencv, pose_errors, sim3_from_poses
from .render import CameraParams, camera_rays, render_image, render_rays
from .schedule import GROUPS, Schedule, Stage
from .train import Config, downscale, new_field

PARAM_GROUPS = ("nerf", "focal", "rotation", "translation")
STAGE_KINDS = tuple(GROUPS)  # logged as the "stage" metric: its index here


# --- data ---------------------------------------------------------------------------------------

@dataclass
class CFNeRFDataManagerConfig(DataManagerConfig):
    """The capture's images in file-name order; the dataparser's poses for evaluation only."""

    _target: Type = field(default_factory=lambda: CFNeRFDataManager)
    dataparser: AnnotatedDataParserUnion = field(default_factory=NerfstudioDataParserConfig)
    """How the capture is read (``nerfstudio-data`` by default)."""


def _c2w_opencv(cameras: Cameras) -> torch.Tensor:
    gl = torch.eye(4).repeat(len(cameras), 1, 1)
    gl[:, :3, :4] = cameras.camera_to_worlds.detach().cpu()
    return opengl_to_opencv(gl)


def _order(dataset: InputDataset) -> list[int]:
    names = [Path(p).name for p in dataset._dataparser_outputs.image_filenames]
    return sorted(range(len(names)), key=lambda i: names[i])


class CFNeRFDataManager(DataManager):
    """All training images in memory [N, H, W, 3], registered in file-name order."""

    config: CFNeRFDataManagerConfig

    def __init__(self, config: CFNeRFDataManagerConfig, device: str = "cpu",
                 test_mode: Literal["test", "val", "inference"] = "val", world_size: int = 1,
                 local_rank: int = 0, **kwargs: Any) -> None:
        self.config, self.device, self.test_mode = config, device, test_mode
        if config.data is not None:
            config.dataparser.data = Path(config.data)
        self.dataparser = config.dataparser.setup()
        self.includes_time = False
        train = self.dataparser.get_dataparser_outputs(split="train")
        self.train_dataparser_outputs = train
        self.train_dataset = InputDataset(train)
        split = "test" if test_mode in ("test", "inference") else "val"
        self.eval_dataset = InputDataset(self.dataparser.get_dataparser_outputs(split=split))
        super().__init__()
        order = _order(self.train_dataset)
        self.images = torch.stack([self.train_dataset.get_image_float32(i)[..., :3]
                                   for i in order])
        self.train_poses = _c2w_opencv(self.train_dataset.cameras)[order]
        self.H, self.W = self.images.shape[1:3]
        self._pyramid: dict[int, torch.Tensor] = {}
        self.rays_per_batch = 0  # set by the pipeline

    def level(self, ds: int) -> torch.Tensor:
        """The images area-averaged by ``ds`` (cropped to a multiple of it), [N, H/ds, W/ds, 3]."""
        if ds not in self._pyramid:
            H, W = self.H - self.H % ds, self.W - self.W % ds
            self._pyramid[ds] = downscale(self.images[:, :H, :W], ds)
        return self._pyramid[ds]

    def eval_images(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(image [H, W, 3], OpenCV c2w of the dataparser) of every held-out view."""
        ds = self.eval_dataset
        poses = _c2w_opencv(ds.cameras)
        return [(ds.get_image_float32(i)[..., :3], poses[i]) for i in range(len(ds))]

    # DataManager's interface: the pipeline asks for rays itself (see CFNeRFPipeline), so these
    # only serve nerfstudio's bookkeeping
    def setup_train(self) -> None:
        pass

    def setup_eval(self) -> None:
        pass

    def next_train(self, step: int) -> Tuple[Any, Dict]:
        raise NotImplementedError("CF-NeRF's pipeline draws its rays per schedule step")

    def next_eval(self, step: int) -> Tuple[Any, Dict]:
        raise NotImplementedError("CF-NeRF's pipeline evaluates with test-time pose optimisation")

    def next_eval_image(self, step: int) -> Tuple[Cameras, Dict]:
        raise NotImplementedError("CF-NeRF's pipeline evaluates with test-time pose optimisation")

    def get_train_rays_per_batch(self) -> int:
        return self.rays_per_batch

    def get_eval_rays_per_batch(self) -> int:
        return 0

    def get_datapath(self) -> Path:
        return Path(self.config.dataparser.data)

    def get_param_groups(self) -> Dict[str, List[Parameter]]:
        return {}


# --- model --------------------------------------------------------------------------------------

@dataclass
class CFNeRFModelConfig(ModelConfig):
    """The released settings: SIREN 8 x 128, 2048 rays of 128 samples on [0, 6], the schedule."""

    _target: Type = field(default_factory=lambda: CFNeRFModel)
    enable_collider: bool = False
    cfnerf: Config = field(default_factory=Config)
    """Field, rendering and optimiser settings (reprobook.cfnerf.train.Config)."""
    schedule: Schedule = field(default_factory=Schedule)
    """The incremental schedule (reprobook.cfnerf.schedule.Schedule)."""
    tto_steps: int = 200
    """Test-time pose optimisation steps per held-out view."""


class CFNeRFModel(Model):
    """The chapter's field and learned cameras inside nerfstudio."""

    config: CFNeRFModelConfig

    def populate_modules(self) -> None:
        super().populate_modules()
        meta = self.kwargs.get("metadata") or {}
        self.W, self.H = int(meta["width"]), int(meta["height"])
        cfg = self.config.cfnerf
        self.field = new_field(cfg)
        self.cams = CameraParams(self.num_train_data, self.W, self.H, cfg.initial_fov_deg,
                                 pose_param=cfg.pose_param)
        # the dataparser's poses of the training images (OpenCV): evaluation only
        self.register_buffer("ref_poses", torch.eye(4).repeat(self.num_train_data, 1, 1))

    def get_param_groups(self) -> Dict[str, List[Parameter]]:
        return {"nerf": list(self.field.parameters()), "focal": [self.cams.s],
                "rotation": [self.cams.phi], "translation": [self.cams.t]}

    def render_view(self, view: int, pixels: torch.Tensor, W: int, H: int,
                    generator: torch.Generator | None = None) -> Dict[str, torch.Tensor]:
        """Training render: rays of image ``view`` at W x H through its learned camera."""
        cfg = self.config.cfnerf
        o, d = camera_rays(self.cams.rotation(view), self.cams.centre(view),
                           self.cams.focal(W, H), W, H, pixels, jitter=True, generator=generator)
        return render_rays(self.field, o, d, cfg.near, cfg.far, cfg.n_samples, perturb=True,
                           noise_std=cfg.noise_std, generator=generator, impl=cfg.impl,
                           rgb_activation=cfg.rgb_activation)

    def get_outputs(self, ray_bundle: Any) -> Dict[str, torch.Tensor]:
        """Rays of a nerfstudio RayBundle, already in the learned frame."""
        cfg = self.config.cfnerf
        o, d = ray_bundle.origins.reshape(-1, 3), ray_bundle.directions.reshape(-1, 3)
        out = render_rays(self.field, o, d, cfg.near, cfg.far, cfg.n_samples, perturb=False,
                          impl=cfg.impl, rgb_activation=cfg.rgb_activation)
        shape = ray_bundle.origins.shape[:-1]
        return {"rgb": out["rgb"].reshape(*shape, 3), "depth": out["depth"].reshape(*shape, 1),
                "accumulation": out["acc"].reshape(*shape, 1)}

    def to_learned_frame(self, c2w: torch.Tensor) -> torch.Tensor:
        """OpenCV c2w poses of the dataparser's frame -> the learned cameras' frame (the inverse of
        the Sim(3) that aligns the learned training cameras to the dataparser's)."""
        est = self.cams.c2w().detach().double().cpu()
        s, R, t = sim3_from_poses(est, self.ref_poses.double().cpu())
        return apply_sim3(c2w.double().cpu().reshape(-1, 4, 4), 1 / s, R.T, -(R.T @ t) / s).float()

    @torch.no_grad()
    def get_outputs_for_camera(self, camera: Cameras, obb_box: Any = None) -> Dict[str, torch.Tensor]:
        """A whole image of a nerfstudio camera (dataparser frame, OpenGL), e.g. the viewer's."""
        cfg = self.config.cfnerf
        c2w = self.to_learned_frame(_c2w_opencv(camera[0:1]))[0].to(self.device)
        W, H = int(camera.width[0]), int(camera.height[0])
        out = render_image(self.field, c2w, float(camera.fx[0]), W, H, cfg.near, cfg.far,
                           cfg.n_samples, impl=cfg.impl, rgb_activation=cfg.rgb_activation)
        return {"rgb": out["rgb"].clamp(0, 1), "depth": out["depth"][..., None]}

    def get_metrics_dict(self, outputs: Dict, batch: Dict) -> Dict[str, torch.Tensor]:
        mse = F.mse_loss(outputs["rgb"].detach(), batch["rgb"])
        return {"psnr": -10 * torch.log10(mse.clamp_min(1e-10)),
                "focal_px": self.cams.focal().detach()}

    def get_loss_dict(self, outputs: Dict, batch: Dict, metrics_dict: Optional[Dict] = None
                      ) -> Dict[str, torch.Tensor]:
        return {"rgb_loss": F.smooth_l1_loss(outputs["rgb"], batch["rgb"])}

    def get_image_metrics_and_images(self, outputs: Dict, batch: Dict
                                     ) -> Tuple[Dict[str, float], Dict[str, torch.Tensor]]:
        img, ren = batch["image"][..., :3].to(outputs["rgb"]), outputs["rgb"]
        return ({"psnr": psnr(ren, img), "ssim": ssim(ren.cpu(), img.cpu())},
                {"img": torch.cat([img, ren], 1)})


# --- pipeline -----------------------------------------------------------------------------------

class StepPlan:
    """The schedule flattened to steps: ``at(step)`` -> (stage index, stage, view), with each
    shuffled stage's views permuted every pass (seeded), as :meth:`Trainer.run_stage` does."""

    def __init__(self, stages: list[Stage], seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.stages = stages
        self.index: list[tuple[int, int]] = []
        self.starts: list[int] = []
        for i, st in enumerate(stages):
            self.starts.append(len(self.index))
            for _ in range(st.passes):
                views = list(rng.permutation(st.views)) if st.shuffle else list(st.views)
                self.index += [(i, int(v)) for v in views]

    def __len__(self) -> int:
        return len(self.index)

    def at(self, step: int) -> tuple[int, Stage, int]:
        i, v = self.index[min(step, len(self.index) - 1)]
        return i, self.stages[i], v


@dataclass
class CFNeRFPipelineConfig(VanillaPipelineConfig):
    _target: Type = field(default_factory=lambda: CFNeRFPipeline)
    datamanager: DataManagerConfig = field(default_factory=CFNeRFDataManagerConfig)
    model: ModelConfig = field(default_factory=CFNeRFModelConfig)
    seed: int = 0
    """Seed of the rays, stratified samples, density noise and view order."""


class CFNeRFPipeline(Pipeline):
    """The incremental schedule driving nerfstudio's training loop, one view per step."""

    config: CFNeRFPipelineConfig

    def __init__(self, config: CFNeRFPipelineConfig, device: str,
                 test_mode: Literal["test", "val", "inference"] = "val", world_size: int = 1,
                 local_rank: int = 0, grad_scaler: Any = None) -> None:
        super().__init__()
        self.config, self.test_mode, self.world_size = config, test_mode, world_size
        torch.manual_seed(config.seed)
        self.datamanager: CFNeRFDataManager = config.datamanager.setup(
            device=device, test_mode=test_mode, world_size=world_size, local_rank=local_rank)
        dm = self.datamanager
        self._model = config.model.setup(scene_box=dm.train_dataset.scene_box,
                                         num_train_data=len(dm.images),
                                         metadata={"width": dm.W, "height": dm.H},
                                         device=device, grad_scaler=grad_scaler)
        self.model.to(device)
        with torch.no_grad():
            self.model.ref_poses.copy_(dm.train_poses)
        self.plan = StepPlan(config.model.schedule.stages(len(dm.images)), config.seed)
        dm.rays_per_batch = self.model.config.cfnerf.n_rays
        self.gen = torch.Generator(device=device).manual_seed(config.seed)
        self._stage = -1

    @property
    def total_steps(self) -> int:
        return len(self.plan)

    def enter(self, step: int) -> tuple[Stage, int]:
        """The stage and view of ``step``; on a new stage, freeze what it does not optimise and
        start a new image from its predecessor's pose (before its localization)."""
        i, stage, view = self.plan.at(step)
        if i != self._stage:
            self._stage = i
            m = self.model
            for p in m.field.parameters():
                p.requires_grad_("nerf" in stage.groups)
            m.cams.s.requires_grad_("focal" in stage.groups and not m.config.cfnerf.known_focal)
            m.cams.phi.requires_grad_("rotation" in stage.groups)
            m.cams.t.requires_grad_("translation" in stage.groups)
            if stage.kind == "localization" and stage.image > 0:
                with torch.no_grad():
                    m.cams.phi[stage.image] = m.cams.phi[stage.image - 1]
                    m.cams.t[stage.image] = m.cams.t[stage.image - 1]
        return stage, view

    def get_train_loss_dict(self, step: int):  # type: ignore[override]
        stage, view = self.enter(step)
        cfg = self.model.config.cfnerf
        img = self.datamanager.level(stage.downscale)[view].to(self.device)
        H, W = img.shape[:2]
        n = min(cfg.n_rays, W * H)
        pix = torch.randperm(W * H, generator=self.gen, device=self.device)[:n]
        outputs = self.model.render_view(view, pix, W, H, self.gen)
        batch = {"rgb": img.reshape(-1, 3)[pix]}
        metrics = self.model.get_metrics_dict(outputs, batch)
        metrics["stage"] = torch.tensor(float(STAGE_KINDS.index(stage.kind)))
        return outputs, self.model.get_loss_dict(outputs, batch, metrics), metrics

    def forward(self) -> None:
        raise NotImplementedError

    def get_eval_loss_dict(self, step: int):  # type: ignore[override]
        """The photometric loss of random rays of a training image at full resolution."""
        cfg = self.model.config.cfnerf
        view = int(torch.randint(len(self.datamanager.images), (1,), generator=self.gen))
        img = self.datamanager.images[view].to(self.device)
        H, W = img.shape[:2]
        pix = torch.randperm(W * H, generator=self.gen, device=self.device)[:cfg.n_rays]
        with torch.no_grad():
            outputs = self.model.render_view(view, pix, W, H, self.gen)
        batch = {"rgb": img.reshape(-1, 3)[pix]}
        metrics = self.model.get_metrics_dict(outputs, batch)
        return outputs, self.model.get_loss_dict(outputs, batch, metrics), metrics

    def evaluate_view(self, image: torch.Tensor, c2w: torch.Tensor) -> Dict[str, Any]:
        """Test-time pose optimisation of one held-out view, then its render and metrics."""
        m, cfg = self.model, self.model.config.cfnerf
        image = image.to(self.device)
        H, W = image.shape[:2]
        focal = m.cams.focal(W, H).detach()
        init = m.to_learned_frame(c2w)[0].to(self.device)
        pose = refine_pose_with(m.field, cfg, focal, image, init, m.config.tto_steps)
        with torch.no_grad():
            ren = render_image(m.field, pose, focal, W, H, cfg.near, cfg.far, cfg.n_samples,
                               impl=cfg.impl, rgb_activation=cfg.rgb_activation)["rgb"].clamp(0, 1)
        return {"psnr": psnr(ren, image), "ssim": ssim(ren.cpu(), image.cpu()), "render": ren}

    def pose_metrics(self) -> Dict[str, float]:
        """The learned training poses against the dataparser's (rotation error after aligning
        orientations, the paper's centre-aligned one, centre error, frame-to-frame error)."""
        est = self.model.cams.c2w().detach().double().cpu()
        return pose_errors(est, self.model.ref_poses.double().cpu())

    def get_eval_image_metrics_and_images(self, step: int):  # type: ignore[override]
        dm = self.datamanager
        views = dm.eval_images() or [(dm.images[0], dm.train_poses[0])]
        image, c2w = views[step % len(views)]
        out = self.evaluate_view(image, c2w)
        metrics = {"psnr": out["psnr"], "ssim": out["ssim"],
                   "num_rays": image.shape[0] * image.shape[1], **self.pose_metrics()}
        return metrics, {"img": torch.cat([image.to(out["render"]), out["render"]], 1)}

    def get_average_eval_image_metrics(self, step: Optional[int] = None,
                                       output_path: Optional[Path] = None,
                                       get_std: bool = False) -> Dict[str, float]:
        """PSNR / SSIM over every held-out view with test-time pose optimisation, and the pose
        errors of the training cameras."""
        res = [self.evaluate_view(img, c2w) for img, c2w in self.datamanager.eval_images()]
        out: Dict[str, float] = dict(self.pose_metrics())
        for key in ("psnr", "ssim"):
            vals = [float(r[key]) for r in res]
            if vals:
                out[key] = float(np.mean(vals))
                if get_std:
                    out[f"{key}_std"] = float(np.std(vals))
        out["num_eval_views"] = float(len(res))
        return out

    def get_training_callbacks(self, attrs: TrainingCallbackAttributes) -> List[TrainingCallback]:
        return [TrainingCallback([TrainingCallbackLocation.BEFORE_TRAIN_ITERATION],
                                 self._start_stage, args=[attrs.optimizers])]

    def _start_stage(self, optimizers: Any, step: int) -> None:
        """Per step: at a stage's first step fresh Adam states; every step the learning rates of
        the release's step decays, counted from the stage's start."""
        i, _, _ = self.plan.at(step)
        since = step - self.plan.starts[i]
        cfg = self.model.config.cfnerf
        for name, opt in optimizers.optimizers.items():
            if since == 0 or step == 0:
                opt.state.clear()
            lr0 = {"nerf": cfg.lr_nerf, "focal": cfg.lr_focal}.get(name, cfg.lr_param)
            size, gamma = ((cfg.step_nerf, cfg.gamma_nerf) if name == "nerf"
                           else (cfg.step_param, cfg.gamma_param))
            for g in opt.param_groups:
                g["lr"] = lr0 * gamma ** (since // size)

    def get_param_groups(self) -> Dict[str, List[Parameter]]:
        return self.model.get_param_groups()

    def load_pipeline(self, loaded_state: Dict[str, Any], step: int) -> None:
        """A checkpoint's field and learned cameras (``ns-eval``, ``ns-viewer``, resuming)."""
        state = {(k[len("module."):] if k.startswith("module.") else k): v
                 for k, v in loaded_state.items()}
        self.model.update_to_step(step)
        self.load_state_dict(state)



# --- trainer and the method ---------------------------------------------------------------------

@dataclass
class CFNeRFTrainerConfig(TrainerConfig):
    _target: Type = field(default_factory=lambda: CFNeRFTrainer)
    max_num_iterations: int = 0
    """0: as many steps as the schedule takes on the capture."""


class CFNeRFTrainer(Trainer):
    def setup(self, test_mode: Literal["test", "val", "inference"] = "val") -> None:
        super().setup(test_mode)
        if self.config.max_num_iterations <= 0:
            from nerfstudio.utils import writer

            self.config.max_num_iterations = self.pipeline.total_steps
            writer.GLOBAL_BUFFER["max_iter"] = self.config.max_num_iterations


def _optimizers(cfg: Config) -> Dict[str, Dict[str, Any]]:
    lr = {"nerf": cfg.lr_nerf, "focal": cfg.lr_focal, "rotation": cfg.lr_param,
          "translation": cfg.lr_param}
    return {g: {"optimizer": AdamOptimizerConfig(lr=lr[g], eps=1e-8), "scheduler": None}
            for g in PARAM_GROUPS}


cf_nerf = MethodSpecification(
    config=CFNeRFTrainerConfig(
        method_name="cf-nerf",
        steps_per_eval_batch=2000,
        steps_per_eval_image=10000,
        steps_per_eval_all_images=100000,
        steps_per_save=10000,
        mixed_precision=False,
        pipeline=CFNeRFPipelineConfig(),
        optimizers=_optimizers(Config()),
        vis="viewer",
    ),
    description="CF-NeRF (AAAI 2024): camera-parameter-free NeRF with incremental learning "
                "(reprobook's implementation of the released schedule)",
)
