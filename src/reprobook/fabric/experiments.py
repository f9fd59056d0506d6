"""The simulation experiments of notebooks 3 and 4 (each a function of its sizes and a seed).

Every run goes through :func:`reprobook.fabric.des.simulate`; phase latencies are read with the
same code as a real measurement (:func:`reprobook.fabric.analysis.phase_times`) except where the
simulator's own truth is the point (queueing and block-waiting times, which a client cannot see).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Sequence

import numpy as np
import pandas as pd

from reprobook.core.progress import progress
from reprobook.core.seeds import derive_seed

from . import constants as K
from .analysis import phase_times
from .des import FabricConfig, Link, SimResult, batch_means, endorse_throughput, simulate
from .model import block_wait
from .queues import kingman_wait, md1_wait, mdc_wait, mm1_wait, mmc_wait, mxd1_wait
from .workload import Workload

FAST = 1e9  # the service rate of a phase that is not under study (instantaneous)


def sim_phases(res: SimResult) -> pd.DataFrame:
    """Phase latencies of a simulated run, as :mod:`.analysis` computes them from logs."""
    b = res.blocks
    return phase_times(res.records, b[["block", "t_created", "t_written"]],
                       b[["block", "t_received", "t_validated", "t_committed", "n_tx"]])


def _tail(x: pd.Series | np.ndarray, warmup: float) -> np.ndarray:
    x = np.asarray(x, float)
    return x[int(warmup * x.size):]


def mean_se(x: pd.Series | np.ndarray, warmup: float = 0.1) -> tuple[float, float]:
    """Mean after a warm-up fraction and its batch-means standard error."""
    tail = _tail(x, warmup)
    return batch_means(tail, batches=min(20, max(2, tail.size // 20)))


# --- notebook 3: the simulation against the model and the tables ---------------------------------

def row_config(row: pd.Series) -> tuple[FabricConfig, str]:
    """A simulated network for one table row: the phase under study with the row's rates and the
    model's fitted communication as link delays; the other phases instantaneous."""
    if row["phase"] == "execute":
        half = row["T_comm model"] / 2
        return FabricConfig(c=int(row["c"]), mu_e=row["mu"], client_endorser=Link(alpha=half),
                            mu_r=FAST, mu_v=FAST, k=1), "execute"
    if row["phase"] == "order":
        l2f = row["T_comm model"] - row["T_c2l model"]
        return FabricConfig(mu_e=FAST, c=1, k=int(row["k"]), mu_r=row["mu"],
                            client_orderer=Link(alpha=row["T_c2l model"]),
                            leader_follower=Link(alpha=l2f / 2), batch_size=int(row["batch_size"]),
                            mu_v=FAST), "validate"
    if row["phase"] == "validate":
        return FabricConfig(mu_e=FAST, c=1, k=1, mu_r=FAST, batch_size=int(row["batch_size"]),
                            mu_v=row["mu"], orderer_peer=Link(alpha=row["T_comm model"])), \
            "validate"
    raise ValueError(f"unknown phase {row['phase']!r}")


def simulate_row(row: pd.Series, n_tx: int, seed: int, warmup: float = 0.1) -> tuple[float, float]:
    """Mean latency of the row's phase in the simulation (Poisson arrivals at the row's lambda)."""
    cfg, stop = row_config(row)
    res = simulate(cfg, Workload(rate=float(row["lam"]), n_tx=n_tx), seed=seed, stop_after=stop)
    if stop == "execute":
        r = res.records
        return mean_se(r["t2"] - r["t1"], warmup)
    ph = sim_phases(res).sort_values("t0")
    return mean_se(ph[str(row["phase"])], warmup)


def des_vs_tables(pred: pd.DataFrame, n_tx: int, seed: int) -> pd.DataFrame:
    """Every table row simulated: adds ``DES`` and ``DES se`` to the predictions."""
    out = pred.copy()
    means, ses = [], []
    for _, row in progress(list(out.iterrows()), desc="table rows"):
        m, se = simulate_row(row, n_tx, derive_seed(seed, "row", int(row["table"]),
                                                    int(row["line"])))
        means.append(m)
        ses.append(se)
    out["DES"], out["DES se"] = means, ses
    return out


def benchmark(n_tx: int, seed: int) -> dict[str, float]:
    """Wall time of one simulation of ``n_tx`` transactions through all three phases (cluster-1
    rates, 3 OSNs, Fabric's block replication, bursty clients at 60% of the endorser)."""
    cfg = FabricConfig(c=1, mu_e=K.MU[1], k=3, mu_r=K.MU[4], batch_size=50, mu_v=185.0 * 2,
                       replication="block", client_endorser=Link(alpha=0.005),
                       client_orderer=Link(alpha=0.005),
                       leader_follower=Link(alpha=0.0005, mbps=1000.0, shared=True),
                       follower_s=0.001, orderer_peer=Link(alpha=0.002),
                       peer_client=Link(alpha=0.002))
    wl = Workload(rate=0.6 * K.MU[1] * 0.5, n_tx=n_tx, kind="bursts", burst_size=5)
    t = time.perf_counter()
    res = simulate(cfg, wl, seed=seed)
    wall = time.perf_counter() - t
    done = int(np.isfinite(res.records["t4"]).sum())
    return {"n_tx": n_tx, "committed": done, "wall_s": wall, "tx_per_s": n_tx / wall}


def closed_form_checks(n_tx: int, seed: int, rho: float = 0.5,
                       mu: float = K.MU[1]) -> dict[str, tuple[float, float, float]]:
    """One endorsing core with Poisson arrivals: the simulated mean wait with exponential and
    with constant service, beside M/M/1 and M/D/1 (Pollaczek-Khinchine)."""
    out = {}
    for name, dist, exact in (("M/M/1", "exp", mm1_wait(rho * mu, mu)),
                              ("M/D/1", "det", md1_wait(rho * mu, mu))):
        res = simulate(FabricConfig(c=1, mu_e=mu, endorse_dist=dist),
                       Workload(rate=rho * mu, n_tx=n_tx), seed=derive_seed(seed, name),
                       stop_after="execute")
        out[name] = (*mean_se(res.truth["endorse_wait"], warmup=0.1), exact)
    return out


def core_scaling(cores: Sequence[int], mu: float, n_tx: int, seed: int,
                 overload: float = 1.25) -> pd.DataFrame:
    """Endorser throughput when offered ``overload`` times its capacity, per core count."""
    rows = []
    for c in cores:
        res = simulate(FabricConfig(c=c, mu_e=mu), Workload(rate=overload * c * mu, n_tx=n_tx),
                       seed=derive_seed(seed, "cores", c), stop_after="execute")
        thr = endorse_throughput(res)
        rows.append({"c": c, "offered (tps)": overload * c * mu, "DES throughput (tps)": thr,
                     "c mu (tps)": c * mu, "throughput / (c mu)": thr / (c * mu)})
    return pd.DataFrame(rows)


def measured_capacity(tables: pd.DataFrame) -> pd.DataFrame:
    """Per execute table and core count: the highest arrival rate the endorser served (every row
    a stable run) and its utilisation."""
    ex = tables[tables["phase"] == "execute"]
    g = ex.groupby(["table", "cluster", "c"])
    return pd.DataFrame({"max served lambda (tps)": g["lam"].max(),
                         "rho there": g["rho"].max()}).reset_index()


def physical_config(k: int, replication: str, uplink_mbps: float, follower_s: float,
                    batch_size: int, mu_r: float = K.MU[6]) -> FabricConfig:
    """A network with physical links: 0.25 ms one-way latency, a shared leader uplink."""
    lan = Link(alpha=0.00025)
    return FabricConfig(c=4, mu_e=K.MU[1], k=k, mu_r=mu_r, replication=replication,
                        follower_s=follower_s, follower_dist="det", batch_size=batch_size,
                        mu_v=2000.0, client_endorser=lan, client_orderer=lan,
                        leader_follower=Link(alpha=0.00025, mbps=uplink_mbps, shared=True),
                        orderer_peer=lan, peer_client=lan)


def replication_sweep(ks: Sequence[int], lams: Sequence[float], n_tx: int, seed: int,
                      uplink_mbps: float, follower_s: float, batch_size: int) -> pd.DataFrame:
    """Per-transaction (the paper) vs per-block (etcdraft) replication: the Raft consensus time a
    transaction pays, and the paper's order and validate phases as a client would measure them."""
    rows = []
    grid = [(k, lam, m) for k in ks for lam in lams for m in ("transaction", "block")]
    for k, lam, mode in progress(grid, desc="replication"):
        cfg = physical_config(k, mode, uplink_mbps, follower_s, batch_size)
        res = simulate(cfg, Workload(rate=lam, n_tx=n_tx),
                       seed=derive_seed(seed, "repl", k, int(lam), mode))
        ph = sim_phases(res).sort_values("t0")
        tr = res.truth.sort_values("t_cutter")
        raft = tr["t_consensus"] - tr["t_ordered"] if mode == "transaction" else ph["raft"]
        rows.append({"k": k, "lambda": lam, "replication": mode,
                     "Raft consensus (ms)": 1e3 * mean_se(raft)[0],
                     "order phase T^r (ms)": 1e3 * mean_se(ph["order"])[0],
                     "validate phase T^v (ms)": 1e3 * mean_se(ph["validate"])[0],
                     "t4 - t0 (ms)": 1e3 * mean_se(ph["total"])[0]})
    return pd.DataFrame(rows)


def batch_size_sweep(batch_sizes: Sequence[int], lam: float, calib: pd.Series, n_tx: int,
                     seed: int, batch_timeout: float = K.BATCH_TIMEOUT_S) -> pd.DataFrame:
    """The waiting-time experiment: block waiting and order latency against BatchSize at one
    arrival rate, with the order-phase parameters of the table row ``calib``."""
    rows = []
    for bs in batch_sizes:
        cfg = replace(row_config(calib)[0], batch_size=int(bs), batch_timeout=batch_timeout)
        res = simulate(cfg, Workload(rate=lam, n_tx=n_tx), seed=derive_seed(seed, "bs", int(bs)))
        ph = sim_phases(res).sort_values("t0")
        wait, wait_se = mean_se(res.truth.sort_values("t_cutter")["block_wait"])
        t_r, t_r_se = mean_se(ph["order"])
        exact = (bs - 1) / (2 * lam) if bs / lam < batch_timeout else np.nan
        rows.append({"BatchSize": int(bs), "DES waiting (s)": wait, "waiting se": wait_se,
                     "model min(BT/2, BS/2lambda) (s)": block_wait(lam, int(bs), batch_timeout),
                     "(BS-1)/(2 lambda) (s)": exact, "DES T_r (s)": t_r, "T_r se": t_r_se,
                     "waiting share of T_r": wait / t_r})
    return pd.DataFrame(rows)


# --- notebook 4: where the approximations break ---------------------------------------------------

def rho_sweep(cores: Sequence[int], rhos: Sequence[float], mu: float, n_tx: int,
              seed: int) -> pd.DataFrame:
    """Endorser waiting time (Poisson arrivals, deterministic service) against utilisation:
    the simulation, the paper's M/D/c approximation and half the M/M/c wait."""
    rows = []
    for c, rho in progress([(c, r) for c in cores for r in rhos], desc="rho"):
        lam = rho * c * mu
        res = simulate(FabricConfig(c=c, mu_e=mu), Workload(rate=lam, n_tx=n_tx),
                       seed=derive_seed(seed, "rho", c, int(1000 * rho)), stop_after="execute")
        w, se = mean_se(res.truth["endorse_wait"], warmup=0.2)
        model = mdc_wait(lam, mu, c)
        rows.append({"c": c, "rho": rho, "DES W_q (ms)": 1e3 * w, "DES se (ms)": 1e3 * se,
                     "M/D/c model (ms)": 1e3 * model,
                     "M/M/c / 2 (ms)": 0.5e3 * mmc_wait(lam, mu, c),
                     "model error (%)": 100 * (model / w - 1) if w > 0 else np.nan})
    return pd.DataFrame(rows)


def burst_sweep(bursts: Sequence[int], cv2s: Sequence[float], rho: float, mu: float, n_tx: int,
                seed: int) -> pd.DataFrame:
    """One endorsing core at utilisation ``rho`` under bursty arrivals: the simulation against
    the paper's Poisson model (M/D/1) and the formula for the actual arrival law."""
    lam, rows = rho * mu, []
    cases = [("bursts", n, 1.0) for n in bursts] + [("h2", 1, v) for v in cv2s]
    for kind, n, v in progress(cases, desc="bursts"):
        res = simulate(FabricConfig(c=1, mu_e=mu),
                       Workload(rate=lam, n_tx=n_tx, kind=kind, burst_size=n, cv2=v),
                       seed=derive_seed(seed, "burst", kind, n, int(10 * v)), stop_after="execute")
        w, se = mean_se(res.truth["endorse_wait"], warmup=0.2)
        exact = mxd1_wait(lam, mu, n) if kind == "bursts" else kingman_wait(lam, mu, v, 0.0)
        rows.append({"arrivals": f"bursts of {n}" if kind == "bursts" else f"H2, CV^2 = {v:g}",
                     "DES W_q (ms)": 1e3 * w, "DES se (ms)": 1e3 * se,
                     "paper's M/D/1 (ms)": 1e3 * mdc_wait(lam, mu, 1),
                     "law's formula (ms)": 1e3 * exact,
                     "formula": "M^X/D/1 (exact)" if kind == "bursts" else "Kingman G/D/1"})
    return pd.DataFrame(rows)


def shared_link_sweep(lams: Sequence[float], bursts: Sequence[int], link_mbps: float, n_tx: int,
                      seed: int, mu: float = K.MU[1], c: int = 4) -> pd.DataFrame:
    """Communication latency of the execute phase over a shared client link (FIFO) against the
    arrival rate, for Poisson and bursty clients, and the effective bandwidth it implies."""
    rows = []
    link = Link(alpha=0.0005, mbps=link_mbps, shared=True)
    for n, lam in progress([(n, lam) for n in bursts for lam in lams], desc="links"):
        res = simulate(FabricConfig(c=c, mu_e=mu, client_endorser=link),
                       Workload(rate=lam, n_tx=n_tx, kind="bursts", burst_size=n),
                       seed=derive_seed(seed, "link", n, int(lam)), stop_after="execute")
        r, tr = res.records, res.truth
        comm = (r["t2"] - r["t1"]).to_numpy() - tr["endorse_wait"].to_numpy() - 1.0 / mu
        m, se = mean_se(comm)
        beta = lam * K.EXEC_MSG_KB * K.KB_TO_MBIT / m
        rows.append({"burst size": n, "lambda": lam, "DES T_comm (ms)": 1e3 * m,
                     "se (ms)": 1e3 * se, "effective bandwidth (Mbps)": beta})
    return pd.DataFrame(rows)


def timeout_sweep(lams: Sequence[float], batch_size: int, n_tx: int, seed: int,
                  batch_timeout: float = K.BATCH_TIMEOUT_S) -> pd.DataFrame:
    """Block waiting against the arrival rate across the BatchTimeout-bound regime."""
    rows = []
    for lam in progress(list(lams), desc="timeout"):
        cfg = FabricConfig(mu_e=FAST, k=1, mu_r=FAST, mu_v=FAST, batch_size=batch_size,
                           batch_timeout=batch_timeout)
        res = simulate(cfg, Workload(rate=lam, n_tx=n_tx), seed=derive_seed(seed, "bt", int(lam)))
        w, se = mean_se(res.truth.sort_values("t_cutter")["block_wait"])
        cut_by_size = float((res.blocks["n_tx"] >= batch_size).mean())
        rows.append({"lambda": lam, "DES waiting (s)": w, "se": se,
                     "model (s)": block_wait(lam, batch_size, batch_timeout),
                     "blocks cut by size": cut_by_size})
    return pd.DataFrame(rows)


def des_mape(rows: pd.DataFrame) -> pd.DataFrame:
    """MAPE (%) per table of the model and the simulation against the measurements, and of the
    simulation against the model."""
    from .model import mape

    return pd.DataFrame([{"table": t, "phase": g["phase"].iloc[0],
                          "model vs measured": mape(g["model"], g["T_meas"]),
                          "DES vs measured": mape(g["DES"], g["T_meas"]),
                          "DES vs model": mape(g["DES"], g["model"])}
                         for t, g in rows.groupby("table")])
