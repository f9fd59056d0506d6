"""CF-NeRF's incremental schedule in one place (paper Sec. 3.3, as released in ``train_iter_pose.py``).

A *stage* optimises some parameter groups for ``passes`` passes over its views; one pass renders
each view once (one optimisation step per view, ``N_rays`` rays of it), so a stage costs
passes x len(views) steps. The sequence:

1. **initialization** on images 0, 1, 2 for ``init_passes`` passes (NeRF, focal, centres; the
   rotations stay at the identity);
2. for each new image k = 1 .. N-1 (the released code starts again at 1, so images 1 and 2 are
   re-registered): its pose starts from image k-1's, then
   * **localization** — only the newest ``next_views`` image(s)' poses, NeRF and focal frozen;
   * **local optimization** — NeRF and the poses of the last ``part_views`` registered images;
   * **global optimization** — NeRF, focal and all registered poses, when the number registered
     is a multiple of ``global_every`` and after the last image;
   each with ``first_passes`` passes while at most ``n_init`` images are registered, else ``passes``;
3. a global optimization over all images at each of ``final_downscales`` (coarse to fine).

The incremental phase runs at ``incremental_downscale``. ``localization_passes`` (not in the
release, where localization takes ``passes`` like the other stages; 0 keeps that) lets an
ablation vary the localization alone, for the images after the first three. With the released settings (600 passes,
3000 at the start, 1/4 resolution, final passes at 1/4, 1/2 and 1/1) 53 images take 376,800 steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STAGES = ("initialization", "localization", "local_optimization", "global_optimization")

# parameter groups each stage optimises (released code: op_nerf / op_intr / op_extr_r / op_extr_t)
GROUPS: dict[str, tuple[str, ...]] = {
    "initialization": ("nerf", "focal", "translation"),
    "localization": ("rotation", "translation"),
    "local_optimization": ("nerf", "rotation", "translation"),
    "global_optimization": ("nerf", "focal", "rotation", "translation"),
}


@dataclass(frozen=True)
class Stage:
    """One stage: its ``kind`` (one of :data:`STAGES`), the image indices it renders, the number
    of ``passes`` over them, the image ``downscale``, whether the views are shuffled every pass,
    and ``image`` = the image being registered (-1 outside the incremental phase)."""

    kind: str
    views: tuple[int, ...]
    passes: int
    downscale: int
    shuffle: bool
    image: int = -1

    @property
    def steps(self) -> int:
        return self.passes * len(self.views)

    @property
    def groups(self) -> tuple[str, ...]:
        return GROUPS[self.kind]


@dataclass(frozen=True)
class Schedule:
    """The knobs of the incremental schedule (defaults: the released NeRFBuster run)."""

    init_passes: int = 3000
    first_passes: int = 3000
    passes: int = 600
    n_init: int = 3
    next_views: int = 1
    part_views: int = 3
    global_every: int = 10
    incremental_downscale: int = 4
    final_downscales: tuple[int, ...] = field(default=(4, 2, 1))
    localization_passes: int = 0  # 0: as released (= passes); an ablation knob

    def __post_init__(self) -> None:
        for name in ("init_passes", "first_passes", "passes", "n_init", "next_views", "part_views", "global_every",
                     "incremental_downscale"):
            if getattr(self, name) < 1:
                raise ValueError(f"Schedule.{name} must be >= 1, got {getattr(self, name)}")
        if self.localization_passes < 0:
            raise ValueError(f"Schedule.localization_passes must be >= 0 (0: as released), got "
                             f"{self.localization_passes}")
        if any(d < 1 for d in self.final_downscales):
            raise ValueError(f"Schedule.final_downscales must be >= 1, got {self.final_downscales}")

    def stages(self, n_images: int) -> list[Stage]:
        """Every stage for a sequence of ``n_images`` (in order)."""
        if n_images < self.n_init:
            raise ValueError(f"the schedule initialises on {self.n_init} images; got a sequence of {n_images}")
        ds = self.incremental_downscale
        out = [Stage("initialization", tuple(range(self.n_init)), self.init_passes, ds, True)]
        registered = [0]
        for k in range(1, n_images):
            passes = self.first_passes if len(registered) <= self.n_init else self.passes
            registered.append(k)
            loc = passes if not self.localization_passes or len(registered) <= self.n_init + 1 \
                else self.localization_passes
            out.append(Stage("localization", tuple(registered[-self.next_views:]), loc, ds, False, k))
            out.append(Stage("local_optimization", tuple(registered[-self.part_views:]), passes, ds, True, k))
            if len(registered) % self.global_every == 0 or k == n_images - 1:
                out.append(Stage("global_optimization", tuple(registered), passes, ds, True, k))
        out += [Stage("global_optimization", tuple(range(n_images)), self.passes, d, True) for d in self.final_downscales]
        return out

    def total_steps(self, n_images: int) -> int:
        return sum(s.steps for s in self.stages(n_images))
