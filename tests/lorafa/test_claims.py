"""The chapter's claims on synthetic measurements: verdicts, nulls and the testability gate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reprobook.core import claims as C
from reprobook.lorafa import claims, closeness


class FakeRun:
    """Records claims and sanity checks through the core (nulls judged, ClaimError raised)."""

    def __init__(self) -> None:
        self.rows: dict[str, C.Claim] = {}

    def claim(self, **kw) -> C.Claim:
        c = C.evaluate(chapter="lorafa", profile="test", **kw)
        self.rows[c.id] = c
        return c

    def sanity(self, **kw) -> C.Claim:
        c = C.check(chapter="lorafa", profile="test", **kw)
        self.rows[c.id] = c
        return c


def finetune_results(acc: dict[str, list[float]], n_test: int = 400, seed: int = 0):
    """Rows as experiments.finetune returns them, with per-example correctness whose mean is
    each run's accuracy (examples drawn at random, so methods disagree on some)."""
    rng = np.random.default_rng(seed)
    rows = []
    for variant, accs in acc.items():
        for s, a in enumerate(accs):
            correct = np.zeros(n_test, dtype=np.int8)
            correct[rng.permutation(n_test)[: round(a * n_test)]] = 1
            rows.append({"variant": variant, "seed": s, "accuracy": correct.mean(),
                         "correct": correct})
    return pd.DataFrame(rows)


def test_standard_error_combines_seeds_and_test_set():
    res = finetune_results({"lorafa": [0.80, 0.78, 0.83], "full": [0.81, 0.80, 0.82],
                            "head": [0.65, 0.66, 0.64]})
    c = closeness.paired(res, "lorafa", "full")
    acc = {v: res[res.variant == v]["accuracy"].to_numpy() for v in ("lorafa", "full", "head")}
    d = acc["lorafa"] - acc["full"]
    assert c.diffs == pytest.approx(tuple(d))
    assert c.mean == pytest.approx(-0.02 / 3)
    assert c.se_seeds == pytest.approx(d.std(ddof=1) / math.sqrt(3))
    m = np.stack(res[res.variant == "lorafa"]["correct"]).astype(float)
    f = np.stack(res[res.variant == "full"]["correct"]).astype(float)
    e = (m - f).mean(axis=0)
    assert c.se_test == pytest.approx(e.std(ddof=1) / math.sqrt(400))
    assert c.se == pytest.approx(math.sqrt(c.se_seeds**2 + c.se_test**2))
    assert c.gap == pytest.approx((acc["full"] - acc["head"]).mean())
    assert c.null_mean == pytest.approx(-c.gap)


def test_paired_needs_matching_seeds():
    res = finetune_results({"lorafa": [0.8, 0.8], "full": [0.8, 0.8, 0.8], "head": [0.6] * 3})
    with pytest.raises(ValueError, match="same >= 2 seeds"):
        closeness.paired(res, "lorafa", "full")
    with pytest.raises(ValueError, match="no runs of 'lora'"):
        closeness.paired(res, "lorafa", "lora")


@pytest.mark.parametrize("accs,verdict", [
    # LoRA-FA within noise of both references, both far above the control
    ({"lorafa": [0.80, 0.79, 0.81], "full": [0.81, 0.80, 0.80], "lora": [0.79, 0.80, 0.81],
      "head": [0.62, 0.63, 0.61]}, C.Verdict.REPRODUCED),
    # LoRA-FA learns nothing: it scores what the control scores
    ({"lorafa": [0.62, 0.63, 0.61], "full": [0.81, 0.80, 0.80], "lora": [0.79, 0.80, 0.81],
      "head": [0.62, 0.63, 0.61]}, C.Verdict.NOT_REPRODUCED),
    # fine-tuning does not beat the control: the run cannot decide
    ({"lorafa": [0.70, 0.71, 0.70], "full": [0.71, 0.70, 0.71], "lora": [0.70, 0.71, 0.71],
      "head": [0.70, 0.70, 0.71]}, C.Verdict.NOT_TESTABLE),
])
def test_close_to_claims(accs, verdict):
    run = FakeRun()
    claims.record_finetuning(run, finetune_results(accs), "test")
    for ref in ("full", "lora"):
        c = run.rows[f"lorafa-close-to-{ref}"]
        assert c.verdict == verdict.value, c.measured_text
        assert c.null_verdict in ("not reproduced", "not testable at this profile")
    assert C.verify(list(run.rows.values())) == []


def whole_model(ratio_top: float) -> pd.DataFrame:
    """A model_sweep-shaped frame: LoRA's overall memory is ``ratio_top`` x LoRA-FA's at s=128
    (and closer to LoRA-FA's at s=32)."""
    params, rows = 90_000_000, []
    for seq, ratio in ((32, 1 + (ratio_top - 1) / 4), (128, ratio_top)):
        fa = 4 * seq * 1_000_000
        acts = {"lorafa": fa, "lora": int(ratio * (params + fa)) - params,
                "full": int(ratio * (params + fa)) - params + 1_000}
        for method, r in (("full", None), ("lorafa", 8), ("lora", 8)):
            lora = method == "lora"
            rows.append({"method": method, "seq": seq, "r": r, "measured": acts[method],
                         "parameters_bytes": params, "gradients_bytes": 0, "optimizer_bytes": 0,
                         "activations_bytes": acts[method], "total_bytes": params + acts[method],
                         "predicted": acts[method] + 1_000 if lora else np.nan,
                         "null_predicted": fa if lora else np.nan})
        rows.append({"method": "lorafa", "seq": seq, "r": 4, "measured": fa - 4_000,
                     "predicted": fa - 4_000, "null_predicted": fa})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("ratio,verdict", [(1.45, "reproduced"), (1.25, "partially"),
                                           (1.05, "not reproduced")])
def test_overall_memory_claim(ratio, verdict):
    run = FakeRun()
    claims.record_whole_model(run, whole_model(ratio), 8, 16)
    c = run.rows["lorafa-overall-memory"]
    assert c.measured == pytest.approx(ratio)
    assert c.verdict == verdict
    assert c.null_value == 1.0 and c.null_verdict == "not reproduced"
    assert run.rows["whole-model-formula"].verdict == "reproduced"
    assert run.rows["whole-model-formula"].null_verdict == "not reproduced"


def test_layer_claim_fails_for_a_layer_that_keeps_x():
    rows = []
    for method, extra in (("full", 0), ("lora", 0), ("lorafa", 0)):
        for n in (256, 1024):
            f = {"full": 4 * n * 64, "lora": 4 * n * 72, "lorafa": 4 * n * 8}[method]
            rows.append({"sweep": "tokens", "method": method, "tokens": n, "r": 8,
                         "formula": f, "measured": f + extra})
    layer = pd.DataFrame(rows)
    drop = pd.DataFrame([{"method": "lora", "formula": 10, "measured": 10}])
    two = {"peft_bytes": 5, "explicit_bytes": 5, "b_grad_max_abs_diff": 0.0}
    run = FakeRun()
    claims.record_layer(run, layer, drop, two)
    assert run.rows["layer-lorafa-bytes"].verdict == "reproduced"
    assert run.rows["layer-lorafa-bytes"].null_value == pytest.approx(8.0)  # (d + r) / r - 1
    assert {r.verdict for r in run.rows.values() if r.kind == C.SANITY} == {C.HOLDS}
    broken = layer.assign(measured=np.where(layer.method == "lorafa",
                                            layer.measured * 9, layer.measured))
    run = FakeRun()
    claims.record_layer(run, broken, drop, two)
    assert run.rows["layer-lorafa-bytes"].verdict == "not reproduced"
    assert run.rows["layer-formula-exact"].verdict == C.FAILS


def test_llama_claims_gate_on_lora_and_lorafa_only():
    llm = pd.DataFrame([
        {"method": "full", "seq": 512, "status": "out of memory", "device": "cuda"},
        {"method": "lora", "seq": 512, "status": "ok", "peak_bytes": 30e9, "device": "cuda"},
        {"method": "lorafa", "seq": 512, "status": "ok", "peak_bytes": 20e9, "device": "cuda"},
    ])
    from reprobook.lorafa.llama import lora_over_lorafa

    ratios = lora_over_lorafa(llm)
    assert ratios.to_dict() == {512: 1.5}
    counts = pd.DataFrame({"measured LoRA - LoRA-FA": [90.0],
                           "paper's count: inputs LoRA keeps": [100.0],
                           "count without o_proj's input": [90.0]})
    run = FakeRun()
    claims.record_llama(run, llm, ratios, "LLaMA-7B", "bfloat16", counts,
                        {"all projections": 90.0})
    assert run.rows["llama-peak-memory"].verdict == "reproduced"
    assert run.rows["llama-lora-inputs"].verdict == "partially"
    assert run.rows["llama65b-lora-inputs"].kind == C.SANITY
    no_fa = llm[llm.method != "lorafa"]
    run = FakeRun()
    claims.record_llama(run, no_fa, lora_over_lorafa(no_fa), "LLaMA-7B", "bfloat16", counts,
                        {"all projections": 90.0})
    assert run.rows["llama-peak-memory"].verdict == "not testable at this profile"
    cpu = pd.DataFrame([{"method": m, "seq": 64, "status": "ok", "total_bytes": b, "device": "cpu"}
                        for m, b in (("lora", 3e6), ("lorafa", 2e6))])
    run = FakeRun()
    claims.record_llama(run, cpu, lora_over_lorafa(cpu), "tiny", "float32", counts,
                        {"all projections": 90.0})
    c = run.rows["llama-peak-memory"]
    assert c.verdict == "not testable at this profile" and "CPU up to 1.50x" in c.measured_text
