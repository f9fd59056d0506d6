"""The Lightning harness: techniques that cannot run or do not fit are recorded, not raised."""

from __future__ import annotations

import torch

from reprobook.llmbench import harness as H
from reprobook.llmbench import models
from reprobook.llmbench.config import small_config
from reprobook.llmbench.models import TECHNIQUES, availability

CFG = small_config(64, layers=2, heads=4, vocab=256)
RUN = H.Run(b=1, s=16, steps=2, warmup=1)


def test_a_technique_the_device_cannot_run_is_recorded_and_the_sweep_goes_on():
    rows = H.sweep(CFG, [TECHNIQUES["flash"], TECHNIQUES["sdpa"]], RUN, rounds=1)
    assert rows[0]["status"] == H.NOT_AVAILABLE and "CUDA" in rows[0]["reason"]
    assert rows[1]["status"] == H.OK and len(rows[1]["step_times"]) == RUN.steps
    assert rows[1]["tokens_per_s"] > 0


def test_flash_on_cpu_and_missing_packages_are_not_available(monkeypatch):
    assert "CUDA" in availability(TECHNIQUES["flash"], "cpu")
    real = models.importlib.util.find_spec
    monkeypatch.setattr(models.importlib.util, "find_spec",
                        lambda n: None if n == "bitsandbytes" else real(n))
    assert "bitsandbytes is not installed" in availability(TECHNIQUES["qlora"], "cpu")


def test_out_of_memory_is_recorded_as_does_not_fit(monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: "
                           "can't allocate memory: you tried to allocate 999 bytes")
    monkeypatch.setattr(H, "build", boom)
    row = H.measure_technique(CFG, TECHNIQUES["sdpa"], RUN)
    assert row["status"] == H.DOES_NOT_FIT
    monkeypatch.setattr(H, "build", lambda *a, **k: (_ for _ in ()).throw(
        torch.OutOfMemoryError("CUDA out of memory")))
    assert H.measure_technique(CFG, TECHNIQUES["sdpa"], RUN)["status"] == H.DOES_NOT_FIT


def test_other_errors_are_not_swallowed(monkeypatch):
    monkeypatch.setattr(H, "build", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("bug")))
    try:
        H.measure_technique(CFG, TECHNIQUES["sdpa"], RUN)
    except RuntimeError as exc:
        assert "bug" in str(exc)
    else:
        raise AssertionError("a bug was recorded as a measurement")


def test_lora_trains_only_the_adapter_and_recompute_keeps_the_loss():
    lora = models.build(CFG, TECHNIQUES["lora"])
    full = models.build(CFG, TECHNIQUES["sdpa"])
    assert 0 < models.trainable(lora) < models.trainable(full) / 5
    rc = models.build(CFG, TECHNIQUES["recompute"])
    ids = models.random_batch(256, 2, 16, 0)
    a, b = full(input_ids=ids, labels=ids).loss, rc(input_ids=ids, labels=ids).loss
    assert torch.allclose(a, b)  # same seed, same weights: recomputation changes no result


def test_paired_round_ratios_and_summary():
    rows = [{"round": r, "technique": t, "status": "ok", "step_times": [v, v], "b": 1, "s": 4,
             "median_step_s": v} for r in (0, 1) for t, v in (("a", 2.0), ("b", 1.0))]
    assert H.paired_round_ratios(rows, "a", "b") == [2.0, 2.0]
    s = {r["technique"]: r for r in H.summarise(rows)}
    assert s["a"]["steps_measured"] == 4 and s["a"]["tokens_per_s"] == 2.0
