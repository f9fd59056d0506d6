"""Search with a budget of evaluations: ParZC-guided vs random vs a single proxy (ParZC Sec. 4.4).

The benchmark table is the search space (every row an architecture whose training is one
"evaluation"). With a budget of K evaluations:

- **random search** evaluates K architectures drawn at random;
- **proxy search** evaluates the K architectures with the highest zero-cost score (the proxies
  cost no evaluation);
- **ParZC search** evaluates ``n0`` random architectures, trains the predictor on them, then
  evaluates the K - n0 architectures it ranks highest among the rest.

Each search returns the architecture with the best *validation* accuracy among those it
evaluated; it is scored by its *test* accuracy (NAS-Bench-201's convention) and by its regret,
the best test accuracy in the table minus that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reprobook.core.seeds import derive_seed

from . import training
from .evaluation import ground_truth
from .features import features, single_score
from .mabn import MABNConfig


@dataclass
class Trace:
    method: str
    seed: int
    order: np.ndarray  # row indices in evaluation order (length K)


def random_search(n: int, budget: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(derive_seed(seed, "parzc-random-search"))
    return rng.permutation(n)[:budget]


def proxy_search(df: pd.DataFrame, proxy: str, budget: int) -> np.ndarray:
    return np.argsort(-single_score(df, proxy), kind="stable")[:budget]


def parzc_search(df: pd.DataFrame, budget: int, n0: int, seed: int, model: MABNConfig,
                 train: training.TrainConfig, device: str = "cpu",
                 z: np.ndarray | None = None) -> np.ndarray:
    if not 2 <= n0 < budget:
        raise ValueError(f"ParZC search needs 2 <= n0 < budget, got n0={n0}, budget={budget}")
    z = features(df) if z is None else z
    first = random_search(len(df), n0, seed)
    fitted = training.fit(z[first], ground_truth(df, "val")[first], model, train,
                          seed=derive_seed(seed, "parzc-search-fit"), device=device)
    rest = np.setdiff1d(np.arange(len(df)), first)
    pred, _ = fitted.predict(z[rest], seed=derive_seed(seed, "parzc-search-mc"))
    return np.concatenate([first, rest[np.argsort(-pred, kind="stable")][: budget - n0]])


def best_so_far(df: pd.DataFrame, order: np.ndarray) -> np.ndarray:
    """Test accuracy of the best-by-validation architecture after each evaluation."""
    val, test = ground_truth(df, "val")[order], ground_truth(df, "test")[order]
    best = np.maximum.accumulate(val)
    pick = np.array([np.flatnonzero(val[: i + 1] == best[i])[0] for i in range(len(order))])
    return test[pick]


def curves(df: pd.DataFrame, traces: list[Trace]) -> pd.DataFrame:
    """Long table: method, seed, evaluations, test accuracy of the pick, regret."""
    top = float(ground_truth(df, "test").max())
    rows = []
    for t in traces:
        acc = best_so_far(df, t.order)
        rows += [{"method": t.method, "seed": t.seed, "evaluations": k + 1, "test_acc": a,
                  "regret": top - a} for k, a in enumerate(acc)]
    return pd.DataFrame(rows)


def final(curves_df: pd.DataFrame) -> pd.DataFrame:
    """Each search's result at its full budget, and mean +- std per method."""
    last = curves_df[curves_df.evaluations == curves_df.evaluations.max()]
    return last.groupby("method", sort=False).agg(
        seeds=("seed", "count"), test_acc_mean=("test_acc", "mean"),
        test_acc_std=("test_acc", "std"), regret_mean=("regret", "mean")).reset_index().round(4)
