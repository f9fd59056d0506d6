"""The EnsembleFollower chapter's claims (ARCHITECTURE §4), each with its null.

The paper's statements come from its abstracts: EnsembleFollower is more human-like than the
individual car-following models, combines hybrid models effectively across conditions, and its
jerk-constrained kinematics make the simulation more realistic; the brief adds "no collisions on
the test events" and FollowNet's finding that data-driven models collide. Reference numbers are
FollowNet's on HighD (a different data set; context, never a target). Method-vs-baseline claims
are paired over RL seeds (``PairedTest``); the single models are deterministic given the training
set, so each seed's difference is against the same baseline value.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy.stats import wasserstein_distance

from reprobook.core.claims import AtLeast, AtMost, NotTestable, Null, PairedTest, paired_stats

from .constants import ABSTRACT_ONLY, FOLLOWNET_HIGHD_COLLISION_PER_MILLE as FN_COLL
from .constants import FOLLOWNET_HIGHD_SPACING_MSE as FN_MSE

SOURCE = "abstract (arXiv:2308.16008; TVT 2025)"
COMBINE_MARGIN = 0.5  # "close to the oracle": closes more than half of the gap to it
MODE_NULL = {"weight": "uniform weights", "select": "random selection"}


def _fn(keys: Sequence[str]) -> str:
    return ", ".join(f"{k} {FN_MSE[k]}" for k in keys)


def record_accuracy(run: Any, ens: dict[str, list[float]], single: dict[str, float],
                    nulls: dict[str, float], oracle: float, tag: str = "") -> None:
    """Claims 1 and 2 per action mode. ``ens[mode]``: test spacing RMSE per seed; ``single``:
    the calibrated members' RMSE; ``nulls``: uniform weights / random selection; ``oracle``:
    the per-event best single model."""
    best_name = min(single, key=single.get)  # type: ignore[arg-type]
    best = single[best_name]
    for mode, rmse in ens.items():
        d = [best - r for r in rmse]
        run.claim(
            id=f"more-human-like-{mode}{tag}",
            claim=f"EnsembleFollower ({mode}) has a lower spacing RMSE on held-out events than "
                  f"each calibrated single model (best here: {best_name}, {best:.3f} m)",
            source=SOURCE,
            paper_value=f"lower than every single model (values: {ABSTRACT_ONLY}); FollowNet "
                        f"HighD spacing MSE m^2 for scale: {_fn(['IDM', 'NN', 'LSTM'])}",
            measured=d, criterion=PairedTest(),
            null=Null([0.0] * len(d), f"an agent that always picks {best_name}: difference 0"))
        ref = nulls[MODE_NULL[mode]]
        share = [(ref - r) / (ref - oracle) if ref > oracle else 0.0 for r in rmse]
        crit: Any = PairedTest(margin=COMBINE_MARGIN)
        if ref <= oracle:
            crit = NotTestable(f"{MODE_NULL[mode]} is already as accurate as the per-event "
                               f"oracle on these events: no gap to close")
        run.claim(
            id=f"combines-effectively-{mode}{tag}",
            claim=f"EnsembleFollower ({mode}) combines its models effectively: it closes more "
                  f"than half of the gap between {MODE_NULL[mode]} ({ref:.3f} m) and the "
                  f"per-event oracle ({oracle:.3f} m)",
            source=SOURCE,
            paper_value=f"effective combination of hybrid models in diverse conditions "
                        f"({ABSTRACT_ONLY})",
            measured=share, criterion=crit, measured_text=_share_text(share, ref, oracle),
            null=Null([0.0] * len(share), f"a combiner that learned nothing ({MODE_NULL[mode]})"
                                          f": share 0"))


def _share_text(share: list[float], ref: float, oracle: float) -> str:
    if ref <= oracle:
        return f"no gap: {ref:.3f} m <= oracle {oracle:.3f} m"
    st = paired_stats(share, COMBINE_MARGIN)
    return (f"share of the gap closed {st['mean']:+.3f} (95% CI [{st['ci_low']:+.3f}, "
            f"{st['ci_high']:+.3f}], p = {st['p']:.3g} for > {COMBINE_MARGIN}; > "
            f"{COMBINE_MARGIN} on {st['wins']}/{st['n']} seeds)")


def record_oracle_sanity(run: Any, single: dict[str, float], oracle: float) -> None:
    run.sanity(id="oracle-le-single", check="the per-event oracle is at least as accurate as "
               "every single model (it picks one of them per event)",
               measured=oracle - min(single.values()), criterion=AtMost(1e-9),
               measured_text=f"oracle {oracle:.3f} m vs best single {min(single.values()):.3f} m")


def jerk_gain(human: np.ndarray, bounded: np.ndarray, free: np.ndarray) -> float:
    """How much nearer the human |jerk| distribution the bound brings a policy (1-Wasserstein)."""
    return float(wasserstein_distance(free, human) - wasserstein_distance(bounded, human))


def record_jerk(run: Any, gains: dict[str, list[float]], human_mean: float,
                bounded_mean: dict[str, float], free_mean: dict[str, float]) -> None:
    """Claim 3 per mode: the jerk bound moves the |jerk| distribution towards the human one."""
    for mode, g in gains.items():
        run.claim(
            id=f"jerk-realistic-{mode}",
            claim=f"the jerk-constrained kinematics make EnsembleFollower's ({mode}) |jerk| "
                  f"distribution closer to the human one (1-Wasserstein, bound vs no bound; "
                  f"mean |jerk| human {human_mean:.2f}, bounded {bounded_mean[mode]:.2f}, "
                  f"unbounded {free_mean[mode]:.2f} m/s^3)",
            source=SOURCE, paper_value=f"more realistic simulation ({ABSTRACT_ONLY})",
            measured=g, criterion=PairedTest(),
            null=Null([0.0] * len(g), "a bound that changes nothing: the same trajectories"))


def record_jerk_sanity(run: Any, over_share: float) -> None:
    run.sanity(id="jerk-bound-holds", check="no bounded rollout exceeds j_max while moving "
               "(steps that end at a stop may, the speed is held at 0)",
               measured=over_share, criterion=AtMost(0.002),
               measured_text=f"share of steps over j_max: {over_share:.4f}")


def record_safety(run: Any, ensemble_collisions: int, events: int, blind: int,
                  data_driven: dict[str, int]) -> None:
    """Claim 4 (no collisions) and FollowNet's data-driven collisions."""
    crit = (AtMost(0, unit="collision events") if blind > 0 else
            NotTestable("no test event challenges safety: even a leader-blind follower "
                        "does not collide"))
    run.claim(
        id="no-collisions",
        claim=f"EnsembleFollower never collides on the test events ({events} event-runs: "
              f"every mode and seed)",
        source="brief; FollowNet (collision rate)",
        paper_value=f"0 (the brief); FollowNet HighD collision rate: IDM {FN_COLL['IDM']}, "
                    f"NN {FN_COLL['NN']}, LSTM {FN_COLL['LSTM']} per mille",
        measured=ensemble_collisions, criterion=crit,
        measured_text=f"{ensemble_collisions} collision events",
        null=Null(blind, "a follower blind to its leader (IDM's free-road term) on the same "
                         "events"))
    total = int(sum(data_driven.values()))
    run.claim(
        id="data-driven-collide",
        claim="data-driven single models (MLP, LSTM) collide on some test events, "
              "calibrated IDM/Gipps do not",
        source="FollowNet benchmark (quoted in the brief)",
        paper_value=f"NN {FN_COLL['NN']}, LSTM {FN_COLL['LSTM']} per mille; IDM 0",
        measured=total, criterion=AtLeast(1, unit="collision events"),
        measured_text=", ".join(f"{k}: {v}" for k, v in data_driven.items()),
        null=Null(0, "data-driven models as safe as IDM: no collision"))


def record_holdout(run: Any, ens: list[float], single: dict[str, float], run_name: str,
                   uniform: float) -> None:
    """Generalisation: the weighting agent against the best single model on an unseen run
    (the untrained uniform average is named in the claim, for comparison)."""
    best_name = min(single, key=single.get)  # type: ignore[arg-type]
    d = [single[best_name] - r for r in ens]
    run.claim(
        id="holdout-run",
        claim=f"trained without run {run_name}, EnsembleFollower (weight) is more accurate on "
              f"it than each single model refitted the same way (best: {best_name}, "
              f"{single[best_name]:.3f} m; the untrained uniform average: {uniform:.3f} m)",
        source=SOURCE, paper_value=f"accurate across diverse conditions ({ABSTRACT_ONLY})",
        measured=d, criterion=PairedTest(),
        null=Null([0.0] * len(d), f"an agent that always picks {best_name}: difference 0"))
    du = [uniform - r for r in ens]
    run.claim(
        id="holdout-run-learned",
        claim=f"on the held-out run {run_name}, the trained weighting agent is more accurate "
              f"than the untrained uniform average of the same models ({uniform:.3f} m): the "
              f"gain over single models comes from what the agent learned, not from averaging",
        source=SOURCE, paper_value=f"effective combination of hybrid models ({ABSTRACT_ONLY})",
        measured=du, criterion=PairedTest(),
        null=Null([0.0] * len(du), "uniform weights (an agent that learned nothing): "
                                   "difference 0"))


def record_replay(run: Any, max_err: float) -> None:
    run.sanity(id="replay-reproduces", check="driving every follower with its observed "
               "acceleration reproduces the observed gap (leader replayed as x + s)",
               measured=max_err, criterion=AtMost(1e-6),
               measured_text=f"max |s_sim - s_obs| = {max_err:.2e} m")
