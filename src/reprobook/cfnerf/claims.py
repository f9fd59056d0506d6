"""The CF-NeRF chapter's claims and sanity checks (ARCHITECTURE §4).

Every pose claim is judged against what cameras without the paper's effect score *in the same
run*: cameras that never rotate (the true centres with identity orientations; on the
orientation-aligned error and on the frame-to-frame error this is also what cameras left at the
identity score). A ratio ``error / no-rotation error`` of 1 is that null; a method's claim needs
the ratio well below it. Method-vs-baseline claims pair the runs by seed and use a one-sided
paired t-test (:class:`~reprobook.core.claims.PairedTest`); with fewer than two seeds they are
"not testable" and say so. Identities (the schedule's step count, a kernel against its
reference, our rays against nerfstudio's) are sanity checks.

Notebooks call one function per group: :func:`record_checks` (notebook 1),
:func:`record_schedule` and :func:`record_registration` (notebook 2),
:func:`record_comparison` (notebook 3), :func:`record_ablations` (notebook 4).
"""

from __future__ import annotations

import statistics
from typing import Any

from ..core.claims import AtLeast, AtMost, Equals, NotTestable, Null, PairedTest
from .experiments import null_scores
from .scenes import Scene
from .schedule import Schedule

#: the released schedule's step count on a 53-image scene (the aloe checkpoint's name; brief)
RELEASED_STEPS_53 = 376_800
ROT = "rot_deg_ra"  # rotation error after aligning orientations (see notebook 3 for why)
NOT_TRANSCRIBED = "not transcribed (NeRFBuster, Table 1)"


def _mean_sd(xs: list[float]) -> str:
    if len(xs) < 2:
        return f"{xs[0]:.2f}"
    return f"{statistics.mean(xs):.2f} +- {statistics.stdev(xs):.2f}"


def _ratio_bound(threshold: float, partial: float) -> AtMost:
    return AtMost(threshold, partial=partial,
                  unit="mean over seeds of the error / the no-rotation error")


def _paired(diffs: list[float], margin: float = 0.0) -> tuple[Any, Any, Null]:
    """(criterion, measured, null) for a paired comparison over seeds."""
    if len(diffs) >= 2:
        return (PairedTest(alpha=0.05, margin=margin), diffs,
                Null([0.0] * len(diffs), "no paired difference"))
    return (NotTestable(reason="one seed at this profile; a paired test needs >= 2 (cpu-smoke "
                               "runs 3)"), diffs, Null([0.0], "no paired difference"))


def record_checks(run: Any, kernel_errors: dict[str, float], ns_checks: dict[str, float]) -> None:
    """Notebook 1: the kernel against its reference, our cameras against nerfstudio's."""
    run.sanity(id="kernel-matches-reference",
               check="the C++ compositing kernel equals the PyTorch reference (forward and every "
                     "input gradient, float32, the benchmark's rays)",
               measured=max(kernel_errors.values()), criterion=AtMost(1e-4),
               measured_text=", ".join(f"{k} {v:.1e}" for k, v in kernel_errors.items()))
    for name, value in ns_checks.items():
        run.sanity(id=f"nerfstudio-{name}", check=f"{name}: ours against nerfstudio 1.1.5",
                   measured=value, criterion=AtMost(1e-4), measured_text=f"max |diff| {value:.1e}")


def record_schedule(run: Any) -> None:
    """Notebook 2: the released schedule's step count (an identity of the schedule's code)."""
    steps = Schedule().total_steps(53)
    run.sanity(id="schedule-steps", check="the released schedule takes 376,800 steps on a "
               "53-image sequence (the released aloe checkpoint's step count)",
               source="train_iter_pose.py; brief", measured=steps,
               criterion=Equals(RELEASED_STEPS_53), measured_text=f"{steps:,} steps")


def record_registration(run: Any, recs: list[dict[str, Any]], scene: Scene) -> None:
    """Notebook 2: CF-NeRF's poses, localization and focal on the orbit, over seeds."""
    null = null_scores(scene.poses)
    errs = [float(r["row"][ROT]) for r in recs]
    ratio = statistics.mean(e / null[ROT] for e in errs)
    n = len(recs)
    run.claim(id="cfnerf-recovers-rotation",
              claim="CF-NeRF recovers the camera rotations of a rotation-heavy sequence",
              source="paper Sec. 4, Table 1 (rotation error after alignment)",
              paper_value=NOT_TRANSCRIBED, measured=round(ratio, 4),
              criterion=_ratio_bound(0.25, 0.5),
              null=Null(1.0, "cameras that never rotate (true centres, identity orientations)"),
              measured_text=(f"mean rotation error {_mean_sd(errs)} deg over {n} seed(s) against "
                             f"{null[ROT]:.2f} deg for cameras that never rotate: ratio "
                             f"{ratio:.3f}; frame-to-frame "
                             f"{_mean_sd([float(r['row']['rpe_rot_deg']) for r in recs])} deg vs "
                             f"{null['rpe_rot_deg']:.2f}"))
    frac = [statistics.mean(1 - g["rpe_after_deg"] / g["rpe_before_deg"]
                            for g in r["registration"] if g["rpe_before_deg"] > 0) for r in recs]
    run.claim(id="localization-registers",
              claim="implicit localization registers each new image against the current field",
              source="paper Sec. 3.3 (implicit localization)", paper_value="qualitative",
              measured=round(statistics.mean(frac), 4),
              criterion=AtLeast(0.75, partial=0.5,
                                unit="mean share of the new image's rotation error removed"),
              null=Null(0.0, "a localization that leaves the new pose where it started"),
              measured_text=(f"localization removes {_mean_sd([100 * f for f in frac])} % of "
                             f"each new image's frame-to-frame rotation error (it starts from "
                             f"the previous pose, {null['inter_frame_deg']:.2f} deg away)"))
    init_err = 100 * abs(_initial_focal(scene) - scene.focal) / scene.focal
    ferr = [float(r["row"]["focal_err_pct"]) for r in recs]
    fr = statistics.mean(f / init_err for f in ferr)
    run.claim(id="focal-recovered", claim="CF-NeRF learns the focal length from its initial guess",
              source="paper Sec. 3.1 (one shared focal, learned)", paper_value="qualitative",
              measured=round(fr, 4), criterion=_ratio_bound(0.25, 0.5),
              null=Null(1.0, "a focal that stays at its initial guess"),
              measured_text=(f"focal off by {_mean_sd(ferr)} % after training, {init_err:.1f} % "
                             f"at the initial guess (53.13 deg field of view against "
                             f"{scene.spec.fov_deg:.1f} deg rendered): ratio {fr:.3f}"))


def _initial_focal(scene: Scene) -> float:
    """f = (W + H) / 2: the release's initial guess (s = 1)."""
    return (scene.W + scene.H) / 2


def _by_seed(recs: dict[tuple[str, str, int], dict[str, Any]], method: str, kind: str,
             seeds: list[int], col: str) -> list[float]:
    return [float(recs[(method, kind, s)]["row"][col]) for s in seeds]


def record_comparison(run: Any, recs: dict[tuple[str, str, int], dict[str, Any]],
                      seeds: list[int], scenes: dict[str, Scene]) -> None:
    """Notebook 3: CF-NeRF against the joint methods run, ``recs[(method, sequence, seed)]``.

    The baseline of each comparison is, seed by seed, the better of the joint methods run on
    that sequence (at cpu-smoke BARF only)."""
    joint = sorted({m for m, k, _ in recs if m != "CF-NeRF" and k == "orbit"})
    null = {k: null_scores(sc.poses) for k, sc in scenes.items()}
    if ("CF-NeRF", "forward", seeds[0]) in recs:
        r = [v / null["forward"][ROT] for v in _by_seed(recs, "CF-NeRF", "forward", seeds, ROT)]
        run.claim(id="cfnerf-forward", claim="CF-NeRF also recovers the poses of a "
                  "forward-facing sequence", source="paper Sec. 4 (LLFF-style scenes)",
                  paper_value="qualitative", measured=round(statistics.mean(r), 4),
                  criterion=_ratio_bound(0.25, 0.5),
                  null=Null(1.0, "cameras that never rotate (= identity orientations)"),
                  measured_text=f"CF-NeRF: {ROT} / no-rotation error = {_mean_sd(r)} "
                                f"(no rotation: {null['forward'][ROT]:.2f} deg)")
    if not joint:
        return
    cf = _by_seed(recs, "CF-NeRF", "orbit", seeds, ROT)
    best = [min(v) for v in zip(*(_by_seed(recs, m, "orbit", seeds, ROT) for m in joint))]
    crit, meas, nul = _paired([b - c for b, c in zip(best, cf)])
    run.claim(id="cfnerf-beats-joint",
              claim="CF-NeRF's rotation error on a rotation-heavy sequence is lower than the "
                    "joint methods'", source="paper Sec. 4, Table 1",
              paper_value=NOT_TRANSCRIBED, measured=meas, criterion=crit, null=nul,
              measured_text=(f"{ROT}: CF-NeRF {_mean_sd(cf)} deg, better of {'/'.join(joint)} "
                             f"{_mean_sd(best)} deg, no rotation {null['orbit'][ROT]:.2f} deg; "
                             f"{crit.format(meas)}"))
    ps_cf = _by_seed(recs, "CF-NeRF", "orbit", seeds, "psnr")
    ps_b = [max(v) for v in zip(*(_by_seed(recs, m, "orbit", seeds, "psnr") for m in joint))]
    crit, meas, nul = _paired([c - b for c, b in zip(ps_cf, ps_b)])
    run.claim(id="cfnerf-novel-views",
              claim="CF-NeRF renders novel views of a rotation-heavy sequence better than the "
                    "joint methods (test-time pose optimisation for all)",
              source="paper Sec. 4 (novel-view renders)", paper_value="not transcribed",
              measured=meas, criterion=crit, null=nul,
              measured_text=(f"PSNR CF-NeRF {_mean_sd(ps_cf)} dB, better of {'/'.join(joint)} "
                             f"{_mean_sd(ps_b)} dB; {crit.format(meas)}"))
    fw = sorted({m for m, k, _ in recs if m != "CF-NeRF" and k == "forward"})
    if not fw or "forward" not in scenes:
        for cid, text in (("joint-work-forward", "joint methods recover the poses of a "
                           "forward-facing sequence"),
                          ("joint-fail-rotation", "joint methods fail on rotation-heavy "
                           "sequences while they work on forward-facing ones")):
            run.claim(id=cid, claim=text, source="paper Sec. 1 and 4", paper_value="qualitative",
                      measured=None, criterion=NotTestable(
                          reason="no joint method ran on the forward-facing sequence at this "
                                 "profile (forward_methods)"),
                      null=Null(None, "not judged"), measured_text="not run at this profile")
        return
    ratio_fw = [min(v) / null["forward"][ROT] for v in
                zip(*(_by_seed(recs, m, "forward", seeds, ROT) for m in fw))]
    ratio_orb = [min(v) / null["orbit"][ROT] for v in
                 zip(*(_by_seed(recs, m, "orbit", seeds, ROT) for m in fw))]
    run.claim(id="joint-work-forward", claim="joint methods recover the poses of a "
              "forward-facing sequence", source="paper Sec. 1 (NeRFmm and BARF handle "
              "forward-facing scenes)", paper_value="qualitative",
              measured=round(statistics.mean(ratio_fw), 4), criterion=_ratio_bound(0.25, 0.5),
              null=Null(1.0, "cameras that never rotate (= identity orientations)"),
              measured_text=(f"better of {'/'.join(fw)}: {ROT} / no-rotation error = "
                             f"{_mean_sd(ratio_fw)} on the forward-facing sequence (no rotation: "
                             f"{null['forward'][ROT]:.2f} deg)"))
    # the orbit must cost the joint method at least a quarter of the no-rotation error more than
    # the forward-facing sequence: a method failing (or working) alike on both shows no contrast
    crit, meas, nul = _paired([o - f for o, f in zip(ratio_orb, ratio_fw)], margin=0.25)
    run.claim(id="joint-fail-rotation",
              claim="joint methods fail on rotation-heavy sequences while they work on "
                    "forward-facing ones", source="paper Sec. 1 and 4 (Fig. 1, Table 1)",
              paper_value="qualitative", measured=meas, criterion=crit,
              null=Null(nul.value, "a joint method that does as well (or as badly) on both "
                                   "sequences: no paired difference"),
              measured_text=(f"better of {'/'.join(fw)}: error / no-rotation error "
                             f"{_mean_sd(ratio_orb)} on the orbit vs {_mean_sd(ratio_fw)} "
                             f"forward-facing; {crit.format(meas)}"))


def record_ablations(run: Any, recs: dict[tuple[str, int], dict[str, Any]], seeds: list[int],
                     scene: Scene) -> None:
    """Notebook 4: the schedule's cost (needs a GPU) and the known-focal ablation, over seeds
    (``recs[(arm, seed)]``; the arm runs at cpu-full)."""
    run.claim(id="schedule-cost", claim="the incremental schedule takes about an hour per "
              "NeRFBuster scene on one GPU (376,800 steps)", source="brief (GPU time unmeasured)",
              paper_value="not transcribed", measured=RELEASED_STEPS_53,
              criterion=NotTestable(reason="a GPU time needs a GPU: the gpu-1x profile runs the "
                                           "released schedule; this machine's projection is in "
                                           "the table above (timings.json)"),
              null=Null(RELEASED_STEPS_53, "not judged"),
              measured_text=f"{RELEASED_STEPS_53:,} steps; timed here on the CPU only")
    arms = {a for a, _ in recs}
    claim = dict(id="known-focal", claim="learning the focal costs CF-NeRF little pose accuracy "
                 "against knowing it", source="paper Sec. 3.1 (focal learned jointly)",
                 paper_value="not in the paper")
    if "known focal" not in arms:
        run.claim(**claim, measured=None,
                  criterion=NotTestable(reason="the known-focal arm runs at cpu-full (time)"),
                  null=Null(None, "not judged"), measured_text="not run at this profile")
        return
    nr = null_scores(scene.poses)[ROT]
    learned = [float(recs[("released (learned focal)", s)]["row"][ROT]) for s in seeds]
    known = [float(recs[("known focal", s)]["row"][ROT]) for s in seeds]
    cost = statistics.mean((a - b) / nr for a, b in zip(learned, known))
    known_ratio = statistics.mean(b / nr for b in known)
    text = (f"{ROT}: learned focal {_mean_sd(learned)} deg, known {_mean_sd(known)} deg, no "
            f"rotation {nr:.2f} deg, {len(seeds)} seed(s): cost {cost:.3f} of the no-rotation "
            f"error")
    if known_ratio > 0.5:  # the known focal recovers little itself: there is nothing to lose
        run.claim(**claim, measured=round(cost, 4),
                  criterion=NotTestable(reason="with the focal known CF-NeRF keeps more than half "
                                               "the no-rotation error here: no accuracy to lose"),
                  null=Null(None, "not judged"), measured_text=text)
        return
    run.claim(**claim, measured=round(cost, 4),
              criterion=AtMost(0.1, partial=0.25, unit="mean paired (learned - known focal) "
                               "rotation error / no-rotation error"),
              null=Null(round(1 - known_ratio, 4), "a learned focal that leaves the rotations "
                                                   "unlearned while the known focal recovers them"),
              measured_text=text)
