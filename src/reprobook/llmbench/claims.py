"""The chapter's claims and sanity checks (ARCHITECTURE §4).

Claims are the paper's findings (Zhang et al., arXiv:2311.03687; its numeric tables are not
transcribed here, so the paper's values are its qualitative statements). Each names its null:
what a run *without* the effect would measure. The agreements of this chapter's formulas with
the real Hugging Face implementation (parameter counts, saved activations, KV cache, FLOPs) and
with DeepSpeed's estimator are not the paper's statements: they are sanity checks — real ones,
which fail if a formula or the library changes.
"""

from __future__ import annotations

import statistics
from typing import Any

from reprobook.core.claims import AtLeast, AtMost, Equals, NotTestable, Null, PairedTest, Within

from .constants import ZERO_EXAMPLE_GB

PAPER = "Zhang et al. 2023"
GPU8 = "needs 8 GPUs and DeepSpeed (the gpu-8x profile)"

# ------------------------------------------------------------------------------ sanity checks


def record_memory_checks(run: Any, params: list[dict], zero: list[dict], acts: list[dict],
                         kv: list[dict], ds: list[dict]) -> None:
    """Formulas vs transformers (meta device, saved tensors, KV cache) and vs DeepSpeed."""
    for r in params:
        same = r["formula"] == r["published"] == (r["transformers (meta device)"] or r["formula"])
        run.sanity(id=f"params-{r['model']}", check=f"{r['model']}: parameter count from the "
                   f"config equals the published count and transformers' (meta device)",
                   measured=same, criterion=Equals(True), source="Touvron et al. 2023; brief",
                   measured_text=f"formula {r['formula']:,}, published {r['published']:,}, "
                                 f"transformers {r['transformers (meta device)']}")
    got = {r["stage"]: round(r["GB per GPU"], 1) for r in zero}
    run.sanity(id="zero-paper-example", check="ZeRO states of 7.5B params on 64 GPUs "
               "(stages 0-3, GB at the paper's rounding)", measured=got == ZERO_EXAMPLE_GB,
               criterion=Equals(True), source="Rajbhandari et al. 2020, Figure 1",
               measured_text=f"{got} vs {ZERO_EXAMPLE_GB}")
    for r in acts:
        run.sanity(id=f"activations-{r['dtype']}-g{r['kv heads']}-{r['attention']}"
                      f"{'-recompute' if r['recompute'] else ''}",
                   check=f"saved activations of the HF Llama ({r['dtype']}, {r['attention']}, "
                         f"kv heads {r['kv heads']}, recompute {r['recompute']}) = formula",
                   measured=r["measured / formula"], criterion=Within(1.0, 0.01),
                   measured_text=f"{r['measured bytes']:,} B measured, "
                                 f"{r['formula bytes']:,} B formula")
    for r in kv:
        run.sanity(id=f"kv-cache-g{r['kv heads']}", check=f"KV cache bytes of a real prefill "
                   f"= 2 L g d e per token (kv heads {r['kv heads']})",
                   measured=r["measured bytes"] == r["formula bytes"], criterion=Equals(True),
                   measured_text=f"{r['measured bytes']:,} B vs {r['formula bytes']:,} B")
    called = [r for r in ds if r["DeepSpeed estimator (GB)"] is not None]
    if called:
        worst = max(abs(r["DeepSpeed accounting (GB)"] / r["DeepSpeed estimator (GB)"] - 1)
                    for r in called)
        run.sanity(id="deepspeed-estimator", check="this chapter's DeepSpeed accounting equals "
                   "DeepSpeed's estimate_zero{2,3}_model_states_mem_needs", measured=worst,
                   criterion=AtMost(1e-9), source="deepspeed.runtime.zero",
                   measured_text=f"largest relative difference {worst:.1e} over {len(called)}")


def record_flops(run: Any, rows: list[dict]) -> None:
    for r in rows:
        run.sanity(id="flops-vs-counter", check="6 P_mm T + 12 L s h T equals FlopCounterMode "
                   "on a training step (eager attention) within 5%",
                   measured=r["counted / formula"], criterion=Within(1.0, 0.05),
                   measured_text=f"{r['FlopCounterMode']:.4g} counted vs "
                                 f"{r['formula 6 P_mm T + 12 L s h T']:.4g} formula")


def record_coverage(run: Any, shares: dict[str, dict[str, float]]) -> None:
    worst = min(s["covered"] for s in shares.values())
    run.sanity(id="breakdown-coverage", check="the paper's categories cover >= 95% of the "
               "profiled step time (every configuration)", measured=round(worst, 3),
               criterion=AtLeast(0.95), measured_text=f"lowest coverage {worst:.1%}")


# ------------------------------------------------------------------------------------- claims


def _gpu_claim(run: Any, id: str, claim: str, paper: str, prediction: str, measured: Any,
               criterion: Any, null: Null, text: str | None) -> None:
    if measured is None:
        run.claim(id=id, claim=claim, source=PAPER, paper_value=paper, measured=None,
                  criterion=NotTestable(GPU8), null=null,
                  measured_text=f"not run at {run.profile}; model predicts {prediction}")
    else:
        run.claim(id=id, claim=claim, source=PAPER, paper_value=paper, measured=measured,
                  criterion=criterion, null=null, measured_text=f"{text}; model: {prediction}")


def record_zero(run: Any, predicted: dict[str, float], measured: dict[str, float] | None) -> None:
    """(1) ZeRO-2 saves memory without throughput loss; (2) ZeRO-3 / offload fit larger models
    at a throughput cost. ``measured`` (gpu-8x) holds per-GPU peak and tokens/s ratios."""
    m = measured or {}
    _gpu_claim(run, "zero2-saves-memory", "ZeRO-2 lowers per-GPU peak memory vs ZeRO-0 (DDP)",
               "ZeRO-2 saves memory (Sec. 4)", f"ratio {predicted['zero2/zero0 memory']:.2f} "
               "for Llama-2-7B on 8 GPUs", m.get("zero2/zero0 memory"),
               AtMost(0.8, partial=0.95), Null(1.0, "ZeRO-0's own memory (ratio 1)"),
               f"ZeRO-2 / ZeRO-0 peak {m.get('zero2/zero0 memory', 0):.2f}")
    _gpu_claim(run, "zero2-keeps-throughput", "ZeRO-2 keeps ZeRO-0's throughput",
               "no throughput loss (Sec. 4)", "equal communication volume (2 x params)",
               m.get("zero2/zero0 tokens/s"), Within(1.0, 0.05, partial_rel_tol=0.1),
               Null(0.75, "a quarter of the throughput lost, like an offloaded optimizer step"),
               f"ZeRO-2 / ZeRO-0 tokens/s {m.get('zero2/zero0 tokens/s', 0):.2f}")
    _gpu_claim(run, "zero3-offload-larger", "ZeRO-3 + offload fit a larger model than ZeRO-2 "
               "(parameters ratio of the largest model that fits)", "ZeRO-3 suits larger "
               "models; offload slows training (Sec. 4)",
               f"largest fitting on 8x24 GB: {predicted['largest zero2 24GB']} with ZeRO-2, "
               f"{predicted['largest zero3off 24GB']} with ZeRO-3 + offload",
               m.get("largest zero3off / zero2 params"), AtLeast(1.5, partial=1.01),
               Null(1.0, "the same largest model as ZeRO-2"),
               f"largest model ratio {m.get('largest zero3off / zero2 params', 0):.2f}")


def record_recompute(run: Any, act_ratio: float, round_ratios: list[float],
                     predicted: dict[str, float]) -> None:
    """(3) Recomputation trades throughput for memory (activations measured; step times paired
    by round on this device)."""
    run.claim(id="recompute-saves-memory", claim="Full recomputation shrinks the activations "
              "kept for backward (recompute / SDPA)", source=PAPER,
              paper_value="recomputation saves memory (Sec. 4)", measured=round(act_ratio, 4),
              criterion=AtMost(0.5, partial=0.9), null=Null(1.0, "no saving: ratio 1"),
              measured_text=f"{act_ratio:.3f} measured (model "
                            f"{predicted['recompute/sdpa activations']:.3f})")
    diffs = [round(r - 1.0, 3) for r in round_ratios]
    _paired(run, "recompute-costs-throughput", "Full recomputation lengthens the step "
            "(step time recompute / SDPA - 1, per round)", "recomputation costs throughput "
            "(Sec. 4)", diffs, f"model: x{predicted['recompute FLOPs factor']:.2f} FLOPs",
            "no slowdown")


def record_sdpa(run: Any, act_ratio: float, round_ratios: list[float],
                predicted: dict[str, float]) -> None:
    """(4) FlashAttention/SDPA speeds up and saves memory (eager vs SDPA)."""
    run.claim(id="sdpa-saves-memory", claim="SDPA (flash-style) attention keeps fewer "
              "activations than eager attention (SDPA / eager)", source=PAPER,
              paper_value="FlashAttention saves memory (Sec. 4)", measured=round(act_ratio, 4),
              criterion=AtMost(0.95, partial=0.99), null=Null(1.0, "eager's own memory"),
              measured_text=f"{act_ratio:.3f} measured (model "
                            f"{predicted['sdpa/eager activations']:.3f})")
    diffs = [round(r - 1.0, 3) for r in round_ratios]
    _paired(run, "sdpa-speeds-up", "SDPA shortens the step vs eager attention (step time "
            "eager / SDPA - 1, per round)", "FlashAttention speeds up training (Sec. 4)",
            diffs, "model: same FLOPs; the gain is memory traffic", "no speed-up")


def _paired(run: Any, id: str, claim: str, paper: str, diffs: list[float], note: str,
            null_means: str) -> None:
    if len(diffs) < 2:
        run.claim(id=id, claim=claim, source=PAPER, paper_value=paper, measured=None,
                  criterion=NotTestable("needs >= 2 rounds of the technique sweep"),
                  null=Null([0.0, 0.0], null_means), measured_text=f"{len(diffs)} round(s)")
        return
    crit = PairedTest()
    run.claim(id=id, claim=claim, source=PAPER, paper_value=paper, measured=diffs,
              criterion=crit, null=Null([0.0] * len(diffs), null_means),
              measured_text=f"{crit.format(diffs)}; median {statistics.median(diffs):+.3f} "
                            f"[{run.profile}, {run.device.device}]; {note}")


def record_decoder_share(run: Any, share: float, predicted: float, device: str) -> None:
    """(5) Decoder layers (attention + MLP + norms) dominate step time."""
    run.claim(id="decoder-dominates", claim="Decoder layers take most of the step time "
              "(profiled share, SDPA configuration)", source=PAPER,
              paper_value="decoder layers dominate compute time (Sec. 5)",
              measured=round(share, 3), criterion=AtLeast(0.75, partial=0.55),
              null=Null(0.5, "no dominance: at most half the step"),
              measured_text=f"{share:.1%} on {device} (FLOP share predicted {predicted:.1%}); "
                            f"CPU shares demonstrate the method, not GPU ratios")


def record_bandwidth(run: Any, rows: list[dict]) -> None:
    """Bus bandwidth grows with message size (latency-bound small messages)."""
    ar = sorted((r for r in rows if r["op"] == "all_reduce"), key=lambda r: r["bytes"])
    ratio = ar[-1]["busbw_GBps"] / ar[0]["busbw_GBps"]
    run.claim(id="busbw-grows", claim="All-reduce bus bandwidth grows with message size "
              "(largest / smallest message)", source=PAPER,
              paper_value="bandwidth rises with message size (Sec. 6 figures)",
              measured=round(ratio, 1), criterion=AtLeast(10.0, partial=2.0),
              null=Null(1.0, "bandwidth independent of size (no latency term)"),
              measured_text=f"{ratio:.1f}x from {ar[0]['bytes']:,} B to {ar[-1]['bytes']:,} B "
                            f"({ar[0]['backend']}, {ar[0]['ranks']} ranks)")
