"""Learned cameras, rays and volume rendering (paper Sec. 3.1 and 3.2; NeRF Eq. 3).

:class:`CameraParams` holds what CF-NeRF learns besides the field: one shared focal length
f = s^2 (W + H) / 2 (initialised at s = 1, i.e. a 53.13-degree field of view) and, per image, an
axis-angle rotation phi and a camera centre t (camera-to-world, OpenCV frame), all initialised at
the identity. ``pose_param="se3"`` parameterises each pose by a twist instead (the centre is
V(phi) u, BARF's se(3) exponential map). Rays go through pixel (u, v) with direction
R [(u - W/2) / f, (v - H/2) / f, 1] (unnormalised, so the sample parameter is depth along the
optical axis, as in the released code); training jitters the pixel position uniformly inside the
pixel. :func:`render_rays` samples ``n_samples`` stratified depths on [near, far], adds
N(0, noise_std^2) to the raw density, and composites with :func:`reprobook.kernels.composite`
over a black background; the ReLU of the density and the scaling of the depth intervals by |d|
(which depends on the learned focal) happen inside the kernel, with their gradients.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import kernels
from .geometry import so3_exp, so3_left_jacobian, so3_log

POSE_PARAMS = ("so3xr3", "se3")
RGB_ACTIVATIONS = ("sigmoid", "none")


class CameraParams(nn.Module):
    """Shared focal (``s``; f = s^2 (W+H)/2) and per-image ``phi`` [N, 3], ``t`` [N, 3].

    ``known_focal`` fixes f (pixels at the full resolution ``W`` x ``H``) instead of learning it.
    ``pose_param``: ``"so3xr3"`` (CF-NeRF, NeRFmm: ``t`` is the camera centre) or ``"se3"``
    (BARF: ``t`` is the twist's u and the centre is V(phi) u).
    """

    def __init__(self, n_images: int, W: int, H: int, initial_fov_deg: float = 53.13,
                 known_focal: float | None = None, pose_param: str = "so3xr3"):
        super().__init__()
        if n_images < 1:
            raise ValueError(f"need at least one image, got {n_images}")
        if pose_param not in POSE_PARAMS:
            raise ValueError(f"unknown pose parameterisation {pose_param!r}; expected one of "
                             f"{POSE_PARAMS}")
        self.pose_param = pose_param
        self.W, self.H = int(W), int(H)
        self.phi = nn.Parameter(torch.zeros(n_images, 3))
        self.t = nn.Parameter(torch.zeros(n_images, 3))
        sf = 0.5 / math.tan(math.radians(initial_fov_deg) / 2)
        self.s = nn.Parameter(torch.tensor([math.sqrt(sf)]))
        self.known_focal = known_focal

    def focal(self, W: int | None = None, H: int | None = None) -> torch.Tensor:
        """Focal length in pixels of an image of W x H (default: the full resolution)."""
        W = self.W if W is None else W
        H = self.H if H is None else H
        if self.known_focal is not None:
            return torch.tensor(self.known_focal * W / self.W, dtype=self.s.dtype, device=self.s.device)
        return self.s[0] ** 2 * (W + H) / 2

    def rotation(self, idx: torch.Tensor | int | slice | None = None) -> torch.Tensor:
        phi = self.phi if idx is None else self.phi[idx]
        return so3_exp(phi)

    def centre(self, idx: torch.Tensor | int | slice | None = None) -> torch.Tensor:
        """Camera centres [..., 3] (differentiable)."""
        t = self.t if idx is None else self.t[idx]
        if self.pose_param == "se3":
            phi = self.phi if idx is None else self.phi[idx]
            return (so3_left_jacobian(phi) @ t[..., None])[..., 0]
        return t

    def c2w(self, idx: torch.Tensor | int | slice | None = None) -> torch.Tensor:
        """Camera-to-world [..., 4, 4] (OpenCV frame), differentiable in phi and t."""
        R = self.rotation(idx)
        t = self.centre(idx)
        top = torch.cat([R, t[..., None]], -1)
        bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=R.dtype, device=R.device).expand(*R.shape[:-2], 1, 4)
        return torch.cat([top, bottom], -2)

    def set_pose(self, i: int, c2w: torch.Tensor) -> None:
        """Write an OpenCV c2w into image i's (phi, t)."""
        with torch.no_grad():
            phi = so3_log(c2w[:3, :3].to(self.phi))
            self.phi[i] = phi
            centre = c2w[:3, 3].to(self.t)
            if self.pose_param == "se3":
                centre = torch.linalg.solve(so3_left_jacobian(phi), centre)
            self.t[i] = centre


def camera_rays(R: torch.Tensor, t: torch.Tensor, focal: torch.Tensor | float, W: int, H: int,
                pixels: torch.Tensor | None = None, jitter: bool = False,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins and (unnormalised, z = 1 in the camera) directions [P, 3] of a camera (R, t) for
    the flat pixel indices ``pixels`` (default: all, row-major), through the pixel centres or, with
    ``jitter``, through a uniform point of each pixel."""
    if pixels is None:
        pixels = torch.arange(W * H, device=R.device)
    v = torch.div(pixels, W, rounding_mode="floor").to(R.dtype)
    u = (pixels % W).to(R.dtype)
    if jitter:
        off = torch.rand(2, len(pixels), generator=generator, dtype=R.dtype, device=R.device)
    else:
        off = torch.full((2, len(pixels)), 0.5, dtype=R.dtype, device=R.device)
    x = (u + off[0] - W / 2) / focal
    y = (v + off[1] - H / 2) / focal
    d_cam = torch.stack([x, y, torch.ones_like(x)], -1)
    d = d_cam @ R.transpose(-1, -2)
    return t.expand_as(d), d


def render_rays(field: nn.Module, rays_o: torch.Tensor, rays_d: torch.Tensor, near: float, far: float,
                n_samples: int, perturb: bool = True, noise_std: float = 0.0,
                generator: torch.Generator | None = None, impl: str = "auto",
                chunk: int = 1 << 16, rgb_activation: str = "sigmoid") -> dict[str, torch.Tensor]:
    """Colour [P, 3], depth [P], opacity [P] of rays: ``n_samples`` evenly spaced depths on
    [near, far], each drawn uniformly inside its bin when ``perturb`` (stratified sampling), density
    noise, ReLU, compositing over black. The last interval is 1e2 long (the released code's
    nerf-w choice); intervals are scaled by |d| so densities are per unit of world length.
    ``rgb_activation``: "sigmoid" (NeRF, the paper) or "none" (the released code composites the
    field's raw colour)."""
    if rgb_activation not in RGB_ACTIVATIONS:
        raise ValueError(f"unknown colour activation {rgb_activation!r}; expected one of "
                         f"{RGB_ACTIVATIONS}")
    P = rays_o.shape[0]
    dev, dt = rays_o.device, rays_o.dtype
    z = torch.linspace(near, far, n_samples, device=dev, dtype=dt).expand(P, n_samples)
    if perturb:
        mids = 0.5 * (z[:, 1:] + z[:, :-1])
        upper = torch.cat([mids, z[:, -1:]], -1)
        lower = torch.cat([z[:, :1], mids], -1)
        z = lower + (upper - lower) * torch.rand(P, n_samples, generator=generator, device=dev, dtype=dt)
    deltas = torch.cat([z[:, 1:] - z[:, :-1], torch.full((P, 1), 1e2, device=dev, dtype=dt)], -1)
    norm = rays_d.norm(dim=-1)
    pts = rays_o[:, None, :] + z[..., None] * rays_d[:, None, :]
    dirs = (rays_d / norm[:, None])[:, None, :].expand_as(pts)
    flat_p, flat_d = pts.reshape(-1, 3), dirs.reshape(-1, 3)
    outs = [field(flat_p[i:i + chunk], flat_d[i:i + chunk]) for i in range(0, flat_p.shape[0], chunk)]
    raw_sigma = torch.cat([o[0] for o in outs]).reshape(P, n_samples)
    rgb = torch.cat([o[1] for o in outs]).reshape(P, n_samples, 3)
    if rgb_activation == "sigmoid":
        rgb = torch.sigmoid(rgb)
    if noise_std > 0:
        raw_sigma = raw_sigma + noise_std * torch.randn(raw_sigma.shape, generator=generator, device=dev, dtype=dt)
    color, depth, acc, _ = kernels.composite(raw_sigma, rgb, deltas, z, impl=impl, scale=norm,
                                             activation="relu", need_weights=False)
    return {"rgb": color, "depth": depth, "acc": acc}


@torch.no_grad()
def render_image(field: nn.Module, c2w: torch.Tensor, focal: float | torch.Tensor, W: int, H: int,
                 near: float, far: float, n_samples: int, impl: str = "auto",
                 chunk_rays: int = 4096, rgb_activation: str = "sigmoid") -> dict[str, torch.Tensor]:
    """A whole image [H, W, 3] (and depth [H, W]) through the pixel centres, no noise."""
    R, t = c2w[:3, :3], c2w[:3, 3]
    o, d = camera_rays(R, t, focal, W, H)
    parts = [render_rays(field, o[i:i + chunk_rays], d[i:i + chunk_rays], near, far, n_samples,
                         perturb=False, noise_std=0.0, impl=impl, rgb_activation=rgb_activation)
             for i in range(0, o.shape[0], chunk_rays)]
    return {"rgb": torch.cat([p["rgb"] for p in parts]).reshape(H, W, 3),
            "depth": torch.cat([p["depth"] for p in parts]).reshape(H, W)}
