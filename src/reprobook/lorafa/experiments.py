"""The chapter's measurements, as functions the notebooks call (memory sweeps, fine-tuning)."""

from __future__ import annotations

import copy

import pandas as pd
import torch

from reprobook.core.progress import progress

from .data import load_model
from .layers import to_explicit
from .memory import (adapted_layers, adapter_activation_bytes, layer_activation_bytes,
                     measure_activation_bytes, measure_layer)
from .methods import AdapterSpec, prepare
from .train import RunConfig, run


def layer_sweep(d: int, o: int, r: int, tokens: list[int], ranks: list[int], beta: int = 4,
                batch: int = 4) -> pd.DataFrame:
    """One layer: formula vs measurement across b*s (at rank r) and across ranks (at max b*s)."""
    rows = []
    for method in ("full", "lora", "lorafa"):
        for n in tokens:
            rows.append({"sweep": "tokens", "method": method, "tokens": n, "r": r,
                         "formula": layer_activation_bytes(method, batch, n // batch, d, r, beta),
                         "measured": measure_layer(method, batch, n // batch, d, o, r)})
        for rr in ranks:
            n = max(tokens)
            rows.append({"sweep": "rank", "method": method, "tokens": n, "r": rr,
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
    """Whole model (MiniLM): measured saved bytes for full FT, LoRA, LoRA-FA, and the formula's
    prediction. "Other" activations (everything but the adapted layers' own terms) are taken
    from LoRA-FA at ``r_ref`` for each sequence length; the formula then predicts LoRA at every
    rank and LoRA-FA at the other ranks."""
    rows = []
    for seq in progress(seqs, desc="whole-model memory"):
        tok, base = load_model(seed=0)
        probe = _probe(tok, texts, seq, batch)
        base.train()
        rows.append({"method": "full", "seq": seq, "r": None,
                     "measured": measure_activation_bytes(base, probe), "predicted": None})
        measured: dict[tuple[str, int], int] = {}
        layers = None
        for r in sorted({r_ref, *ranks}):
            for method in ("lora", "lorafa"):
                _, m = load_model(seed=0)
                m, _ = prepare(m, method, AdapterSpec(r=r, alpha=spec.alpha, targets=spec.targets), 1e-3)
                m.train()
                layers = layers or adapted_layers(m, probe)
                measured[(method, r)] = measure_activation_bytes(m, probe)
        other = measured[("lorafa", r_ref)] - adapter_activation_bytes("lorafa", layers, batch, seq, r_ref, 4)
        for (method, r), value in measured.items():
            pred = None if (method, r) == ("lorafa", r_ref) else \
                other + adapter_activation_bytes(method, layers, batch, seq, r, 4)
            rows.append({"method": method, "seq": seq, "r": r, "measured": value, "predicted": pred})
    return pd.DataFrame(rows)


def finetune(variants: list[tuple[str, int]], seeds: list[int], spec: AdapterSpec,
             cfg: RunConfig, train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Every (method, rank) variant over every seed; one row per run (the model is dropped)."""
    rows = []
    jobs = [(m, r, s) for s in seeds for m, r in variants]
    for method, r, seed in progress(jobs, desc="fine-tuning"):
        out = run(method, seed, AdapterSpec(r=r, alpha=spec.alpha * r / spec.r, dropout=spec.dropout,
                                            targets=spec.targets, head=spec.head), cfg, train, test)
        out.pop("model")
        rows.append(out)
    return pd.DataFrame(rows)


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


__all__ = ["layer_sweep", "dropout_check", "model_sweep", "finetune", "explicit_vs_peft"]
