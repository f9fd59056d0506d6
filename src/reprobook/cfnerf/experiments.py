"""The chapter's experiments: notebook parameters -> scenes and runs -> records and rows.

Notebooks call these so that no logic lives in them. Configs come from the notebook's parameters
through ``core.params.config_from`` (:class:`~.train.Config`, :class:`~.schedule.Schedule`,
:class:`~.scenes.SceneSpec` by field name). A finished run (:func:`run`) is cached with the
book's result cache, ``core.cache.memory("cfnerf")`` (joblib), keyed by the method, the scene's
spec and pixels, the configs, the seed, the device and a digest of the chapter's and the kernels'
source (joblib itself only hashes the decorated function's own code), so notebook 3 reuses
notebook 2's CF-NeRF runs and a code change retrains. :func:`run_many` trains the runs that are
not cached in parallel, one process per core, each on one thread: every run then gives the same
numbers whatever the number of cores, and two cores train two runs at once.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..core.cache import memory
from ..core.params import config_from
from ..core.seeds import default_threads
from . import evaluate
from .geometry import pose_errors, rotation_angle_deg
from .scenes import Scene, SceneSpec, make_scene
from .schedule import Schedule, Stage
from .train import METHODS, Config, History, Trainer, run_method

SRC = Path(__file__).resolve().parent
KERNELS = SRC.parent / "kernels"


def scene_from(params: dict[str, Any], kind: str) -> Scene:
    """The synthetic sequence of trajectory ``kind`` at the notebook's sizes: ``image_size``
    square images, ``n_frames`` frames on the orbit and ``forward_frames`` on the forward-facing
    sequence; every other :class:`SceneSpec` field by name (``fov_deg``, ``arc_deg``, ...)."""
    n = params["n_frames"] if kind == "orbit" else params["forward_frames"]
    size = int(params["image_size"])
    return make_scene(config_from(SceneSpec, params, kind=kind, n_frames=int(n), width=size,
                                  height=size))


def describe(sc: Scene) -> dict[str, Any]:
    """One row about a sequence: size, focal, rotation between frames and from frame 0, path."""
    P = sc.poses
    rel = rotation_angle_deg(P[:-1, :3, :3], P[1:, :3, :3])
    to_first = rotation_angle_deg(P[:1, :3, :3].expand_as(P[:, :3, :3]), P[:, :3, :3])
    path = (P[1:, :3, 3] - P[:-1, :3, 3]).norm(dim=-1).sum()
    return {"sequence": sc.spec.kind, "frames": len(P), "test views": len(sc.test_poses),
            "size": f"{sc.W} x {sc.H}", "field of view (deg)": sc.spec.fov_deg,
            "focal (px)": sc.focal, "inter-frame rotation (deg)": float(rel.mean()),
            "largest rotation from frame 0 (deg)": float(to_first.max()),
            "camera path length": float(path),
            "no-rotation error (deg)": null_scores(P)["rot_deg_ra"]}


def scene_from_capture(path: str, downscale: int, n_test: int, multiple: int = 1) -> Scene:
    """A real capture (e.g. a NeRFBuster scene in nerfstudio's format) through nerfstudio's
    dataparser, its images reduced ``downscale`` times: images ordered by file name, the
    reference poses (COLMAP) for evaluation only, ``n_test`` views held out evenly spaced
    (never the first or the last). Images are cropped (centred) to a multiple of ``multiple`` pixels, so that the
    schedule's pyramid can halve them."""
    from . import ns

    if int(downscale) < 1:
        raise ValueError(f"capture_downscale must be an integer >= 1, got {downscale!r}")
    cap = ns.load_capture(path, downscale=int(downscale))
    order = sorted(range(len(cap["names"])), key=lambda i: cap["names"][i])
    images, poses = cap["images"][order], cap["poses"][order]
    H0, W0 = images.shape[1:3]
    H, W = H0 - H0 % multiple, W0 - W0 % multiple
    if H < 4 or W < 4:
        raise ValueError(f"{path}: images of {W0} x {H0} after downscale {downscale} are too "
                         f"small; use a smaller capture_downscale")
    top, left = (H0 - H) // 2, (W0 - W) // 2
    images = images[:, top:top + H, left:left + W]
    n = len(order)
    if n - n_test < 3:
        raise ValueError(f"{path}: {n} images leave fewer than 3 for training with n_test={n_test}")
    test = sorted({int(round(x)) for x in np.linspace(0, n - 1, n_test + 2)[1:-1]})
    keep = [i for i in range(n) if i not in test]
    fov = math.degrees(2 * math.atan(W / 2 / cap["focal"]))
    spec = SceneSpec(kind="capture", n_frames=len(keep), n_test=len(test), width=W, height=H,
                     fov_deg=fov)
    return Scene(spec, images[keep], poses[keep], images[test], poses[test], cap["focal"])


@lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 of the chapter's and the kernels' sources: part of every cached run's key."""
    h = hashlib.sha256()
    for p in sorted([*SRC.glob("*.py"), *KERNELS.glob("*.py"), *(KERNELS / "csrc").glob("*")]):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def scene_digest(scene: Scene) -> str:
    h = hashlib.sha256(repr(scene.spec).encode())
    for x in (scene.images, scene.poses, scene.test_images, scene.test_poses):
        h.update(np.ascontiguousarray(x.detach().cpu().numpy()).tobytes())
    return h.hexdigest()[:16]


def _train_and_evaluate(method: str, scene: Scene, scene_key: str, cfg: Config,
                        schedule: Schedule, seed: int, device: str, tto_steps: int,
                        code: str) -> dict[str, Any]:
    """Train and evaluate one run (cached by joblib on every argument but ``scene``, which
    ``scene_key`` stands for)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread per run: the same numbers on any number of cores
    try:
        tr, hist = run_method(method, scene, cfg, schedule, seed=seed, device=device)
        rec = record(tr, hist, method, tto_steps)
    finally:
        torch.set_num_threads(threads)
    rec["seed"] = seed
    return rec


def _cached():  # -> joblib.MemorizedFunc
    return memory("cfnerf").cache(_train_and_evaluate, ignore=["scene"])


def run(method: str, scene: Scene, cfg: Config, schedule: Schedule, seed: int,
        device: str = "cpu", tto_steps: int = 50) -> dict[str, Any]:
    """Train ``method`` (one of :data:`~.train.METHODS`) on ``scene`` and evaluate it, or load
    the cached record: ``row`` (summary), ``poses``, ``focal``, ``registration``, ``losses``,
    ``snapshots``, ``renders``, ``psnr_each``, ``steps``, ``seconds``, ``seed``."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    return _cached()(method, scene, scene_digest(scene), cfg, schedule, int(seed), device,
                     int(tto_steps), code_digest())


def run_many(jobs: list[tuple[str, Scene, Config, Schedule, int]], device: str = "cpu",
             tto_steps: int = 50, workers: int | None = None) -> list[dict[str, Any]]:
    """:func:`run` for each ``(method, scene, cfg, schedule, seed)``: cached ones are loaded,
    the others trained ``workers`` at a time in separate processes (default: one per core; on a
    GPU one at a time)."""
    for job in jobs:
        if job[0] not in METHODS:
            raise ValueError(f"unknown method {job[0]!r}; expected one of {METHODS}")
    f = _cached()
    args = [(m, sc, scene_digest(sc), cfg, sch, int(s), device, int(tto_steps), code_digest())
            for m, sc, cfg, sch, s in jobs]
    todo = [a for a in args if not f.check_call_in_cache(*a)]
    workers = 1 if device != "cpu" else (workers or default_threads())
    if len(todo) > 1 and workers > 1:
        from joblib import Parallel, delayed

        Parallel(n_jobs=min(workers, len(todo)), backend="loky")(delayed(f)(*a) for a in todo)
    return [f(*a) for a in args]


def record(tr: Trainer, hist: History, method: str, tto_steps: int) -> dict[str, Any]:
    nv = evaluate.novel_views(tr, tto_steps)
    row = evaluate.summary_row(tr, method, nv)
    return {"row": row, "poses": tr.poses(), "focal": float(tr.cams.focal().detach()),
            "registration": hist.registration, "losses": hist.losses, "snapshots": hist.snapshots,
            "seconds": hist.seconds, "steps": hist.steps, "renders": nv["renders"],
            "psnr_each": nv.get("psnr_each", [])}


def rows(records: list[dict[str, Any]], **extra: Any) -> pd.DataFrame:
    return pd.DataFrame([{**r["row"], "seed": r.get("seed", 0), "steps": r["steps"],
                          "seconds": r["seconds"], **extra} for r in records])


def null_scores(ref: torch.Tensor) -> dict[str, float]:
    """What cameras without learned rotations score on the reference poses ``ref`` of a run:
    the true centres with identity orientations (``no rotation``). On the orientation-aligned
    error and the frame-to-frame error, cameras at the identity score the same (their
    orientations are the same); with the centres also at the origin the paper's centre-based
    fit is undefined."""
    still = ref.double().clone()
    still[:, :3, :3] = torch.eye(3, dtype=still.dtype)
    err = pose_errors(still, ref.double())
    inter = float(rotation_angle_deg(ref[:-1, :3, :3], ref[1:, :3, :3]).mean())
    return {"rot_deg_ra": err["rot_deg_ra"], "rot_deg": err["rot_deg"],
            "rpe_rot_deg": err["rpe_rot_deg"], "inter_frame_deg": inter}


def alignment_conditioning(arcs: tuple[float, ...], n: int, draws: int = 20,
                           centre_noise: float = 0.03, rot_noise: float = 0.02,
                           seed: int = 0) -> pd.DataFrame:
    """The pose-error protocols on ground-truth orbits perturbed by small noise: how much rotation
    error each reports where the true error is only the noise."""
    from .geometry import so3_exp
    from .scenes import trajectory

    g = torch.Generator().manual_seed(seed)
    out = []
    for arc in arcs:
        spec = SceneSpec(kind="orbit", n_frames=max(n, 3), n_test=0, arc_deg=float(arc))
        P = trajectory(spec, np.linspace(0, 1, max(n, 3))).double()
        e: dict[str, list[float]] = {"rot_deg": [], "rot_deg_ra": [], "true": []}
        for _ in range(draws):
            E = P.clone()
            E[:, :3, 3] += centre_noise * torch.randn(len(P), 3, generator=g, dtype=torch.float64)
            noise = rot_noise * torch.randn(len(P), 3, generator=g, dtype=torch.float64)
            E[:, :3, :3] = so3_exp(noise) @ E[:, :3, :3]
            r = pose_errors(E, P)
            e["rot_deg"].append(r["rot_deg"])
            e["rot_deg_ra"].append(r["rot_deg_ra"])
            e["true"].append(float(rotation_angle_deg(E[:, :3, :3], P[:, :3, :3]).mean()))
        out.append({"arc (deg)": arc, "frames": len(P), "noise only (deg)": float(np.mean(e["true"])),
                    "rot_deg: centres (paper), mean": float(np.mean(e["rot_deg"])),
                    "rot_deg: centres (paper), worst": float(np.max(e["rot_deg"])),
                    "rot_deg_ra: orientations, mean": float(np.mean(e["rot_deg_ra"]))})
    return pd.DataFrame(out)


ABLATIONS = ("known focal", "localization", "global")


def ablation_arms(cfg: Config, sch: Schedule, n_images: int, which: list[str],
                  loc_passes_alt: int, global_every_alt: int) -> dict[str, tuple[Config, Schedule]]:
    """Notebook 4's arms: the released method, then each of ``which`` (names from
    :data:`ABLATIONS`) changing one choice."""
    bad = sorted(set(which) - set(ABLATIONS))
    if bad:
        raise ValueError(f"unknown ablation(s) {bad}; expected some of {ABLATIONS}")
    glob = (f"global every {global_every_alt}" if global_every_alt < n_images
            else "global only at the end")
    arms = {"released (learned focal)": (cfg, sch)}
    if "known focal" in which:
        arms["known focal"] = (replace(cfg, known_focal=True), sch)
    if "localization" in which:
        arms[f"localization {loc_passes_alt} passes"] = (
            cfg, replace(sch, localization_passes=int(loc_passes_alt)))
    if "global" in which:
        arms[glob] = (cfg, replace(sch, global_every=int(global_every_alt)))
    return arms


def _synthetic_trainer(cfg: Config, size: int, n_images: int = 3, device: str = "cpu") -> Trainer:
    g = torch.Generator().manual_seed(0)
    spec = SceneSpec(kind="orbit", n_frames=n_images, n_test=0, width=size, height=size)
    imgs = torch.rand(n_images, size, size, 3, generator=g)
    scene = Scene(spec, imgs, torch.eye(4).repeat(n_images, 1, 1), torch.zeros(0, size, size, 3),
                  torch.zeros(0, 4, 4), spec.focal)
    return Trainer(scene, cfg, device=device)


def _time_steps(tr: Trainer, steps: int, device: str) -> float:
    stage = Stage("global_optimization", tuple(range(tr.scene.images.shape[0])), 1, 1, False)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        tr.run_stage(stage)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / (steps * len(stage.views))


def time_paper_step(repeats: int = 3, device: str = "cpu", small: bool = False) -> float:
    """Median seconds of one optimisation step at the released settings (SIREN 8 x 128, 2048 rays,
    128 samples, all four parameter groups), on random 64 x 64 images (``small``: a tiny stand-in
    for plumbing runs)."""
    cfg = Config() if not small else Config(depth=2, width=16, n_rays=64, n_samples=16)
    tr = _synthetic_trainer(cfg, 64, device=device)
    _time_steps(tr, 1, device)  # warm-up (kernel load, allocations)
    times = sorted(_time_steps(tr, 1, device) for _ in range(max(1, repeats)))
    return times[len(times) // 2]


def step_speedup(cfg: Config, size: int, repeats: int = 5, steps: int = 3,
                 device: str = "cpu") -> pd.DataFrame:
    """A whole training step (field forward and backward, compositing, four Adam updates) with
    the compositing kernel against the same step with the PyTorch reference, timed round-robin:
    per repeat the seconds of each and the speed-up, on this process's threads."""
    trs = {impl: _synthetic_trainer(replace(cfg, impl=impl), size, device=device)
           for impl in ("reference", "auto")}
    for tr in trs.values():
        _time_steps(tr, 1, device)
    rows_ = []
    for rep in range(repeats):
        t = {impl: _time_steps(tr, steps, device) for impl, tr in trs.items()}
        rows_.append({"repeat": rep, "reference s/step": t["reference"], "kernel s/step": t["auto"],
                      "speed-up": t["reference"] / t["auto"], "threads": torch.get_num_threads()})
    return pd.DataFrame(rows_)
