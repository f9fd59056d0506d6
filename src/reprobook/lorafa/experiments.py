"""The chapter's measurements, as functions the notebooks call (memory sweeps, fine-tuning)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import pandas as pd
import torch

from reprobook.core.progress import progress

from .data import load_model
from .layers import to_explicit
from .lowrank import span_residuals
from .memory import (adapted_layers, adapter_activation_bytes, layer_activation_bytes,
                     measure_activation_bytes, measure_layer, measure_training_memory)
from .methods import LABELS, AdapterSpec, prepare

if TYPE_CHECKING:  # .train imports Lightning (seconds): only the fine-tuning functions need it
    from .train import RunConfig

#: Fine-tuning variants: name -> (method, rank as a multiple of the chapter's r).
VARIANTS = {"full": ("full", 1), "lora": ("lora", 1), "lorafa": ("lorafa", 1),
            "head": ("head", 1), "lorafa-v2": ("lorafa-v2", 1), "lorafa-2r": ("lorafa", 2)}


def variant_label(variant: str, r: int) -> str:
    method, k = VARIANTS[variant]
    return LABELS[method] if method in ("full", "head") else f"{LABELS[method]}, r={k * r}"


def layer_sweep(d: int, o: int, r: int, tokens: list[int], ranks: list[int], beta: int = 4,
                batch: int = 4) -> pd.DataFrame:
    """One layer: formula vs measurement across b*s (at rank r) and across ranks (at max b*s)."""
    rows = []
    for method in ("full", "lora", "lorafa"):
        for sweep, n, rr in [("tokens", n, r) for n in tokens] + \
                            [("rank", max(tokens), rr) for rr in ranks]:
            rows.append({"sweep": sweep, "method": method, "tokens": n, "r": rr,
                         "formula": layer_activation_bytes(method, batch, n // batch, d, rr, beta),
                         "measured": measure_layer(method, batch, n // batch, d, o, rr)})
    return pd.DataFrame(rows)


def dropout_check(d: int, r: int, b: int, s: int, p: float = 0.1, beta: int = 4) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "dropout": p,
                          "formula": layer_activation_bytes(m, b, s, d, r, beta, dropout=True),
                          "measured": measure_layer(m, b, s, d, d, r, dropout=p)}
                         for m in ("lora", "lorafa")])


def _probe(tok, texts: list[str], seq: int, batch: int) -> dict[str, torch.Tensor]:  # noqa: ANN001
    enc = tok(texts[:batch], padding="max_length", truncation=True, max_length=seq,
              return_tensors="pt")
    return dict(enc) | {"labels": torch.zeros(batch, dtype=torch.long)}


def model_sweep(texts: list[str], seqs: list[int], ranks: list[int], r_ref: int, batch: int,
                spec: AdapterSpec) -> pd.DataFrame:
    """Whole model (MiniLM, float32, AdamW): measured saved activations of full FT, LoRA and
    LoRA-FA, the formula's prediction, and at ``r_ref`` the overall training memory of one real
    step (weights + gradients + AdamW state + activations, :func:`.memory.measure_training_memory`).

    "Other" activations (everything but the adapted layers' own terms) are taken from LoRA-FA at
    ``r_ref`` for each sequence length; the formula then predicts LoRA at every rank and LoRA-FA
    at the other ranks (``ranks`` are swept at the shortest sequence length only). ``null_predicted`` is what a formula without the paper's per-layer terms
    predicts (every method saves what LoRA-FA at ``r_ref`` saves)."""
    rows: list[dict] = []
    for seq in progress(seqs, desc="whole-model memory"):
        tok, _ = load_model(seed=0)
        probe = _probe(tok, texts, seq, batch)
        here, layers = [], None
        other_ranks = ranks if seq == min(seqs) else []  # the rank sweep at the shortest s
        configs = [("full", None),
                   *((m, r) for r in sorted({r_ref, *other_ranks}) for m in ("lorafa", "lora"))]
        for method, r in configs:
            _, m = load_model(seed=0)
            m, opt_fn = prepare(m, method, AdapterSpec(r=r or r_ref, alpha=spec.alpha,
                                                       targets=spec.targets), 1e-3)
            row = {"method": method, "seq": seq, "r": r}
            if r in (None, r_ref):
                mem = measure_training_memory(m, probe, opt_fn)
                row |= {"measured": mem.activations,
                        **{f"{k}_bytes": v for k, v in mem.as_dict().items()}}
            else:
                m.train()
                row["measured"] = measure_activation_bytes(m, probe)
            if method != "full":  # which layers share an input: one short example suffices
                layers = layers or adapted_layers(m, {k: v[:1, :8] if v.dim() > 1 else v[:1]
                                                      for k, v in probe.items()})
            here.append(row)
        fa_ref = next(x["measured"] for x in here if (x["method"], x["r"]) == ("lorafa", r_ref))
        other = fa_ref - adapter_activation_bytes("lorafa", layers, batch, seq, r_ref, 4)
        for row in here:
            if row["method"] != "full" and (row["method"], row["r"]) != ("lorafa", r_ref):
                row["predicted"] = other + adapter_activation_bytes(row["method"], layers, batch,
                                                                    seq, row["r"], 4)
                row["null_predicted"] = fa_ref
        rows += here
    return pd.DataFrame(rows)


def finetune(variants: list[str], seeds: list[int], spec: AdapterSpec, cfg: RunConfig,
             train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Every variant (:data:`VARIANTS`) over every seed; one row per run, with the per-example
    correctness on ``test`` (``correct``) and without the trained model."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown fine-tuning variant(s) {unknown}; known: {list(VARIANTS)}")
    from .train import run

    rows = []
    jobs = [(v, s) for s in seeds for v in variants]
    for variant, seed in progress(jobs, desc="fine-tuning"):
        method, k = VARIANTS[variant]
        r = k * spec.r
        adapter = AdapterSpec(r=r, alpha=spec.alpha * k, dropout=spec.dropout,
                              targets=spec.targets, head=spec.head)
        out = run(method, seed, adapter, cfg, train, test)
        out.pop("model")
        rows.append({"variant": variant, "label": variant_label(variant, spec.r), **out})
    return pd.DataFrame(rows)


def summary(res: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds per variant, with memory in MiB."""
    mib = 2**20
    return res.groupby("label", sort=False).agg(
        accuracy=("accuracy", "mean"), accuracy_sd=("accuracy", "std"), f1=("f1", "mean"),
        trainable=("trainable", "first"),
        activations_MiB=("activation_bytes", lambda x: x.mean() / mib),
        state_MiB=("state_bytes", lambda x: x.mean() / mib), step_s=("step_s", "mean"))


def span_after_finetuning(methods: tuple[str, ...], seed: int, spec: AdapterSpec,
                          cfg: RunConfig, train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Fine-tune each method once and measure, per adapted layer, how much of Delta W lies
    outside the span of the initial A (:func:`.lowrank.span_residuals`)."""
    from .train import run

    tables = []
    for method in methods:
        out = run(method, seed, spec, cfg, train, test, capture_a0=True)
        t = span_residuals(out["model"], out["a0"]).assign(method=method)
        tables.append(t.assign(layer_index=range(len(t))))
    return pd.concat(tables, ignore_index=True)


def explicit_vs_peft(texts: list[str], spec: AdapterSpec, seq: int = 32, batch: int = 8) -> dict:
    """LoRA-FA two ways on the real model: peft with A frozen, and the explicit autograd
    Function. Same weights, same batch: saved bytes and B's gradients are compared."""
    tok, m1 = load_model(seed=0)
    probe = _probe(tok, texts, seq, batch)
    m1, _ = prepare(m1, "lorafa", spec, 1e-3)
    for n, p in m1.named_parameters():  # a non-zero B, so that dX depends on the LoRA branch
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.02, generator=torch.Generator().manual_seed(1))
    m2 = to_explicit(copy.deepcopy(m1))
    out = {}
    for name, m in (("peft", m1), ("explicit", m2)):
        m.train()
        torch.manual_seed(0)
        out[f"{name}_bytes"] = measure_activation_bytes(m, probe)
        torch.manual_seed(0)
        m(**probe).loss.backward()
    g1 = [p.grad for n, p in m1.named_parameters() if "lora_B" in n]
    g2 = [mod.B.grad.transpose(0, 1) for mod in m2.modules() if hasattr(mod, "B")]
    out["b_grad_max_abs_diff"] = max(float((a - b).abs().max()) for a, b in zip(g1, g2))
    out["layers"] = len(g1)
    return out


__all__ = ["layer_sweep", "dropout_check", "model_sweep", "finetune", "summary",
           "span_after_finetuning", "explicit_vs_peft", "VARIANTS"]
