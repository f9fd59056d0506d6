"""Synthetic scenes with exact camera poses (the chapter's stand-in for NeRFBuster, Sec. 4).

The scene is itself a radiance field, :class:`AnalyticScene`: a room (the inside of a sphere), a
floor, three spheres and a box, each with a solid texture (colour as a smooth function of the 3-D
point, so every view sees the same surface colours), and a density sigma(x) = sigma_max
sigmoid(-sdf(x) / eps) of the scene's signed distance. Images are rendered from it with the
chapter's own volume renderer (:func:`.render.render_image`, 2 x 2 supersampled), so the ground
truth and the learned field share one image formation model, and the field itself serves as the
"known field" of the localization test.

Two trajectories (world z up, cameras in the OpenCV convention):

* ``orbit`` — rotation-heavy: the camera circles the objects (``arc_deg`` of azimuth, looking at
  the centre), so consecutive frames differ by arc / (n - 1) degrees of rotation;
* ``forward`` — forward-facing (LLFF-like): the camera moves on a small spiral in a plane and keeps
  looking at the objects ``aim_dist`` ahead, so it turns by a few degrees (small rotations, the
  regime the joint methods were designed for; a camera that never rotates does not score 0).

Views are rendered at a ``fov_deg`` = 65-degree field of view by default (about a phone's main
camera, what NeRFBuster's captures were taken with), not at the 53.13 degrees that CF-NeRF's focal
starts from, so that learning the focal has something to learn.

Held-out test views lie half-way between training frames. Renders are cached under
``cache_root()/cfnerf`` by a hash of the parameters.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.paths import cache_root
from .geometry import look_at
from .render import render_image

KINDS = ("orbit", "forward", "capture")  # capture: real images (experiments.scene_from_capture)


@dataclass(frozen=True)
class SceneSpec:
    """What to render: trajectory ``kind``, ``n_frames`` training and ``n_test`` test views of
    ``width`` x ``height`` pixels with a ``fov_deg`` horizontal field of view."""

    kind: str = "orbit"
    n_frames: int = 24
    n_test: int = 4
    width: int = 32
    height: int = 32
    fov_deg: float = 65.0        # a phone's main camera; the learned focal starts from 53.13 degrees
    arc_deg: float = 120.0       # orbit: azimuth covered by the training frames
    radius: float = 2.4          # orbit: distance of the camera from the vertical axis
    height_m: float = 0.5        # orbit: camera height above the origin
    spread: float = 0.6          # forward: radius of the camera spiral
    aim_dist: float = 2.6        # forward: distance to the point all cameras look at
    render_samples: int = 384

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown trajectory kind {self.kind!r}; expected one of {KINDS}")
        if self.n_frames < 3:
            raise ValueError(f"need at least 3 frames (CF-NeRF initialises on three), got {self.n_frames}")
        if self.n_test < 0 or self.n_test > self.n_frames - 1:
            raise ValueError(f"n_test must lie in [0, n_frames - 1], got {self.n_test}")
        if self.width < 4 or self.height < 4:
            raise ValueError(f"images must be at least 4 x 4, got {self.width} x {self.height}")
        if not 1.0 < self.fov_deg < 179.0:
            raise ValueError(f"fov_deg must lie in (1, 179) degrees, got {self.fov_deg}")

    @property
    def focal(self) -> float:
        """Focal length in pixels (horizontal field of view ``fov_deg``)."""
        return self.width / 2 / math.tan(math.radians(self.fov_deg) / 2)

    def key(self) -> str:
        """The render cache's key: this spec and the source of the scene and of the renderer."""
        here = Path(__file__).parent
        code = b"".join((here / f).read_bytes() for f in ("scenes.py", "render.py"))
        blob = json.dumps({**asdict(self), "code": hashlib.sha256(code).hexdigest()},
                          sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _pattern(x: torch.Tensor, freqs: tuple[float, float, float], phase: float) -> torch.Tensor:
    """A smooth solid texture in [0, 1]."""
    a = torch.sin(freqs[0] * x[:, 0] + phase) * torch.sin(freqs[1] * x[:, 1] + 2 * phase)
    b = torch.sin(freqs[2] * x[:, 2] + 0.7 * freqs[0] * x[:, 1] + 3 * phase)
    return 0.5 + 0.25 * a + 0.25 * b


class AnalyticScene(nn.Module):
    """The scene as a field (x [P, 3], d [P, 3]) -> (sigma [P], rgb logits [P, 3])."""

    ROOM = 3.3
    FLOOR = -0.7
    SPHERES = ((0.0, 0.0, -0.15, 0.55), (0.95, 0.45, -0.35, 0.35), (-0.75, -0.55, -0.3, 0.4))
    BOX = ((-0.45, 0.85, -0.45), (0.3, 0.25, 0.25))
    COLOURS = ((0.85, 0.75, 0.55), (0.9, 0.3, 0.25), (0.25, 0.75, 0.35), (0.3, 0.4, 0.9),
               (0.95, 0.8, 0.2), (0.8, 0.4, 0.8))

    def __init__(self, sigma_max: float = 200.0, eps: float = 0.01):
        super().__init__()
        self.sigma_max, self.eps = sigma_max, eps

    def sdf_parts(self, x: torch.Tensor) -> torch.Tensor:
        """Signed distance to each part [P, 6]: room, floor, three spheres, box (negative inside)."""
        parts = [self.ROOM - x.norm(dim=-1), x[:, 2] - self.FLOOR]
        for cx, cy, cz, r in self.SPHERES:
            c = torch.tensor([cx, cy, cz], dtype=x.dtype, device=x.device)
            parts.append((x - c).norm(dim=-1) - r)
        c = torch.tensor(self.BOX[0], dtype=x.dtype, device=x.device)
        h = torch.tensor(self.BOX[1], dtype=x.dtype, device=x.device)
        q = (x - c).abs() - h
        parts.append(q.clamp_min(0).norm(dim=-1) + q.max(-1).values.clamp_max(0))
        return torch.stack(parts, -1)

    def colour(self, x: torch.Tensor, part: torch.Tensor) -> torch.Tensor:
        base = torch.tensor(self.COLOURS, dtype=x.dtype, device=x.device)[part]
        pat = torch.stack([_pattern(x, (4.0 + i, 5.0 - 0.5 * i, 3.0 + 0.7 * i), 0.9 * i) for i in range(6)], -1)
        p = pat.gather(-1, part[:, None]).squeeze(-1)
        # the floor gets a soft checkerboard on top of its texture
        checker = 0.5 + 0.5 * torch.tanh(3 * torch.sin(3.0 * x[:, 0]) * torch.sin(3.0 * x[:, 1]))
        p = torch.where(part == 1, 0.35 * p + 0.65 * checker, p)
        return (base * (0.25 + 0.75 * p[:, None])).clamp(0.02, 0.98)

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sdf = self.sdf_parts(x)
        dist, part = sdf.min(-1)
        sigma = self.sigma_max * torch.sigmoid(-dist / self.eps)
        rgb = self.colour(x, part)
        return sigma, torch.logit(rgb)


@dataclass
class Scene:
    """Rendered views: ``images`` [N, H, W, 3] with OpenCV c2w ``poses`` [N, 4, 4], and held-out
    ``test_images`` / ``test_poses``; ``focal`` in pixels."""

    spec: SceneSpec
    images: torch.Tensor
    poses: torch.Tensor
    test_images: torch.Tensor
    test_poses: torch.Tensor
    focal: float

    @property
    def W(self) -> int:
        return self.spec.width

    @property
    def H(self) -> int:
        return self.spec.height


def trajectory(spec: SceneSpec, params: np.ndarray) -> torch.Tensor:
    """OpenCV c2w poses [len(params), 4, 4] at trajectory parameters in [0, 1]."""
    up = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    target = torch.tensor([0.0, 0.0, -0.2], dtype=torch.float64)
    poses = []
    for s in params:
        if spec.kind == "orbit":
            th = math.radians(-90 - spec.arc_deg / 2 + spec.arc_deg * s)
            c = torch.tensor([spec.radius * math.cos(th), spec.radius * math.sin(th), spec.height_m],
                             dtype=torch.float64)
            poses.append(look_at(c, target, up))
        else:
            base = torch.tensor([0.0, -2.6, 0.3], dtype=torch.float64)
            ang = 2 * math.pi * s
            off = torch.tensor([spec.spread * s ** 0.5 * math.cos(ang), 0.0,
                                0.6 * spec.spread * s ** 0.5 * math.sin(ang)], dtype=torch.float64)
            c = base + off
            ahead = torch.tensor([0.0, 1.0, -0.1], dtype=torch.float64)
            aim = base + spec.aim_dist * ahead / ahead.norm()
            poses.append(look_at(c, aim, up))
    return torch.stack(poses).float()


def render_views(spec: SceneSpec, poses: torch.Tensor, supersample: int = 2) -> torch.Tensor:
    """Images [N, H, W, 3] of the analytic scene, ``supersample`` x ``supersample`` rays per pixel."""
    field = AnalyticScene()
    ss = supersample
    f = spec.focal * ss
    out = []
    for c2w in poses:
        img = render_image(field, c2w, f, spec.width * ss, spec.height * ss, near=0.05, far=6.5,
                           n_samples=spec.render_samples, impl="reference")["rgb"]
        img = img.reshape(spec.height, ss, spec.width, ss, 3).mean((1, 3))
        out.append(img)
    return torch.stack(out)


def make_scene(spec: SceneSpec, cache: bool = True) -> Scene:
    """Render (or load from the cache) the training and test views of ``spec``."""
    if spec.kind == "capture":
        raise ValueError("a real capture is loaded, not rendered: use experiments.scene_from_capture")
    path = cache_root() / "cfnerf" / f"scene-{spec.kind}-{spec.key()}.npz"
    if cache and path.exists():
        z = np.load(path)
        return Scene(spec, *(torch.from_numpy(z[k]) for k in ("images", "poses", "test_images", "test_poses")),
                     focal=spec.focal)
    n = spec.n_frames
    s_train = np.linspace(0.0, 1.0, n)
    # test views half-way between training frames, spread along the sequence
    gaps = np.linspace(0, n - 2, spec.n_test + 2)[1:-1].round().astype(int) if spec.n_test else np.zeros(0, int)
    s_test = (s_train[gaps] + s_train[gaps + 1]) / 2
    poses, test_poses = trajectory(spec, s_train), trajectory(spec, s_test)
    with torch.no_grad():
        images = render_views(spec, poses)
        test_images = render_views(spec, test_poses) if len(s_test) else torch.zeros(0, spec.height, spec.width, 3)
    scene = Scene(spec, images, poses, test_images, test_poses.reshape(-1, 4, 4), spec.focal)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(str(path) + ".tmp.npz")
        np.savez_compressed(tmp, images=images.numpy(), poses=poses.numpy(),
                            test_images=test_images.numpy(), test_poses=scene.test_poses.numpy())
        tmp.replace(path)
    return scene


def relative_to_first(poses: torch.Tensor) -> torch.Tensor:
    """Poses expressed in the first camera's frame (CF-NeRF's world: image 0 at the identity)."""
    inv0 = torch.linalg.inv(poses[0])
    return inv0 @ poses
