"""The FedImpro chapter's claims and sanity checks (ARCHITECTURE §4).

Every method-vs-baseline claim is a one-sided paired t-test over seeds (:class:`PairedTest`) of
per-seed differences oriented so that a positive value is the paper's effect; its null is a zero
difference on every seed — what FedImpro would measure if sharing the feature distribution did
nothing (it would then train like FedAvg). Accuracies are the mean of the last rounds' test
accuracy, not the best of noisy evaluations. Identities (blocks that sum to the total, the
low-level factor of Thm 4.2's objective) are sanity checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from reprobook.core.claims import AtMost, Equals, Null, PairedTest, Within

from . import paper
from .experiments import paired

NO_EFFECT = "no paired difference (FedImpro's sharing has no effect)"


def _zero(n: int) -> Null:
    return Null([0.0] * n, NO_EFFECT)


def _points(d: list[float]) -> str:
    return "[" + ", ".join(f"{100 * x:+.2f}" for x in d) + "] points"


def record_accuracy(run: Any, summ: pd.DataFrame, baselines: list[str], *, alpha: float,
                    dataset: str, last: int) -> dict[str, list[float]]:
    """FedImpro beats each baseline (Table 1): paired last-rounds accuracy differences."""
    out = {}
    for b in baselines:
        d = paired(summ, "fedimpro", b)
        out[b] = d
        run.claim(id=f"beats-{b}", source="Table 1",
                  claim=f"FedImpro is more accurate than {paper.NAMES[b]} (a = {alpha:g})",
                  paper_value=paper.table1_text(alpha, b), measured=d,
                  criterion=PairedTest(), null=_zero(len(d)),
                  measured_text=f"{PairedTest().format(d)}; per seed {_points(d)} "
                                f"(mean of the last {last} rounds, {dataset})")
    return out


def _block(final: pd.DataFrame, label: str, col: str) -> pd.Series:
    return final[final.label == label].set_index("seed")[col]


def _share(df: pd.DataFrame, obj: str) -> str:
    """Mean over seeds of D_high / sum_m p_m ||g_m,high||^2 (scale-free), as text."""
    col = f"gd_sqnorm-high_{obj}"
    if col not in df:
        return "n/a"
    return f"{float((df[f'gd_high_{obj}'] / df[col]).mean()):.3f}"


def record_theory(run: Any, final: pd.DataFrame, hist: pd.DataFrame) -> dict[str, list[float]]:
    """Thm 4.1 / 4.2 and Fig. 2b on the *trained* models, FedAvg against FedImpro by seed."""
    seeds = sorted(set(final[final.label == "fedavg"].seed) & set(final[final.label == "fedimpro"].seed))
    fa = final[final.label == "fedavg"].set_index("seed").loc[seeds]
    fi = final[final.label == "fedimpro"].set_index("seed").loc[seeds]
    gd_train = (fa["gd_high_real"] - fi["gd_high_impro"]).tolist()
    share = {k: _share(df, obj) for k, df, obj in (("fa", fa, "real"), ("fi", fi, "impro"),
                                                   ("fi_real", fi, "real"))}
    gd_real = (fa["gd_high_real"] - fi["gd_high_real"]).tolist()
    w2 = (fa["w2"] - fi["w2"]).tolist()
    run.claim(id="gd-high-trained", source="Thm 4.2",
              claim="FedImpro's clients follow less dissimilar high-level gradients than FedAvg's "
                    "(each method's own training loss at its trained global model)",
              paper_value="reduced (by N^2/(N+N_hat)^2 = 1/4 at equal weights)", measured=gd_train,
              criterion=PairedTest(), null=_zero(len(gd_train)),
              measured_text=f"{PairedTest().format(gd_train)}; D_high FedAvg "
                            f"{fa['gd_high_real'].mean():.3g}, FedImpro {fi['gd_high_impro'].mean():.3g}"
                            f" (as a share of the mean squared gradient: {share['fa']} vs "
                            f"{share['fi']})")
    run.claim(id="gd-high-real-data", source="Thm 4.2",
              claim="The FedImpro-trained model has a lower high-level gradient dissimilarity on "
                    "the clients' real data than the FedAvg-trained one",
              paper_value="reduced (qualitative)", measured=gd_real,
              criterion=PairedTest(), null=_zero(len(gd_real)),
              measured_text=f"{PairedTest().format(gd_real)}; D_high FedAvg "
                            f"{fa['gd_high_real'].mean():.3g}, FedImpro {fi['gd_high_real'].mean():.3g}"
                            f" (as a share of the mean squared gradient: {share['fa']} vs "
                            f"{share['fi_real']})")
    run.claim(id="w2-trained", source="Thm 4.1",
              claim="Clients' real class-conditional features are closer (W2) under the "
                    "FedImpro-trained low-level model than under the FedAvg-trained one",
              paper_value="reduced (qualitative)", measured=w2,
              criterion=PairedTest(), null=_zero(len(w2)),
              measured_text=f"{PairedTest().format(w2)}; mean relative W2 FedAvg "
                            f"{fa['w2'].mean():.3f}, FedImpro {fi['w2'].mean():.3f}")
    wd = hist.groupby(["label", "seed"])["weight_divergence"].mean().unstack(0).loc[seeds]
    wdd = (wd["fedavg"] - wd["fedimpro"]).tolist()
    run.claim(id="weight-divergence", source="Fig. 2b",
              claim="FedImpro lowers the weight divergence between clients",
              paper_value="FedImpro below FedAvg (figure, no number)", measured=wdd,
              criterion=PairedTest(), null=_zero(len(wdd)),
              measured_text=f"{PairedTest().format(wdd)}; mean divergence FedAvg "
                            f"{wd['fedavg'].mean():.3f}, FedImpro {wd['fedimpro'].mean():.3f}")
    return {"gd_high_trained": gd_train, "gd_high_real": gd_real, "w2": w2,
            "weight_divergence": wdd}


def record_identities(run: Any, hist: pd.DataFrame) -> None:
    """Sanity checks on every gradient-dissimilarity measurement of the run."""
    errs = []
    for obj in ("real", "impro", "impro-mean"):
        cols = [f"gd_{b}_{obj}" for b in ("low", "high", "total")]
        if cols[0] not in hist:
            continue
        d = hist.dropna(subset=cols)
        errs += list(((d[cols[0]] + d[cols[1]] - d[cols[2]]).abs() / d[cols[2]]).values)
    run.sanity(id="gd-blocks-sum", check="D_low + D_high = D_total (disjoint parameter blocks)",
               measured=float(max(errs)) if errs else 0.0, criterion=AtMost(1e-9),
               measured_text=f"max relative error {max(errs) if errs else 0.0:.1e} over "
                             f"{len(errs)} measurements")
    d = hist[hist.label == "fedimpro"].dropna(subset=["gd_low_impro-mean"])
    if len(d):
        ratio = float((d["gd_low_impro-mean"] / d["gd_low_real"]).mean())
        run.sanity(id="gd-low-quarter", source="Thm 4.2",
                   check="Thm 4.2's objective scales the low-level dissimilarity by exactly "
                         "(N/(N+N_hat))^2 = 1/4 (sampled features send no gradient below the split)",
                   measured=ratio, criterion=Within(0.25, 1e-6),
                   measured_text=f"mean ratio {ratio:.6f} over {len(d)} measurements")


def record_partition(run: Any, n_samples: int, parts: dict[float, list[np.ndarray]]) -> None:
    """Every Dirichlet partition is disjoint and covers the training set."""
    ok = all(len(np.unique(np.concatenate(p))) == n_samples == sum(len(q) for q in p)
             for p in parts.values())
    run.sanity(id="partition-disjoint-covering", check="each partition is disjoint and covers "
               "every training sample", measured=ok, criterion=Equals(True),
               measured_text="yes" if ok else "no")


def record_ablations(run: Any, summ: pd.DataFrame, *, model: str, split: int,
                     splits: list[int], noises: list[float]) -> None:
    """Table 7 (FedImpro keeps its gain over FedAvg under upload noise) and Table 3 (a split
    after the last convolution loses accuracy against the paper's middle split)."""
    for s in noises:
        d = paired(summ, f"noise:{s:g}", "fedavg")
        if len(d) < 2:
            continue
        run.claim(id=f"noise-{s:g}-beats-fedavg", source="Table 7",
                  claim=f"With noise sigma_eps = {s:g} on the shared distribution, FedImpro still "
                        f"beats FedAvg",
                  paper_value=f"{paper.TABLE7_NOISE.get(s, 'not transcribed')} at sigma_eps = {s:g}"
                              f" vs FedAvg {paper.TABLE1_CIFAR10[0.1]['fedavg']} (CIFAR-10 a=0.1)",
                  measured=d, criterion=PairedTest(),
                  null=Null([0.0] * len(d), "noise that erases the shared distribution's benefit"),
                  measured_text=f"{PairedTest().format(d)}; change against no noise "
                                f"{100 * np.mean(paired(summ, f'noise:{s:g}', 'default')):+.2f} points")
    last = paper.LAST_CONV_SPLIT.get(model)
    if last is not None and last in splits and last != split:
        d = paired(summ, "default", f"split:{last}")
        if len(d) >= 2:
            run.claim(id="split-after-last-conv-loses", source="Table 3",
                      claim="Splitting after the last convolution loses accuracy against the "
                            "middle split",
                      paper_value=f"{paper.TABLE3_SPLIT[9]} (9th conv) vs {paper.TABLE3_SPLIT[17]} "
                                  f"(17th conv)",
                      measured=d, criterion=PairedTest(),
                      null=Null([0.0] * len(d), "the split point does not matter"),
                      measured_text=f"{PairedTest().format(d)}; per seed {_points(d)}")
