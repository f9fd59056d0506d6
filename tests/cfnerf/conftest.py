"""A capture in nerfstudio's format, written from the chapter's analytic scene (for the tests of
the real-capture path: the dataparser, notebook 2 with ``capture``, ``ns-train cf-nerf``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch


def write_capture(folder: Path, n: int = 10, size: int = 16, arc_deg: float = 60.0) -> Path:
    """``n`` PNG views of the analytic scene on an orbit and their ``transforms.json`` (OpenGL
    camera-to-world, pinhole intrinsics), named so that file-name order is the orbit's order."""
    from PIL import Image

    from reprobook.cfnerf.geometry import opencv_to_opengl
    from reprobook.cfnerf.scenes import SceneSpec, render_views, trajectory

    spec = SceneSpec(kind="orbit", n_frames=n, n_test=0, width=size, height=size,
                     arc_deg=arc_deg, render_samples=48)
    poses = trajectory(spec, np.linspace(0, 1, n))
    with torch.no_grad():
        images = render_views(spec, poses, supersample=1)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    frames = []
    for i, (img, P) in enumerate(zip(images, poses)):
        name = f"images/frame_{i:05d}.png"
        Image.fromarray((img.numpy() * 255).round().astype(np.uint8)).save(folder / name)
        frames.append({"file_path": name, "transform_matrix": opencv_to_opengl(P).tolist()})
    f = spec.focal
    (folder / "transforms.json").write_text(json.dumps(
        {"fl_x": f, "fl_y": f, "cx": size / 2, "cy": size / 2, "w": size, "h": size,
         "camera_model": "OPENCV", "frames": frames[::-1]}))  # listed in reverse: order by name
    return folder


@pytest.fixture(scope="session")
def capture(tmp_path_factory) -> Path:
    return write_capture(tmp_path_factory.mktemp("capture"))
