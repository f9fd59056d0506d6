"""The LoRA-FA chapter's claims and sanity checks (ARCHITECTURE §4), one function per group.

Paper: Zhang et al., "LoRA-FA: Memory-efficient Low-rank Adaptation for Large Language Models
Fine-tuning", arXiv:2308.03303 **v1**. Its abstract states the two claims tested here: accuracy
close to full fine-tuning and LoRA, and overall memory up to 1.4x lower than LoRA's. Every claim
names its null — what a method without the paper's effect would measure — and the criterion
judges that null "not reproduced". Identities of the implementation (a frozen A never moves,
LoRA keeps at least full FT's per-layer input) and closed-form arithmetic (the paper's LLaMA-65B
example) are sanity checks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reprobook.core.claims import (NOT_TRANSCRIBED, AtLeast, AtMost, CloseTo, Equals,
                                   NotTestable, Null, Within)

from .closeness import Closeness, paired

PAPER = "arXiv:2308.03303 v1"
#: Abstract of v1: "reduce the overall memory cost by up to 1.4x compared to LoRA".
PAPER_MEMORY_RATIO = 1.4
#: "Partially": at least half the paper's saving, 1 + (1.4 - 1) / 2.
PARTIAL_MEMORY_RATIO = 1 + (PAPER_MEMORY_RATIO - 1) / 2
#: The whole-model formula's tolerance stated by the chapter's brief (2%).
FORMULA_TOL = 0.02
#: "LoRA saves no activation memory": its saving over full FT, as a share of LoRA-FA's saving.
LORA_SAVING_SHARE = 0.1
#: Standard errors of a "close to" claim's tolerance.
Z_CLOSE = 2.0
MIB, GB = 2**20, 1e9


def _rel_dev(measured: pd.Series, formula: pd.Series) -> float:
    return float(((measured - formula).abs() / formula).max())


def record_layer(run: Any, layer: pd.DataFrame, drop: pd.DataFrame, two: dict) -> None:
    """One adapted layer (notebook 01): the paper's per-layer activation formula."""
    sweep = layer.set_index(["sweep", "tokens", "r", "method"])
    fa = layer[layer.method == "lorafa"].set_index(["sweep", "tokens", "r"])
    lora = layer[layer.method == "lora"].set_index(["sweep", "tokens", "r"])
    dev = _rel_dev(fa["measured"], fa["formula"])
    null = _rel_dev(lora["measured"], fa["formula"])
    run.claim(id="layer-lorafa-bytes",
              claim="An adapted layer under LoRA-FA saves beta*b*s*r bytes for backward "
                    "(X A, not X)", source=f"{PAPER}, memory-complexity analysis",
              paper_value="beta*b*s*r (LoRA: beta*b*s*(d+r))", measured=dev,
              criterion=AtMost(0.0),
              null=Null(null, "a frozen-A layer that still keeps X, as LoRA does"),
              measured_text=f"max relative deviation {dev:.2g} over {len(fa)} layer sizes "
                            f"and ranks")
    n_all = len(layer) + len(drop)
    n_exact = int((layer.formula == layer.measured).sum() + (drop.formula == drop.measured).sum())
    run.sanity(id="layer-formula-exact", check="Per-layer formula of full FT, LoRA and LoRA-FA, "
               "with and without dropout, equals the saved bytes", measured=n_exact,
               criterion=Equals(n_all), measured_text=f"{n_exact}/{n_all} exact to the byte")
    ratio = lora["measured"] / sweep.xs("full", level="method")["measured"]
    run.sanity(id="lora-keeps-x", check="LoRA keeps at least full FT's per-layer activations "
               "(autograd saves X for A's gradient)", measured=float(ratio.min()),
               criterion=AtLeast(1.0),
               measured_text=f"LoRA / full FT per layer: {ratio.min():.3f}-{ratio.max():.3f}")
    same = two["peft_bytes"] == two["explicit_bytes"] and two["b_grad_max_abs_diff"] <= 1e-6
    run.sanity(id="explicit-equals-peft", check="LoRA-FA as an explicit autograd Function and as "
               "peft with A frozen: same saved bytes and gradients of B", measured=same,
               criterion=Equals(True),
               measured_text=f"{two['peft_bytes'] / MIB:.2f} vs {two['explicit_bytes'] / MIB:.2f}"
                             f" MiB; max |dB| difference {two['b_grad_max_abs_diff']:.1e}")


def _overall(whole: pd.DataFrame, r_ref: int) -> pd.DataFrame:
    at = whole[whole.r.isna() | (whole.r == r_ref)]
    return at.pivot(index="seq", columns="method", values="total_bytes")


def record_whole_model(run: Any, whole: pd.DataFrame, r_ref: int, batch: int) -> None:
    """The whole pretrained model (notebook 01): formula, LoRA vs full, overall memory."""
    pred = whole.dropna(subset=["predicted"])
    err = _rel_dev(pred["measured"], pred["predicted"])
    null_err = _rel_dev(pred["measured"], pred["null_predicted"])
    run.claim(id="whole-model-formula", claim="The per-layer terms predict the whole model's "
              "activations (LoRA at every rank, LoRA-FA across ranks)",
              source=f"{PAPER}, memory-complexity analysis",
              paper_value="beta*b*s*(d+r) vs beta*b*s*r per adapted layer", measured=err,
              criterion=AtMost(FORMULA_TOL),
              null=Null(null_err, "a formula without the per-layer terms (LoRA saves what "
                                  "LoRA-FA saves)"),
              measured_text=f"max relative error {err:.2e} over {len(pred)} predictions")
    act = whole[whole.r.isna() | (whole.r == r_ref)].pivot(index="seq", columns="method",
                                                           values="measured")
    top = act.index.max()
    full, lora, fa = (float(act.loc[top, m]) for m in ("full", "lora", "lorafa"))
    share = (full - lora) / (full - fa)
    run.claim(id="lora-activations-like-full", claim="LoRA saves almost no activation memory "
              f"over full FT (whole MiniLM, b={batch}, s={top}): its saving is at most "
              f"{LORA_SAVING_SHARE:.0%} of LoRA-FA's", source=f"{PAPER}, introduction",
              paper_value="LoRA stores the full-rank inputs, as full FT does", measured=share,
              criterion=AtMost(LORA_SAVING_SHARE),
              null=Null(1.0, "a LoRA that keeps only X A (it saves what LoRA-FA saves)"),
              measured_text=f"(full - LoRA) / (full - LoRA-FA) = {share:.3f} ({full / MIB:.1f}, "
                            f"{lora / MIB:.1f}, {fa / MIB:.1f} MiB)")
    tot = _overall(whole, r_ref)
    ratios = tot["lora"] / tot["lorafa"]
    best = int(ratios.idxmax())
    row = tot.loc[best]
    run.claim(id="lorafa-overall-memory",
              claim="Overall training memory (weights + gradients + AdamW state + measured "
                    f"activations), LoRA / LoRA-FA, whole MiniLM, b={batch}, largest over "
                    f"s in {list(tot.index)}", source=f"{PAPER}, abstract",
              paper_value=f"up to {PAPER_MEMORY_RATIO}x", measured=float(ratios.max()),
              criterion=AtLeast(PAPER_MEMORY_RATIO, partial=PARTIAL_MEMORY_RATIO),
              null=Null(1.0, "LoRA's own memory (no reduction)"),
              measured_text=f"{ratios.max():.2f}x at s={best} ({row['lora'] / MIB:.0f} vs "
                            f"{row['lorafa'] / MIB:.0f} MiB; full FT {row['full'] / MIB:.0f} MiB)")


def record_finetuning(run: Any, res: pd.DataFrame, profile: str) -> list[Closeness]:
    """Fine-tuning accuracy (notebook 02): LoRA-FA close to full FT and to LoRA, each testable
    only where the reference beats the head-only control by more than the tolerance."""
    out = []
    for ref, name in (("full", "full FT"), ("lora", "LoRA")):
        c = paired(res, "lorafa", ref)
        tol = c.tolerance(Z_CLOSE)
        if c.testable(Z_CLOSE):
            crit: Any = CloseTo(0.0, z=Z_CLOSE, se=c.se)
        else:
            crit = NotTestable(f"{name} beats the head-only control by {c.gap:+.3f}, not more "
                               f"than the tolerance {tol:.3f} (2 SE): at {profile} this run "
                               f"cannot tell 'close to {name}' from no fine-tuning")
        per_seed = ", ".join(f"{d:+.3f}" for d in c.diffs)
        run.claim(id=f"lorafa-close-to-{ref}",
                  claim=f"LoRA-FA's accuracy is close to {name}'s (paired over seeds, same test "
                        "set)", source=f"{PAPER}, abstract; fine-tuning tables (GLUE, MMLU)",
                  paper_value=f"close; gap per task {NOT_TRANSCRIBED} (v1 tables not read here)",
                  measured=c.mean, criterion=crit,
                  null=Null(c.null_mean, f"the head-only control (an adapter that learns "
                                         f"nothing) minus {name}"),
                  measured_text=f"mean LoRA-FA - {name} {c.mean:+.3f} (seeds {per_seed}); "
                                f"SE {c.se:.3f} (seeds {c.se_seeds:.3f}, test set "
                                f"{c.se_test:.3f}); {name} - head only {c.gap:+.3f}")
        out.append(c)
    return out


def record_lowrank(run: Any, res: pd.DataFrame) -> None:
    """The low-rank property (notebook 03): identities of a frozen A, with LoRA as contrast."""
    fa, lo = res[res.method == "lorafa"], res[res.method == "lora"]
    run.sanity(id="delta-w-in-span-a", check="LoRA-FA's weight change stays in span(A_0) and A "
               "never changes", measured=float(max(fa["residual"].max(), fa["a_changed"].max())),
               criterion=AtMost(1e-6),
               measured_text=f"max residual {fa['residual'].max():.1e}, A moved "
                             f"{fa['a_changed'].max():.1e}")
    run.sanity(id="lora-leaves-span-a", check="LoRA's weight change leaves span(A_0) (the check "
               "above can fail)", measured=float(lo["residual"].max()), criterion=AtLeast(1e-3),
               measured_text=f"max residual {lo['residual'].max():.2f}")


def record_llama(run: Any, llm: pd.DataFrame, ratios: pd.Series, shape: str, dtype: str,
                 counts: pd.DataFrame, example_gb: dict[str, float]) -> None:
    """LLaMA-shaped models (notebook 04): what LoRA keeps, peak memory, the 65B example."""
    ratio = counts["measured LoRA - LoRA-FA"] / counts["paper's count: inputs LoRA keeps"]
    exact = counts["measured LoRA - LoRA-FA"] / counts["count without o_proj's input"]
    worst = float(ratio.min())
    run.claim(id="llama-lora-inputs", claim="What LoRA keeps and LoRA-FA does not, on a "
              "LLaMA-shaped model, is the adapted layers' inputs (measured / the paper's count)",
              source=f"{PAPER}, introduction and memory analysis",
              paper_value="the inputs X of every adapted layer", measured=worst,
              criterion=Within(1.0, FORMULA_TOL, partial_rel_tol=0.25),
              null=Null(0.0, "a LoRA-FA that keeps X as LoRA does: no difference"),
              measured_text=f"{shape}, CPU: measured / count {ratio.min():.3f}-{ratio.max():.3f}; "
                            f"measured / the count without o_proj's input (which attention keeps "
                            f"anyway) {exact.min():.3f}-{exact.max():.3f}")
    if "peak_bytes" in llm and len(ratios):
        crit: Any = AtLeast(PAPER_MEMORY_RATIO, partial=PARTIAL_MEMORY_RATIO)
        text = (f"peak LoRA / LoRA-FA up to {ratios.max():.2f}x ({shape}, {dtype}, s in "
                f"{list(ratios.index)})")
        measured = float(ratios.max())
    else:
        crit = NotTestable("peak GPU memory of LoRA and LoRA-FA on LLaMA-7B's shapes needs CUDA "
                           "(gpu-1x; gpu-smoke runs one sequence length)")
        seen = f"; overall memory on the CPU up to {ratios.max():.2f}x" if len(ratios) else ""
        text, measured = f"not run on a GPU: {shape} on {', '.join(sorted(set(llm.device)))}" \
            f"{seen}", None
    run.claim(id="llama-peak-memory", claim="Peak training memory LoRA / LoRA-FA on a "
              "LLaMA-7B-shaped model (bf16, all projections adapted)",
              source=f"{PAPER}, abstract and LLaMA memory study",
              paper_value=f"up to {PAPER_MEMORY_RATIO}x", measured=measured, criterion=crit,
              null=Null(1.0, "LoRA's own peak (no reduction)"), measured_text=text)
    run.sanity(id="llama65b-lora-inputs", check="Closed form: LoRA's adapted-layer inputs for "
               "LLaMA-65B at s=2048, b=4, fp16 exceed 50 GB (the paper's motivating example)",
               source=f"{PAPER}, introduction", measured=example_gb["all projections"],
               criterion=AtLeast(50.0),
               measured_text="; ".join(f"{k}: {v:.1f} GB" for k, v in example_gb.items()))
