"""The ParZC chapter's claims and sanity checks (ARCHITECTURE §4).

Every rank correlation is measured on held-out architectures only (the official NAS-Bench-201
evaluation includes the training architectures in its test set). Method-vs-baseline claims are
paired per seed (one predictor fit per seed and training-set size) and judged by a one-sided
paired t-test. The paper's result tables were not transcribed; the reference points quoted are
the official repository's logs (NAS-Bench-201 CIFAR-10), on a different benchmark than this
chapter's mini NAS-Bench-201, so they are context, not targets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reprobook.core.claims import NOT_TRANSCRIBED, AtMost, Equals, Null, PairedTest

from . import constants as K

REF_LOGS = (f"{NOT_TRANSCRIBED} (official logs, NB201 CIFAR-10, 78 training archs: "
            f"tau {K.REF_TAU_NB201_78_MIXER[0]}-{K.REF_TAU_NB201_78_MIXER[1]} (MLP-Mixer), "
            f"{K.REF_TAU_NB201_78_GRAPH[0]}-{K.REF_TAU_NB201_78_GRAPH[1]} (graph encoder))")


def _zeros(xs: list[float]) -> list[float]:
    return [0.0] * len(xs)


def record_space(run: Any, counts: dict[str, int]) -> None:
    """The cell space's counts: an identity of the enumeration, a sanity check."""
    want = {"cells": K.NB201_CELLS, "unique": K.NB201_UNIQUE, "no_path": K.NB201_NO_PATH}
    run.sanity(id="nb201-counts", check="NAS-Bench-201 cell space: 15,625 cells, 6,466 unique "
               "up to isomorphism, 341 without an input-output path", measured=counts,
               criterion=Equals(want), source="NAS-Bench-201 (Dong & Yang 2020), Sec. 2",
               measured_text=f"{counts['cells']} / {counts['unique']} / {counts['no_path']}")


def record_table(run: Any, df: Any, info: dict[str, Any]) -> None:
    """The shipped table, parsed and written again, hashes to the sha256 in its YAML (the
    loader already refused a file that does not); nothing to check for a table built here."""
    from .tables import content_sha256

    if "content_sha256" not in info:
        return
    got = content_sha256(df)
    run.sanity(id="benchmark-hash", check=f"the shipped table {info['file']} re-serialises to "
               f"the sha256 recorded in its YAML", measured=got == info["content_sha256"],
               criterion=Equals(True), measured_text=f"sha256 {got[:16]}...")


def record_importance(run: Any, entropy: list[float], perm_entropy: list[float],
                      ratio: list[float]) -> None:
    """(1) Nodes are not equally important (Sec. 1, Fig. 2: GBR importances of layer-wise
    synflow). Reproduced if the mean normalised entropy of the importances lies below every
    permuted-target fit (the same regressor on an accuracy it cannot learn); a regressor's own
    randomness makes importances unequal too, so merely being below 1 proves nothing."""
    m = float(np.mean(entropy))
    run.claim(id="nodes-unequal", claim="Node-wise synflow features are not equally important "
              "to a gradient-boosting accuracy regressor", source="paper Sec. 1, Fig. 2",
              paper_value="importances concentrate on few nodes (figure; values not transcribed)",
              measured=m, criterion=AtMost(threshold=round(float(min(perm_entropy)), 6),
                                           unit="normalised entropy"),
              null=Null(1.0, "every node equally important: normalised entropy 1"),
              measured_text=f"normalised entropy {m:.3f} (seeds {np.round(entropy, 3).tolist()}; "
              f"permuted target {np.mean(perm_entropy):.3f}, min {min(perm_entropy):.3f}); "
              f"max/mean importance {np.mean(ratio):.1f} (equal: 1)")


def record_vs_proxy(run: Any, diffs: list[float], n_train: int, taus: list[float],
                    proxy: str, proxy_taus: list[float], few: bool = False) -> None:
    """(2) ParZC ranks better than the best single proxy; (5) also with few training archs."""
    cid = "few-archs" if few else "beats-best-proxy"
    what = (f"With only {n_train} training architectures ParZC already ranks better than the "
            f"best single proxy") if few else "ParZC ranks better than the best single proxy"
    run.claim(id=cid, claim=what, source="paper Sec. 4.2, Tables 1-2", paper_value=REF_LOGS,
              measured=diffs, criterion=PairedTest(),
              null=Null(_zeros(diffs), "node-wise learning adds nothing: paired difference 0"),
              measured_text=f"tau ParZC {np.mean(taus):.3f} +- {np.std(taus, ddof=1):.3f} vs "
              f"{proxy} {np.mean(proxy_taus):.3f} +- {np.std(proxy_taus, ddof=1):.3f} "
              f"(n_train={n_train}, held-out); " + PairedTest().format(diffs))


def record_paired(run: Any, cid: str, claim: str, source: str, diffs: list[float],
                  a: str, b: str) -> None:
    """(3) DiffKendall vs MSE, (4) Bayesian layers vs none, and other paired comparisons."""
    run.claim(id=cid, claim=claim, source=source, paper_value=NOT_TRANSCRIBED, measured=diffs,
              criterion=PairedTest(),
              null=Null(_zeros(diffs), f"{a} no better than {b}: paired difference 0"))


def record_uncertainty(run: Any, rhos: list[float]) -> None:
    """The Bayesian layers' Monte-Carlo spread tracks the rank error of the prediction."""
    run.claim(id="uncertainty-tracks-error", claim="ParZC's Monte-Carlo uncertainty is larger "
              "where its rank error is larger (Spearman of std vs |rank error| > 0)",
              source="paper Sec. 3.2 (uncertainty of node importance)",
              paper_value=NOT_TRANSCRIBED, measured=rhos, criterion=PairedTest(),
              null=Null(_zeros(rhos), "uncertainty unrelated to error: correlation 0"),
              measured_text=f"Spearman(std, |rank error|) per seed {np.round(rhos, 3).tolist()}; "
              + PairedTest().format(rhos))


def record_search(run: Any, diffs: list[float], budget: int) -> None:
    """ParZC-guided search beats random search at the same number of evaluations."""
    run.claim(id="search-beats-random", claim=f"ParZC-guided search finds a better "
              f"architecture than random search with {budget} evaluations",
              source="paper Sec. 4.4", paper_value=NOT_TRANSCRIBED, measured=diffs,
              criterion=PairedTest(),
              null=Null(_zeros(diffs), "a predictor no better than chance: difference 0"),
              measured_text=f"test-accuracy gain of the pick, per seed "
              f"{np.round(diffs, 4).tolist()}; " + PairedTest().format(diffs))
