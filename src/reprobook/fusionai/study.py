"""What notebooks 1 and 2 run: the headline sweep, the DAG/IR checks, the scheduler studies.

Each function takes plain parameters (the notebook's) and returns tables (pandas) or small
dataclasses; plotting lives in :mod:`.plots`, claims in :mod:`.claims`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import constants as K_
from . import headline as H
from .churn import random_fleet
from .dag import llama_dag, unit_costs
from .ir import Executor, from_dag, load, save
from .llama import build, named_config, n_params, synthetic_tokens, LlamaConfig
from .oracle import brute_force, ilp
from .scheduler import InfeasibleError, Job, equal_partition, plan
from .simbackend import SimPyBackend, simulate_pipeline


def gpu_table() -> pd.DataFrame:
    return pd.DataFrame([{"GPU": g.name, "FP16 tensor TFLOPS (dense)": g.flops / 1e12,
                          "memory GB": g.memory / 1e9, "memory bandwidth GB/s": g.mem_bw / 1e9,
                          "source": g.source} for g in K_.GPUS.values()])


# -- notebook 1: the headline ------------------------------------------------------------------
@dataclass
class Headline:
    table: pd.DataFrame  # one row per workload x bandwidth x baseline GPU
    curves: dict[str, tuple[np.ndarray, float]]  # workload -> (throughput by N, 4-H100 level)


def headline_sweep(model: str, bandwidths_gbps: list[float], n_max: int, latency_s: float,
                   eta: float, eta_mem: float, curve_gbps: float,
                   baselines: tuple[str, ...] = ("h100_pcie", "h100_sxm")) -> Headline:
    rows, curves = [], {}
    for wname, w in H.WORKLOADS.items():
        for base in baselines:
            b_tp, b_cfg = H.baseline_throughput(w, base, model=model, eta=eta, eta_mem=eta_mem)
            for gb in sorted(set(bandwidths_gbps) | {curve_gbps}):
                cur = H.fleet_curve(w, K_.PAPER_FLEET_GPU, n_max, gb * K_.GBPS, latency_s,
                                    model=model, eta=eta, eta_mem=eta_mem)
                n_star = H.n_to_match(cur, b_tp)
                cfg50 = cur.config[K_.PAPER_FLEET_N] or {}
                rows.append({"workload": wname, "baseline": base, "link Gbps": gb,
                             "4-GPU tokens/s": b_tp, "50 x 3080 tokens/s":
                             cur.throughput[K_.PAPER_FLEET_N],
                             "ratio at 50": cur.throughput[K_.PAPER_FLEET_N] / b_tp,
                             "4 x 3080 ratio": cur.throughput[K_.PAPER_BASELINE_N] / b_tp,
                             "3080s to match": n_star, "3080s per H100": n_star / 4,
                             "config at 50": _cfg(cfg50), "baseline config": _cfg(b_cfg or {})})
                if base == baselines[0] and gb == curve_gbps:
                    curves[wname] = (cur.throughput, b_tp)
    return Headline(pd.DataFrame(rows), curves)


def _cfg(c: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in c.items()) if c else "does not fit"


def model_summary(model: str, seq_len: int) -> pd.DataFrame:
    cfg = named_config(model)
    c = unit_costs(llama_dag(cfg, seq_len), source=model)
    return pd.DataFrame({"unit": c.names, "parameters (M)": c.params / 1e6,
                         "forward GFLOP per sequence": c.flops / 1e9,
                         "activations MB per sequence": c.act_bytes / 1e6,
                         "boundary MB per sequence": c.boundary_bytes / 1e6})


# -- notebook 2: DAG, IR, scheduling -----------------------------------------------------------
@dataclass
class IRCheck:
    path: str
    n_nodes: int
    equal_to_module: bool
    max_diff_hf: float
    hf_scale: float
    fp64_noise: float
    null_diff: float


def ir_check(cfg: LlamaConfig, seq_len: int, n_seq: int, seed: int, path: str) -> IRCheck:
    """Export the DAG as an IR file, read it back, execute it with (1) this chapter's Llama
    weights against the Llama module and (2) a Hugging Face ``LlamaForCausalLM``'s own weights
    against its own forward; the null binds the blocks' weights in reverse order."""
    from transformers import LlamaConfig as HFConfig, LlamaForCausalLM

    G = llama_dag(cfg, seq_len, dtype_bytes=4)
    p = save(from_dag(G, ["lm_head", "loss"]), path)
    ir = load(p)
    x, y = synthetic_tokens(cfg, n_seq, seq_len, seed)
    model = build(cfg, seed)
    with torch.no_grad():
        same = torch.equal(Executor(ir, dict(model.state_dict())).run(
            {"tokens": x, "targets": y})["lm_head"], model(x))
        hc = HFConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden, intermediate_size=cfg.ffn,
                      num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads,
                      num_key_value_heads=cfg.n_kv_heads, rms_norm_eps=cfg.eps,
                      rope_theta=cfg.rope_theta, max_position_embeddings=max(seq_len, 64),
                      tie_word_embeddings=False)
        torch.manual_seed(seed + 1)
        hf = LlamaForCausalLM(hc).eval()  # Hugging Face's own initialisation, not ours
        ref = hf(x).logits
        sd = {k: v for k, v in hf.state_dict().items() if "rotary" not in k}
        got = Executor(ir, sd).run({"tokens": x, "targets": y})["lm_head"]
        ref64 = hf.double()(x).logits
        hf.float()
        L = cfg.n_layers
        swapped = {_swap_layer(k, L): v for k, v in sd.items()}
        bad = Executor(ir, swapped).run({"tokens": x, "targets": y})["lm_head"]
    return IRCheck(str(p), len(ir.nodes), bool(same), float((got - ref).abs().max()),
                   float(ref.abs().max()), float((ref64.float() - ref).abs().max()),
                   float((bad - ref).abs().max()))


def _swap_layer(name: str, L: int) -> str:
    parts = name.split(".")
    if len(parts) > 2 and parts[1] == "layers":
        parts[2] = str(L - 1 - int(parts[2]))
    return ".".join(parts)


def scheduling_job(model: str, seq_len: int, m: int, recompute: bool = True) -> Job:
    return Job(unit_costs(llama_dag(named_config(model), seq_len), source=model), "train",
               b=1, m=m, recompute=recompute)


def dp_vs_equal(job: Job, n_devices: int, seeds: list[int]) -> pd.DataFrame:
    """Per seed: a random heterogeneous fleet; the DP's and the equal partition's makespans."""
    rows = []
    for s in seeds:
        fleet = random_fleet(n_devices, s)
        dp = plan(job, fleet)
        eq = equal_partition(job, fleet)
        same = equal_partition(job, [st.device for st in dp.stages], order=False)
        rows.append({"seed": s, "devices": n_devices, "DP stages": len(dp.stages),
                     "DP makespan s": dp.makespan(), "equal makespan s": eq.makespan(),
                     "equal fits memory": eq.feasible,
                     "gain": (eq.makespan() - dp.makespan()) / eq.makespan()
                     if eq.feasible else math.nan,
                     "equal on DP's devices s": same.makespan(),
                     "equal on DP's devices fits": same.feasible,
                     "gain on same devices": (same.makespan() - dp.makespan()) / same.makespan()
                     if same.feasible else math.nan,
                     "DP bottleneck s": dp.bottleneck, "equal bottleneck s": eq.bottleneck})
    return pd.DataFrame(rows)


def oracle_cases(job: Job, n_cases: int, n_devices: int, seed: int) -> pd.DataFrame:
    """Small cases: the DP against the ordered integer program and brute force, and the
    order-free optimum (what fixing the device order costs)."""
    rows, rng = [], np.random.default_rng(seed)
    for i in range(n_cases):
        fleet = random_fleet(n_devices, int(rng.integers(1 << 30)), prefix=f"c{i}-")
        row = {"case": i, "devices": n_devices, "units": job.L}
        try:
            row["DP"] = plan(job, fleet).bottleneck
        except Exception:  # noqa: BLE001 - an infeasible case is a row too
            row["DP"] = math.inf
        for name, fn in (("ILP ordered", lambda f: ilp(job, f)[0]),
                         ("brute force ordered", lambda f: brute_force(job, f)),
                         ("ILP any order", lambda f: ilp(job, f, ordered=False)[0])):
            try:
                row[name] = fn(fleet)
            except Exception:  # noqa: BLE001
                row[name] = math.inf
        rows.append(row)
    df = pd.DataFrame(rows)
    df["DP = ILP"] = np.isclose(df["DP"], df["ILP ordered"], rtol=1e-7) | (
        np.isinf(df["DP"]) & np.isinf(df["ILP ordered"]))
    df["order cost"] = df["DP"] / df["ILP any order"] - 1
    return df


def truncated(model: str, n_layers: int, seq_len: int, m: int) -> Job:
    cfg = named_config(model)
    cfg = LlamaConfig(**{**cfg.to_dict(), "n_layers": n_layers})
    return Job(unit_costs(llama_dag(cfg, seq_len), source=f"{model}[:{n_layers}]"), "train",
               b=1, m=m, recompute=True)


def dp_benchmark(model: str, seq_len: int, fleet_sizes: list[int], seed: int,
                 m: int = 8) -> pd.DataFrame:
    """Wall time of the DP for an L-layer model over growing fleets (timings, not results)."""
    job = scheduling_job(model, seq_len, m)
    rows = []
    for n in fleet_sizes:
        fleet = random_fleet(n, seed)
        t0 = time.perf_counter()
        try:
            used: int | str = len(plan(job, fleet).stages)
        except InfeasibleError:
            used = "cannot hold the model"
        rows.append({"devices": n, "units": job.L, "stages used": used,
                     "DP seconds": time.perf_counter() - t0})
    return pd.DataFrame(rows)


def simpy_matches_formula(job: Job, n_devices: int, seeds: list[int], tick: float = 1e-6
                          ) -> pd.DataFrame:
    """The DP's pipelines simulated by SimPy (integer ticks) against the makespan formula."""
    from .perfmodel import pipeline_makespan

    be, rows = SimPyBackend(tick), []
    for s in seeds:
        p = plan(job, random_fleet(n_devices, s))
        t, c = [be.ticks(x) for x in p.t], [be.ticks(x) for x in p.c]
        rows.append({"seed": s, "stages": len(t), "m": job.m,
                     "SimPy ticks": simulate_pipeline(t, c, job.m),
                     "formula ticks": pipeline_makespan(t, c, job.m)})
    df = pd.DataFrame(rows)
    df["equal"] = df["SimPy ticks"] == df["formula ticks"]
    return df


# -- notebook 4: scope -------------------------------------------------------------------------
SCOPE = [
    ("broker with a backup pool (join, quit, heartbeats)", "design",
     "built: reprobook.fusionai.broker", "SimPy, 50-1,000 virtual devices; Ray, 5 actors here"),
    ("task scheduling by hardware performance", "design",
     "built: DP partition (exact for a fixed device order), PuLP oracles", "ran on data-sheet fleets"),
    ("ML procedures as DAGs (model and task universality)", "design",
     "built for Llama (networkx); other models need their own DAG builder", "ran"),
    ("IR and execution plane (device and framework compatibility)", "design",
     "built: JSON IR + torch executor; checked against transformers' Llama", "ran on CPU"),
    ("50 RTX 3080 ~ 4 H100 throughput", "analysis (\"we envision\")",
     "re-derived with a performance model per workload and bandwidth", "analysis, no GPU run"),
    ("privacy of users' data and prompts", "design goal",
     "out of scope: nothing here protects data", "not run"),
    ("incentives, payment, trust between providers", "mentioned",
     "out of scope", "not run"),
    ("real consumer GPUs over the internet", "envisioned deployment",
     "not available: links emulated (sleep) or simulated, GPUs from data sheets", "not run"),
    ("pre-training, fine-tuning and inference", "design",
     "training and inference in the performance model; training of a tiny Llama on Ray",
     "ran at toy scale"),
]


def scope_table() -> pd.DataFrame:
    return pd.DataFrame(SCOPE, columns=["paper's component", "in the paper", "this chapter",
                                        "what ran"])
