"""Camera geometry of the chapter (paper Sec. 3; evaluation as in Sec. 4).

Conventions: camera-to-world poses ``c2w`` = [R | t] with the camera centre t, in the OpenCV camera
frame (x right, y down, +z forward), as CF-NeRF uses; nerfstudio uses OpenGL (x right, y up, -z
forward): :func:`opencv_to_opengl` is the one place that converts. Rotations are parameterised by
axis-angle phi (R = exp([phi]_x), Rodrigues' formula). Pose evaluation aligns the estimated camera
centres to the reference with the Umeyama Sim(3) fit, then reports the mean rotation angle error
(degrees) and the mean centre distance; the frame-to-frame relative pose error needs no alignment
of rotations.
"""

from __future__ import annotations

import torch

_FLIP = torch.diag(torch.tensor([1.0, -1.0, -1.0]))


def hat(phi: torch.Tensor) -> torch.Tensor:
    """[..., 3] -> [..., 3, 3] skew-symmetric matrices, hat(a) b = a x b."""
    x, y, z = phi.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([torch.stack([o, -z, y], -1), torch.stack([z, o, -x], -1),
                        torch.stack([-y, x, o], -1)], -2)


def so3_exp(phi: torch.Tensor) -> torch.Tensor:
    """Rodrigues: R = I + sin(a)/a K + (1 - cos(a))/a^2 K^2 with K = hat(phi), a = |phi|
    (Taylor series below 1e-4 so the gradient at phi = 0 is exact)."""
    a2 = (phi * phi).sum(-1, keepdim=True)[..., None]
    a = a2.clamp_min(1e-24).sqrt()
    small = a2 < 1e-8
    s = torch.where(small, 1 - a2 / 6, torch.sin(a) / a)
    c = torch.where(small, 0.5 - a2 / 24, (1 - torch.cos(a)) / a2.clamp_min(1e-24))
    K = hat(phi)
    eye = torch.eye(3, dtype=phi.dtype, device=phi.device).expand_as(K)
    return eye + s * K + c * (K @ K)


def so3_left_jacobian(phi: torch.Tensor) -> torch.Tensor:
    """V(phi) = I + (1 - cos a)/a^2 K + (a - sin a)/a^3 K^2 (K = hat(phi), a = |phi|): the
    translation part of the SE(3) exponential, t = V(phi) u (Taylor series near 0)."""
    a2 = (phi * phi).sum(-1, keepdim=True)[..., None]
    a = a2.clamp_min(1e-24).sqrt()
    small = a2 < 1e-8
    b = torch.where(small, 0.5 - a2 / 24, (1 - torch.cos(a)) / a2.clamp_min(1e-24))
    c = torch.where(small, 1 / 6 - a2 / 120, (a - torch.sin(a)) / (a2 * a).clamp_min(1e-36))
    K = hat(phi)
    eye = torch.eye(3, dtype=phi.dtype, device=phi.device).expand_as(K)
    return eye + b * K + c * (K @ K)


def se3_exp(xi: torch.Tensor) -> torch.Tensor:
    """[..., 6] twists (u, phi) -> [..., 4, 4] rigid transforms [exp(hat(phi)) | V(phi) u]
    (the SE(3) exponential BARF parameterises camera poses with, BARF Sec. 4)."""
    u, phi = xi[..., :3], xi[..., 3:]
    top = torch.cat([so3_exp(phi), (so3_left_jacobian(phi) @ u[..., None])], -1)
    bottom = torch.zeros(*xi.shape[:-1], 1, 4, dtype=xi.dtype, device=xi.device)
    bottom[..., 0, 3] = 1
    return torch.cat([top, bottom], -2)


def so3_log(R: torch.Tensor) -> torch.Tensor:
    """The axis-angle phi with exp(hat(phi)) = R, angle in [0, pi]."""
    tr = R.diagonal(dim1=-2, dim2=-1).sum(-1)
    cos = ((tr - 1) / 2).clamp(-1.0, 1.0)
    angle = torch.acos(cos)
    v = torch.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    sin = torch.sin(angle)
    out = torch.where((sin.abs() > 1e-6)[..., None], v * (angle / (2 * sin.clamp_min(1e-12)))[..., None], v / 2)
    # near pi: the axis from the diagonal of (R + I) / 2 = a a^T
    near_pi = cos < -0.999999
    if near_pi.any():
        B = (R + torch.eye(3, dtype=R.dtype, device=R.device)) / 2
        diag = B.diagonal(dim1=-2, dim2=-1).clamp_min(0)
        k = diag.argmax(-1, keepdim=True)
        col = torch.gather(B, -1, k[..., None].expand(*B.shape[:-1], 1)).squeeze(-1)
        axis = col / col.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        out = torch.where(near_pi[..., None], axis * angle[..., None], out)
    return out


def rotation_angle_deg(R1: torch.Tensor, R2: torch.Tensor) -> torch.Tensor:
    """Angle of R1^T R2 in degrees."""
    rel = R1.transpose(-1, -2) @ R2
    cos = ((rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.acos(cos))


def opencv_to_opengl(c2w: torch.Tensor) -> torch.Tensor:
    """Flip the camera's y and z axes (the same map converts back)."""
    out = c2w.clone()
    out[..., :3, :3] = c2w[..., :3, :3] @ _FLIP.to(c2w)
    return out


opengl_to_opencv = opencv_to_opengl


def pixel_rays(c2w: torch.Tensor, focal: float | torch.Tensor, W: int, H: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Ray origins and unit directions [H, W, 3] through pixel centres (u + 1/2, v + 1/2), pinhole
    with the principal point at the image centre, OpenCV frame."""
    dt = c2w.dtype
    u = torch.arange(W, dtype=dt) + 0.5
    v = torch.arange(H, dtype=dt) + 0.5
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    d_cam = torch.stack([(uu - W / 2) / focal, (vv - H / 2) / focal, torch.ones_like(uu)], -1)
    d = d_cam @ c2w[:3, :3].T
    d = d / d.norm(dim=-1, keepdim=True)
    return c2w[:3, 3].expand_as(d), d


def umeyama(src: torch.Tensor, dst: torch.Tensor, with_scale: bool = True
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(s, R, t) minimising sum ||dst_i - (s R src_i + t)||^2 (Umeyama 1991), points [N, 3]."""
    if src.shape != dst.shape or src.shape[-1] != 3 or src.shape[0] < 3:
        raise ValueError(f"need matching [N >= 3, 3] point sets, got {tuple(src.shape)} and {tuple(dst.shape)}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / len(src)
    U, D, Vt = torch.linalg.svd(cov)
    S = torch.eye(3, dtype=src.dtype)
    if torch.det(U) * torch.det(Vt) < 0:
        S[2, 2] = -1
    R = U @ S @ Vt
    var = (xs * xs).sum() / len(src)
    s = (D * S.diagonal()).sum() / var if with_scale else torch.tensor(1.0, dtype=src.dtype)
    t = mu_d - s * R @ mu_s
    return s, R, t


def apply_sim3(poses: torch.Tensor, s: torch.Tensor | float, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """c2w poses [N, 4, 4] mapped by x -> s R x + t (orientations rotated by R)."""
    out = poses.clone()
    out[:, :3, :3] = R @ poses[:, :3, :3]
    out[:, :3, 3] = (s * (R @ poses[:, :3, 3].T)).T + t
    return out


def align(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``est`` c2w poses [N, 4, 4] mapped by the Sim(3) that best fits their centres to ``ref``'s."""
    return apply_sim3(est, *umeyama(est[:, :3, 3], ref[:, :3, 3]))


def rotation_alignment(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """The rotation A minimising sum_i ||A R_est,i - R_ref,i||_F^2 over the orientations of poses
    [N, 4, 4] (chordal mean: SVD of sum_i R_ref,i R_est,i^T)."""
    M = (ref[:, :3, :3] @ est[:, :3, :3].transpose(-1, -2)).sum(0)
    U, _, Vt = torch.linalg.svd(M)
    S = torch.eye(3, dtype=M.dtype)
    if torch.det(U @ Vt) < 0:
        S[2, 2] = -1
    return U @ S @ Vt


def sim3_from_poses(est: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(s, A, t) with A from the orientations (:func:`rotation_alignment`) and s, t the least-squares
    fit of the centres given A; well conditioned even when the centres lie nearly on a line."""
    A = rotation_alignment(est, ref)
    ce, cr = est[:, :3, 3], ref[:, :3, 3]
    xe, xr = ce - ce.mean(0), cr - cr.mean(0)
    Axe = xe @ A.T
    s = (Axe * xr).sum() / (Axe * Axe).sum().clamp_min(1e-12)
    t = cr.mean(0) - s * (A @ ce.mean(0))
    return s, A, t


def align_by_poses(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``est`` c2w poses mapped by :func:`sim3_from_poses` (orientations and centres)."""
    return apply_sim3(est, *sim3_from_poses(est, ref))


def pose_errors(est: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    """Mean rotation error (deg) and mean centre error (reference units) after the Umeyama Sim(3)
    fit of the centres (the paper's protocol); the rotation error after aligning the orientations
    themselves (``rot_deg_ra``; the centre fit leaves the rotation ill-determined when the centres
    are close to collinear, e.g. on a short arc); and the frame-to-frame relative rotation error
    (deg), which needs no alignment."""
    a = align(est, ref)
    rot = rotation_angle_deg(a[:, :3, :3], ref[:, :3, :3])
    trans = (a[:, :3, 3] - ref[:, :3, 3]).norm(dim=-1)
    A = rotation_alignment(est, ref)
    rot_ra = rotation_angle_deg(A @ est[:, :3, :3], ref[:, :3, :3])
    rel_e = est[:-1, :3, :3].transpose(-1, -2) @ est[1:, :3, :3]
    rel_r = ref[:-1, :3, :3].transpose(-1, -2) @ ref[1:, :3, :3]
    rpe = rotation_angle_deg(rel_e, rel_r) if len(est) > 1 else torch.zeros(1)
    return {"rot_deg": float(rot.mean()), "trans": float(trans.mean()), "rot_deg_ra": float(rot_ra.mean()),
            "rpe_rot_deg": float(rpe.mean())}


def look_at(centre: torch.Tensor, target: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """OpenCV c2w of a camera at ``centre`` looking at ``target`` (image y points along -up)."""
    z = target - centre
    z = z / z.norm()
    x = torch.linalg.cross(z, -up)
    if x.norm() < 1e-9:
        raise ValueError("look_at: the viewing direction is parallel to 'up'")
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    out = torch.eye(4, dtype=centre.dtype)
    out[:3, :3] = torch.stack([x, y, z], 1)
    out[:3, 3] = centre
    return out
