"""The chapter's experiments: notebook parameters -> scene, config, schedule -> runs -> rows.

Notebooks call these so that no logic lives in them. A finished run is saved as a small ``.pt``
file in the chapter's run folder (poses, focal, registration history, summary row, field weights)
so a later notebook reuses it instead of training again (notebook 3 reuses notebook 2's CF-NeRF
run; notebook 4 reuses it as the "learned focal" arm).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from . import evaluate
from .scenes import Scene, SceneSpec, make_scene
from .schedule import Schedule
from .train import Config, History, Trainer, run_barf, run_cfnerf, run_nerfmm

METHODS = ("CF-NeRF", "NeRFmm", "BARF")

# the notebooks' shared parameters (cpu-smoke values in their parameters cells; profiles override)
PARAMS = ("image_size", "n_frames", "forward_frames", "n_test", "arc_deg", "render_samples", "field", "depth",
          "width", "n_samples", "n_rays", "near", "far", "lr_nerf", "lr_param", "init_passes", "first_passes",
          "passes", "localization_passes", "global_every", "incremental_downscale", "final_downscales", "tto_steps")


def params(namespace: dict[str, Any]) -> dict[str, Any]:
    """The shared parameters out of a notebook's namespace (naming any that is missing)."""
    missing = [k for k in PARAMS if k not in namespace]
    if missing:
        raise KeyError(f"the notebook's parameters cell lacks {missing}")
    return {k: namespace[k] for k in PARAMS}


def scene_from(p: dict[str, Any], kind: str) -> Scene:
    """The synthetic sequence of trajectory ``kind`` at the notebook's sizes (the forward-facing
    one has ``forward_frames`` frames)."""
    n = int(p["n_frames"] if kind == "orbit" else p["forward_frames"])
    return make_scene(SceneSpec(kind=kind, n_frames=n, n_test=int(p["n_test"]),
                                width=int(p["image_size"]), height=int(p["image_size"]),
                                arc_deg=float(p["arc_deg"]), render_samples=int(p["render_samples"])))


def scene_from_capture(path: str, downscale: int, n_test: int) -> Scene:
    """A real capture (e.g. a NeRFBuster scene in nerfstudio's format) through nerfstudio's
    dataparser: images ordered by file name, the reference poses (COLMAP) for evaluation only,
    ``n_test`` views held out evenly (every k-th image)."""
    from . import ns

    cap = ns.load_capture(path, downscale=downscale)
    order = sorted(range(len(cap["names"])), key=lambda i: cap["names"][i])
    images, poses = cap["images"][order], cap["poses"][order]
    test = set(range(len(order))[::max(2, len(order) // max(n_test, 1))][1:n_test + 1]) if n_test else set()
    keep = [i for i in range(len(order)) if i not in test]
    H, W = images.shape[1:3]
    import math

    fov = math.degrees(2 * math.atan(W / 2 / cap["focal"]))
    spec = SceneSpec(kind="capture", n_frames=len(keep), n_test=len(test), width=W, height=H, fov_deg=fov)
    tl = sorted(test)
    return Scene(spec, images[keep], poses[keep], images[tl], poses[tl], cap["focal"])


def config_from(p: dict[str, Any], **over: Any) -> Config:
    cfg = Config(field=p["field"], depth=int(p["depth"]), width=int(p["width"]), n_samples=int(p["n_samples"]),
                 n_rays=int(p["n_rays"]), near=float(p["near"]), far=float(p["far"]), lr_nerf=float(p["lr_nerf"]),
                 lr_param=float(p["lr_param"]), known_focal=bool(p.get("known_focal", False)))
    return replace(cfg, **over)


def schedule_from(p: dict[str, Any], **over: Any) -> Schedule:
    s = Schedule(init_passes=int(p["init_passes"]), first_passes=int(p["first_passes"]), passes=int(p["passes"]),
                 global_every=int(p["global_every"]), incremental_downscale=int(p["incremental_downscale"]),
                 final_downscales=tuple(int(x) for x in p["final_downscales"]),
                 localization_passes=int(p["localization_passes"]) or None)
    return replace(s, **over)


def _key(method: str, scene: Scene, cfg: Config, schedule: Schedule, seed: int, steps: int) -> str:
    blob = json.dumps({"m": method, "scene": asdict(scene.spec), "cfg": asdict(cfg), "sch": asdict(schedule),
                       "seed": seed, "steps": steps}, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def run(method: str, scene: Scene, cfg: Config, schedule: Schedule, seed: int, folder: Path,
        device: str = "cpu", tto_steps: int = 50, reuse: bool = True) -> dict[str, Any]:
    """Train ``method`` (one of :data:`METHODS`) on ``scene`` and evaluate it; the baselines get
    as many optimisation steps as CF-NeRF's schedule takes on this sequence. Returns the saved
    record: ``row`` (summary), ``poses``, ``focal``, ``registration``, ``losses``, ``seconds``."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    n = scene.images.shape[0]
    steps = schedule.total_steps(n)
    path = Path(folder) / "trained" / f"{method.lower()}-{scene.spec.kind}-{_key(method, scene, cfg, schedule, seed, steps)}.pt"
    if reuse and path.exists():
        return torch.load(path, weights_only=False)
    if method == "CF-NeRF":
        tr, hist = run_cfnerf(scene, cfg, schedule, seed=seed, device=device)
    elif method == "NeRFmm":
        tr, hist = run_nerfmm(scene, cfg, steps, seed=seed, device=device)
    else:
        tr, hist = run_barf(scene, cfg, steps, seed=seed, device=device)
    rec = record(tr, hist, method, tto_steps)
    rec["seed"] = seed
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(rec, path)
    return rec


def record(tr: Trainer, hist: History, method: str, tto_steps: int) -> dict[str, Any]:
    nv = evaluate.novel_views(tr, tto_steps)
    row = evaluate.summary_row(tr, method, nv)
    return {"row": row, "poses": tr.poses(), "focal": float(tr.cams.focal().detach()),
            "registration": hist.registration, "losses": hist.losses, "snapshots": hist.snapshots,
            "seconds": hist.seconds, "steps": hist.steps, "renders": nv["renders"], "psnr_each": nv.get("psnr_each", []),
            "field": {k: v.detach().cpu() for k, v in tr.field.state_dict().items()}, "cfg": asdict(tr.cfg)}


def rows(records: list[dict[str, Any]], **extra: Any) -> pd.DataFrame:
    out = []
    for r in records:
        out.append({**r["row"], "seed": r.get("seed", 0), "steps": r["steps"], "seconds": r["seconds"], **extra})
    return pd.DataFrame(out)


def rebuild(rec: dict[str, Any], scene: Scene) -> Trainer:
    """A trainer with a saved run's field and cameras (for renders in a later notebook)."""
    cfg = Config(**rec["cfg"])
    tr = Trainer(scene, cfg)
    tr.field.load_state_dict(rec["field"])
    from .geometry import so3_log

    with torch.no_grad():
        tr.cams.phi.copy_(so3_log(rec["poses"][:, :3, :3].double()).float())
        tr.cams.t.copy_(rec["poses"][:, :3, 3])
        if not cfg.known_focal:
            tr.cams.s.fill_((rec["focal"] / ((scene.W + scene.H) / 2)) ** 0.5)
    return tr


def paired_criterion(method: list[float], baseline: list[float], lower_is_better: bool
                     ) -> tuple[Any, Any]:
    """(criterion, measured) for "the method beats the baseline": the per-seed differences judged
    by ``PairedBetter`` when there are >= 2 seeds; with one seed the comparison is not testable
    (the difference is still reported)."""
    from ..core.claims import NotTestable, PairedBetter

    diffs = [(b - m) if lower_is_better else (m - b) for m, b in zip(method, baseline)]
    if len(diffs) >= 2:
        return PairedBetter(min_wins=len(diffs), margin=0.0), diffs
    return NotTestable(reason="one seed at this profile: a claim of beating a baseline needs >= 2 seeds "
                              "(cpu-full runs 3)"), diffs[0]


def alignment_conditioning(arcs: tuple[float, ...], n: int, draws: int = 20, centre_noise: float = 0.03,
                           rot_noise: float = 0.02, seed: int = 0) -> pd.DataFrame:
    """The pose-error protocols on ground-truth orbits perturbed by small noise: how much rotation
    error each reports where the true error is only the noise."""
    import numpy as np

    from .geometry import pose_errors, rotation_angle_deg, so3_exp
    from .scenes import trajectory

    g = torch.Generator().manual_seed(seed)
    out = []
    for arc in arcs:
        P = trajectory(SceneSpec(kind="orbit", n_frames=max(n, 3), n_test=0, arc_deg=float(arc)), np.linspace(0, 1, max(n, 3))).double()
        e = {"rot_deg": [], "rot_deg_ra": [], "true": []}
        for _ in range(draws):
            E = P.clone()
            E[:, :3, 3] += centre_noise * torch.randn(len(P), 3, generator=g, dtype=torch.float64)
            E[:, :3, :3] = so3_exp(rot_noise * torch.randn(len(P), 3, generator=g, dtype=torch.float64)) @ E[:, :3, :3]
            r = pose_errors(E, P)
            e["rot_deg"].append(r["rot_deg"])
            e["rot_deg_ra"].append(r["rot_deg_ra"])
            e["true"].append(float(rotation_angle_deg(E[:, :3, :3], P[:, :3, :3]).mean()))
        out.append({"arc (deg)": arc, "frames": len(P), "noise only (deg)": float(np.mean(e["true"])),
                    "rot_deg: centres (paper), mean": float(np.mean(e["rot_deg"])),
                    "rot_deg: centres (paper), worst": float(np.max(e["rot_deg"])),
                    "rot_deg_ra: orientations, mean": float(np.mean(e["rot_deg_ra"]))})
    return pd.DataFrame(out)


def time_paper_step(repeats: int = 3, device: str = "cpu", small: bool = False) -> float:
    """Median seconds of one optimisation step at the released settings (SIREN 8 x 128, 2048 rays,
    128 samples, all four parameter groups), on random 64 x 64 images (``small``: a tiny stand-in
    for plumbing runs)."""
    import time

    from .schedule import Stage

    size = 64
    g = torch.Generator().manual_seed(0)
    spec = SceneSpec(kind="orbit", n_frames=3, n_test=0, width=size, height=size)
    imgs = torch.rand(3, size, size, 3, generator=g)
    scene = Scene(spec, imgs, torch.eye(4).repeat(3, 1, 1), torch.zeros(0, size, size, 3), torch.zeros(0, 4, 4),
                  spec.focal)
    cfg = Config() if not small else Config(depth=2, width=16, n_rays=64, n_samples=16)
    tr = Trainer(scene, cfg, device=device)
    stage = Stage("global_optimization", (0,), 1, 1, False)
    tr.run_stage(stage)  # warm-up (kernel load, allocations)
    times = []
    for _ in range(max(1, repeats)):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        tr.run_stage(stage)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]
