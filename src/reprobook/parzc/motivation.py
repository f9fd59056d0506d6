"""The motivation experiment: are all nodes equally important? (ParZC Sec. 1 and Fig. 1-2)

The paper fits a gradient-boosting regressor to the node-wise synflow vector (98 values on
NAS-Bench-201) and reads its feature importances: if summing over nodes were right, every node
would matter alike. Here: scikit-learn's ``GradientBoostingRegressor`` on the min-max scaled
synflow vector of each architecture (both layouts, :mod:`.features`), predicting validation
accuracy; importances are averaged over seeds of the regressor and of the sample.

How unequal: the normalised entropy H(w) / log(L) of the importance vector w (1 = every node
equally important) and the ratio max(w) / mean(w) (1 = equal). The same regressor fitted to a
*permuted* target (no relation between nodes and accuracy) gives the reference a regressor's
own randomness produces.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.model_selection import cross_val_predict

from reprobook.core.seeds import derive_seed

from .evaluation import ground_truth, tau
from .features import scaled_nodes


def normalised_entropy(w: np.ndarray) -> float:
    w = np.asarray(w, dtype=np.float64)
    p = w / w.sum()
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / np.log(len(p)))


def max_over_mean(w: np.ndarray) -> float:
    w = np.asarray(w, dtype=np.float64)
    return float(w.max() / w.mean())


def _gbr(seed: int, n_estimators: int) -> GradientBoostingRegressor:
    return GradientBoostingRegressor(n_estimators=n_estimators, max_depth=3, learning_rate=0.05,
                                     subsample=0.8, random_state=seed)


def importances(df: pd.DataFrame, proxy: str = "synflow", layout: str = "aligned",
                seeds: tuple[int, ...] = (0, 1, 2), n_estimators: int = 200,
                permuted: bool = False) -> np.ndarray:
    """[len(seeds), L] feature importances of the node-wise vector of ``proxy``."""
    x = scaled_nodes(df, proxy, layout)
    y = ground_truth(df, "val")
    out = []
    for s in seeds:
        target = np.random.default_rng(derive_seed(s, "parzc-permute")).permutation(y) \
            if permuted else y
        out.append(_gbr(derive_seed(s, "parzc-gbr"), n_estimators).fit(x, target)
                   .feature_importances_)
    return np.array(out)


def cv_tau(df: pd.DataFrame, proxy: str = "synflow", layout: str = "aligned", seed: int = 0,
           n_estimators: int = 200, folds: int = 5) -> float:
    """Kendall tau of 5-fold cross-validated GBR predictions with the test accuracy: what the
    node-wise vector knows that its sum does not (held-out predictions only)."""
    x = scaled_nodes(df, proxy, layout)
    pred = cross_val_predict(_gbr(derive_seed(seed, "parzc-gbr"), n_estimators), x,
                             ground_truth(df, "val"), cv=folds)
    return tau(pred, ground_truth(df, "test"))


def inequality(imp: np.ndarray) -> dict[str, list[float]]:
    """Per seed: normalised entropy and max/mean ratio of the importance vector."""
    return {"entropy": [normalised_entropy(w) for w in imp],
            "max_over_mean": [max_over_mean(w) for w in imp]}
