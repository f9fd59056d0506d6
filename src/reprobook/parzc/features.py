"""From the benchmark table to ParZC's input vectors and to single-proxy scores (ParZC Sec. 3.1).

The table stores, per architecture and proxy, the per-node mean in every *slot* (a position a
Conv2d/Linear node can occupy, :func:`.network.slot_names`; NaN where the cell has no node) and
each slot's weight count. From it:

- ``layout="packed"`` (the official code): the present nodes in module order, min-max scaled
  across the nodes of that architecture, zero-padded at the end to the maximum node count L
  (98 on NAS-Bench-201, 26 here). Position k then means "the k-th node", whichever it is.
- ``layout="aligned"``: min-max scaled the same way, but each slot keeps its position (absent
  nodes are 0), so position k always means the same place in the network.

The predictor's input concatenates grad_norm || snip || synflow (official ``nb201_dataset.py``).
:func:`single_score` is the classical proxy: the sum of the per-weight scores over the network.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import constants as K
from .proxies import NORM_PROXIES, check_names, minmax

LAYOUTS = ("packed", "aligned")


def slot_columns(df: pd.DataFrame, proxy: str) -> list[str]:
    """The table's columns ``<proxy>@<slot>`` in slot order."""
    cols = [c for c in df.columns if c.startswith(f"{proxy}@")]
    if not cols:
        raise KeyError(f"the benchmark table has no node-wise columns for proxy {proxy!r}")
    return cols


def node_matrix(df: pd.DataFrame, proxy: str) -> np.ndarray:
    """[N, L] per-node means of ``proxy`` (NaN where a slot holds no node)."""
    check_names([proxy])
    return df[slot_columns(df, proxy)].to_numpy(dtype=np.float64)


def scaled_nodes(df: pd.DataFrame, proxy: str, layout: str = "packed") -> np.ndarray:
    """[N, L] min-max scaled node vectors in the given layout (zeros for padding/absent)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {LAYOUTS}")
    m = node_matrix(df, proxy)
    out = np.zeros_like(m)
    for r, row in enumerate(m):
        present = ~np.isnan(row)
        v = minmax(row[present])
        if layout == "packed":
            out[r, :present.sum()] = v
        else:
            out[r, present] = v
    return out


def features(df: pd.DataFrame, proxies: tuple[str, ...] = K.INPUT_PROXIES,
             layout: str = "packed") -> np.ndarray:
    """ParZC's input: the scaled node vectors of ``proxies`` concatenated, [N, len(proxies)*L]."""
    check_names(list(proxies))
    return np.concatenate([scaled_nodes(df, p, layout) for p in proxies], axis=1)


def single_score(df: pd.DataFrame, proxy: str) -> np.ndarray:
    """The classical whole-network score: sum over nodes of mean x weight count (norm proxies
    count once per node, so theirs is the sum of per-node norms)."""
    m = node_matrix(df, proxy)
    if proxy in NORM_PROXIES:
        return np.nansum(m, axis=1)
    counts = df[[f"numel@{c.split('@', 1)[1]}" for c in slot_columns(df, proxy)]]
    return np.nansum(m * counts.to_numpy(dtype=np.float64), axis=1)


def node_sum(df: pd.DataFrame, proxy: str) -> np.ndarray:
    """Sum over nodes of the per-node means (every node counted alike)."""
    return np.nansum(node_matrix(df, proxy), axis=1)
