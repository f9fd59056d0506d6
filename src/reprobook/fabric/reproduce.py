"""Each table's model column, recomputed from its inputs; the baselines; MAPE per table.

The authors' protocol ("measure derived", appendix Tables 1-8), for a queue model Q:

1. per row, the communication latency left after the model's other terms:
   ``T_comm = T_meas - T_s - T_q^Q [- T_w]`` (for the order phase the client->leader part
   ``T_c2l`` is measured and the leader->followers part ``T_l2f`` is this residual);
2. per row, the effective bandwidth ``beta = lambda * size * 8/1024 / (T_comm - hops*alpha)``;
3. per configuration (same c, k or BatchSize), ``beta_bar`` = the mean of the rows' beta;
4. the model: ``T = hops*alpha + lambda * size * 8/1024 / beta_bar + T_s + T_q^Q [+ T_w]``.

The communication term is thus fitted to the same measurements it predicts (in sample);
:func:`reproduce` also gives a leave-one-out column (``beta_bar`` without the row itself).
``rounding=True`` rounds ``T_s``, ``T_q`` and ``T_w`` to 4 decimals first, as the tables do.
``tq="model"`` recomputes the queueing term: M/D/c for the execute phase; for the order and
validate phases the paper writes Kingman's G/G/1 formula with measured coefficients of variation,
and the published values turn out to be that formula with ``(CV_a^2 + CV_s^2)/2 = rho^2``
(:func:`authors_gg1_wait`). ``tq="table"`` uses the published column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import constants as K
from .model import AUTHORS_ERLANG_R, AUTHORS_H2_CS2, block_wait, mape
from .queues import kingman_factor, kingman_wait, mdc_wait, mer1_wait, mg1_wait, mm1_wait

GROUP = {"execute": ["table", "c"], "order": ["table", "k"], "validate": ["table", "batch_size"]}


def _r(x: pd.Series | float, rounding: bool) -> pd.Series | float:
    return np.round(x, 4) if rounding else x


def _fit(df: pd.DataFrame, keys: list[str], t_comm: pd.Series, size_kb: pd.Series, alpha: float,
         hops: int, loo: bool = False) -> pd.Series:
    """Per-row effective bandwidth, then the group mean (or the mean of the others: ``loo``)."""
    bw = df["lam"] * size_kb * K.KB_TO_MBIT / (t_comm - hops * alpha)
    if (t_comm - hops * alpha <= 0).any():
        bad = df.loc[t_comm - hops * alpha <= 0, ["table", "line"]].to_dict("records")
        raise ValueError(f"rows {bad}: no communication time left to fit a bandwidth")
    g = bw.groupby([df[k] for k in keys])
    if not loo:
        return g.transform("mean")
    n = g.transform("count")
    return (g.transform("sum") - bw) / (n - 1)


def _comm(df: pd.DataFrame, size_kb: pd.Series, beta: pd.Series, alpha: float,
          hops: int) -> pd.Series:
    return hops * alpha + df["lam"] * size_kb * K.KB_TO_MBIT / beta


def authors_gg1_wait(lam: float, mu: float) -> float:
    """The G/G/1 queueing latency of the order and validate tables: Kingman's formula with
    ``(CV_a^2 + CV_s^2)/2 = rho^2``, i.e. ``rho^3 / ((1 - rho) mu)``. Every published T_q of
    Tables 3-8 equals it to the tables' last digit (tests/fabric/test_reproduce.py)."""
    rho = lam / mu
    return kingman_wait(lam, mu, rho * rho, rho * rho)


def queue_term(df: pd.DataFrame, model: str) -> pd.Series:
    """T_q of every row under ``model``: ``mdc`` (the paper's execute model), ``gg1_authors``
    (the order and validate tables' G/G/1 term), ``mm1``, ``mh21``, ``mer1`` (the baselines;
    M/M/1 with one server of rate ``c mu`` as in the tables), ``md1`` or ``table``."""
    if model == "table":
        return df["Tq_model"]
    fns = {
        "mdc": lambda r: mdc_wait(r.lam, r.mu, int(r.c)),
        "mm1": lambda r: mm1_wait(r.lam, r.c * r.mu),
        "mh21": lambda r: mg1_wait(r.lam, r.c * r.mu, AUTHORS_H2_CS2),
        "mer1": lambda r: mer1_wait(r.lam, r.c * r.mu, AUTHORS_ERLANG_R),
        "md1": lambda r: mg1_wait(r.lam, r.c * r.mu, 0.0),
        "gg1_authors": lambda r: authors_gg1_wait(r.lam, r.mu),
    }
    if model not in fns:
        raise ValueError(f"unknown queue model {model!r}; known: {['table', *fns]}")
    return df.apply(fns[model], axis=1)


def reproduce(df: pd.DataFrame, phase: str, tq: str = "model", rounding: bool = True,
              alpha: float = 0.0, with_wait: bool = True) -> pd.DataFrame:
    """The model column of every ``phase`` row of ``df``, recomputed (see the module docstring).

    ``tq``: ``"model"`` (the paper's queue for the phase: M/D/c for execute; the table's T_q for
    order and validate), a baseline name of :func:`queue_term`, or ``"table"``. ``with_wait``
    adds the block waiting time to the order prediction (``False``: the M/M/1 baseline
    "without waiting", which still subtracts it when fitting, as the tables do)."""
    d = df[df["phase"] == phase].copy()
    if d.empty:
        raise ValueError(f"no {phase!r} rows")
    keys = GROUP[phase]
    if tq == "model":
        tq = "mdc" if phase == "execute" else "gg1_authors"
    d["Tq"] = _r(queue_term(d, tq), rounding)
    d["Ts_used"] = _r(1.0 / d["mu"], rounding)
    if phase == "execute":
        size, hops = pd.Series(K.EXEC_MSG_KB, index=d.index), 2
        d["Tcomm"] = d["T_meas"] - d["Ts_used"] - d["Tq"]
        fixed = d["Ts_used"] + d["Tq"]
    elif phase == "validate":
        size, hops = pd.Series(K.VAL_MSG_KB, index=d.index), 1
        d["Tcomm"] = d["T_meas"] - d["Ts_used"] - d["Tq"]
        fixed = d["Ts_used"] + d["Tq"]
    elif phase == "order":
        d["Tw_used"] = _r(d.apply(lambda r: block_wait(r.lam, int(r.batch_size)), axis=1),
                          rounding)
        c2l_size = pd.Series(K.C2L_MSG_KB, index=d.index)
        d["beta_c2l"] = _fit(d, keys, d["Tc2l"], c2l_size, alpha, 1)
        d["Tc2l_model"] = _comm(d, c2l_size, d["beta_c2l"], alpha, 1)
        size, hops = (d["k"] - 1) * K.L2F_MSG_KB, 1
        d["Tcomm"] = d["T_meas"] - d["Tc2l"] - d["Ts_used"] - d["Tq"] - d["Tw_used"]
        fixed = d["Tc2l_model"] + d["Ts_used"] + d["Tq"] + (d["Tw_used"] if with_wait else 0.0)
        d_loo_c2l = _comm(d, c2l_size, _fit(d, keys, d["Tc2l"], c2l_size, alpha, 1, True), alpha, 1)
    else:
        raise ValueError(f"unknown phase {phase!r}")
    d["beta"] = _fit(d, keys, d["Tcomm"], size, alpha, hops)
    d["T_repro"] = _comm(d, size, d["beta"], alpha, hops) + fixed
    d["Tcomm_model"] = d["T_repro"] - d["Ts_used"] - d["Tq"] - (
        d["Tw_used"] if phase == "order" and with_wait else 0.0)
    d["Tcomm_total"] = d["Tcomm"] + (d["Tc2l"] if phase == "order" else 0.0)
    beta_loo = _fit(d, keys, d["Tcomm"], size, alpha, hops, loo=True)
    loo_fixed = fixed - d["Tc2l_model"] + d_loo_c2l if phase == "order" else fixed
    d["T_repro_loo"] = _comm(d, size, beta_loo, alpha, hops) + loo_fixed
    return d


def reproduction_check(df: pd.DataFrame) -> pd.DataFrame:
    """Per table: the largest |recomputed - published| of the model and M/M/1 columns, with the
    table's own T_q and with the recomputed one (execute)."""
    rows = []
    for phase in ("execute", "order"):
        for label, tq in (("model, T_q from the table", "table"),
                          ("model, T_q recomputed", "model"), ("M/M/1 baseline", "mm1")):
            d = reproduce(df, phase, tq=tq, with_wait=(tq != "mm1"))
            ref = d["T_mm1"] if tq == "mm1" else d["T_model"]
            for t, g in d.assign(err=(d["T_repro"] - ref).abs()).groupby("table"):
                rows.append({"table": t, "phase": phase, "column": label, "rows": len(g),
                             "max |diff| (s)": g["err"].max(),
                             "worst line": int(g.loc[g["err"].idxmax(), "line"])})
    return pd.DataFrame(rows).sort_values(["table", "column"]).reset_index(drop=True)


BASELINE = {"execute": ("mm1", "M/M/1"), "order": ("mm1", "M/M/1 without waiting"),
            "validate": ("mm1", "M/M/1")}
SECOND = {"execute": ("mh21", "M/H2/1"), "validate": ("mer1", "M/E_r/1")}


def predictions(df: pd.DataFrame) -> pd.DataFrame:
    """Every row with the measured latency, the model (in sample and leave-one-out) and the
    baselines, all recomputed here."""
    out = []
    for phase in ("execute", "order", "validate"):
        d = reproduce(df, phase)
        keep = d[["table", "line", "phase", "cluster", "c", "k", "batch_size", "lam", "mu",
                  "T_meas"]].copy()
        keep["model"], keep["model (leave-one-out)"] = d["T_repro"], d["T_repro_loo"]
        keep["T_q model"] = d["Tq"]
        keep["T_w model"] = d["Tw_used"] if phase == "order" else 0.0
        keep["T_comm model"] = d["Tcomm_model"]
        keep["T_c2l model"] = d["Tc2l_model"] if phase == "order" else np.nan
        tq, name = BASELINE[phase]
        keep[name] = reproduce(df, phase, tq=tq, with_wait=False)["T_repro"]
        if phase in SECOND:
            tq2, name2 = SECOND[phase]
            keep[name2] = reproduce(df, phase, tq=tq2)["T_repro"]
        keep["constant comm"] = constant_comm(d)
        out.append(keep)
    return pd.concat(out, ignore_index=True)


def constant_comm(d: pd.DataFrame) -> pd.Series:
    """A model without load-dependent communication: each configuration's mean communication
    latency as a constant, plus the same service, queueing and waiting terms."""
    keys = GROUP[d["phase"].iloc[0]]
    mean_comm = d["Tcomm_total"].groupby([d[k] for k in keys]).transform("mean")
    return d["T_repro"] - d["Tcomm_model"] + mean_comm


def mape_table(pred: pd.DataFrame) -> pd.DataFrame:
    """MAPE (%) per table of every prediction column, beside the paper's stated MAPE."""
    cols = [c for c in ("model", "model (leave-one-out)", "M/M/1", "M/M/1 without waiting",
                        "M/H2/1", "M/E_r/1", "constant comm") if c in pred]
    rows = []
    for t, g in pred.groupby("table"):
        row = {"table": t, "phase": g["phase"].iloc[0], "cluster": g["cluster"].iloc[0],
               "rows": len(g)}
        for c in cols:
            row[c] = mape(g[c], g["T_meas"]) if g[c].notna().all() else np.nan
        paper = K.PAPER_MAPE.get(int(t), {})
        row["paper: model"] = paper.get("model", np.nan)
        row["paper: M/M/1"] = paper.get("mm1", np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def mape_by_phase(pred: pd.DataFrame) -> pd.DataFrame:
    """MAPE (%) per phase and cluster of the model and its M/M/1 baseline."""
    base = pred["M/M/1"].fillna(pred["M/M/1 without waiting"])
    rows = []
    for (phase, cluster), g in pred.assign(base=base).groupby(["phase", "cluster"], sort=False):
        rows.append({"phase": phase, "cluster": cluster, "rows": len(g),
                     "model": mape(g["model"], g["T_meas"]),
                     "model (leave-one-out)": mape(g["model (leave-one-out)"], g["T_meas"]),
                     "M/M/1 baseline": mape(g["base"], g["T_meas"])})
    return pd.DataFrame(rows)


def implied_variability(df: pd.DataFrame, min_tq: float = 0.0005) -> pd.DataFrame:
    """The ``(CV_a^2 + CV_s^2)/2`` that makes Kingman's formula give each published G/G/1 T_q
    (order and validate rows with ``T_q >= min_tq``: smaller values are rounding noise)."""
    g = df[df["phase"].isin(["order", "validate"]) & (df["Tq_model"] >= min_tq)].copy()
    g["rho"] = g["lam"] / g["mu"]
    g["(CV_a^2 + CV_s^2)/2"] = [kingman_factor(tq, lam, mu) for tq, lam, mu in
                                zip(g["Tq_model"], g["lam"], g["mu"])]
    return g[["table", "phase", "k", "batch_size", "lam", "mu", "rho", "Tq_model",
              "(CV_a^2 + CV_s^2)/2"]]


def alpha_variant(df: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """MAPE (%) per table of the model fitted with a constant overhead ``alpha`` per message
    (the revised manuscript's alpha = 10 ms) beside the tables' alpha = 0."""
    rows = []
    for phase in ("execute", "order", "validate"):
        a = reproduce(df, phase)
        b = reproduce(df, phase, alpha=alpha)
        for t in sorted(a["table"].unique()):
            ga, gb = a[a["table"] == t], b[b["table"] == t]
            rows.append({"table": t, "phase": phase, "alpha = 0": mape(ga["T_repro"], ga["T_meas"]),
                         f"alpha = {alpha * 1e3:g} ms": mape(gb["T_repro"], gb["T_meas"])})
    return pd.DataFrame(rows)
