"""The measurement harness: a random-weight Llama in a LightningModule, timed per technique.

Metrics follow the authors' tooling (llm-toolkit's step callback, read not copied): per-step wall
time after warm-up steps (this chapter reports the median, robust to a shared machine, beside the
mean and standard deviation), tokens per second ``b s / step time``, and peak memory — on CUDA
``torch.cuda.max_memory_allocated`` (tensors) and total - free from ``mem_get_info`` (the
authors' number, context and allocator cache included); on the CPU the resident-set high-water
mark above the process's baseline (:mod:`.measure`).

A configuration that does not fit is recorded as ``does not fit``; a technique the device cannot
run as ``not available on this device: <why>``; the sweep goes on either way.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch.utils.data import DataLoader, IterableDataset

from reprobook.core.logs import quiet_lightning

from . import measure
from .models import NotAvailable, Spec, build, random_batch, trainable

STEP_LABEL = "llmbench.step"
OK, NOT_AVAILABLE, DOES_NOT_FIT = "ok", "not available on this device", "does not fit"


class LlamaLM(LightningModule):
    """One training step = zero_grad, forward with the causal-LM loss, backward, AdamW step
    (manual optimisation, so the step is one explicit, profilable block)."""

    def __init__(self, model: torch.nn.Module, lr: float = 1e-4) -> None:
        super().__init__()
        self.model, self.lr = model, lr
        self.automatic_optimization = False

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        opt = self.optimizers()
        with torch.profiler.record_function(STEP_LABEL):
            opt.zero_grad(set_to_none=True)
            loss = self.model(input_ids=batch, labels=batch).loss
            self.manual_backward(loss)
            opt.step()
        return loss.detach()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad],
                                 lr=self.lr)


class RepeatBatch(IterableDataset):
    """The same random batch ``steps`` times (data loading is not what is measured)."""

    def __init__(self, ids: torch.Tensor, steps: int) -> None:
        self.ids, self.steps = ids, steps

    def __iter__(self) -> Iterator[torch.Tensor]:
        for _ in range(self.steps):
            yield self.ids


class StepMeter(Callback):
    """Wall time of every training batch, and the peak memory after ``warmup`` batches."""

    def __init__(self, warmup: int, cuda: bool) -> None:
        self.warmup, self.cuda = warmup, cuda
        self.times: list[float] = []
        self.peak: dict[str, float] = {}
        self._t0 = 0.0
        self.baseline_rss = measure.rss() if not cuda else None

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, idx: int) -> None:
        if idx == self.warmup:
            if self.cuda:
                torch.cuda.reset_peak_memory_stats()
            else:
                measure.reset_peak_rss()
        self._sync()
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer: Any, pl_module: Any, out: Any, batch: Any,
                           idx: int) -> None:
        self._sync()
        self.times.append(time.perf_counter() - self._t0)
        if idx == trainer.max_steps - 1:
            self.peak = self._read_peak()

    def _read_peak(self) -> dict[str, float]:
        if self.cuda:
            free, total = torch.cuda.mem_get_info()
            return {"peak_allocated_bytes": float(torch.cuda.max_memory_allocated()),
                    "peak_reserved_bytes": float(torch.cuda.max_memory_reserved()),
                    "total_minus_free_bytes": float(total - free)}
        hwm = measure.peak_rss()
        base = self.baseline_rss or 0
        return {"peak_rss_above_baseline_bytes": float(hwm - base) if hwm else float("nan")}


@dataclass(frozen=True)
class Run:
    """Sizes of one measured configuration."""

    b: int
    s: int
    steps: int = 5
    warmup: int = 3
    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    seed: int = 0


def fit_steps(module: LlamaLM, ids: torch.Tensor, run: Run, callbacks: list[Callback]) -> None:
    """Run ``warmup + steps`` training steps of ``module`` through a Lightning Trainer."""
    cuda = run.device.startswith("cuda")
    with quiet_lightning():
        trainer = Trainer(accelerator="gpu" if cuda else "cpu", devices=1, precision="32-true",
                          max_steps=run.warmup + run.steps, logger=False,
                          enable_checkpointing=False, enable_progress_bar=False,
                          enable_model_summary=False, callbacks=callbacks)
        loader = DataLoader(RepeatBatch(ids, run.warmup + run.steps), batch_size=None)
        trainer.fit(module, loader)


def is_oom(exc: BaseException) -> bool:
    """An out-of-memory error of the CUDA or the CPU allocator."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    msg = str(exc).lower()
    return "out of memory" in msg or "can't allocate memory" in msg


def measure_technique(cfg: Any, spec: Spec, run: Run) -> dict[str, Any]:
    """Step time, tokens/s and peak memory of ``spec`` on a fresh random-weight model.

    Returns a row with ``status``: ``ok``, ``not available on this device`` (with ``reason``) or
    ``does not fit``; never raises for those.
    """
    row: dict[str, Any] = {"technique": spec.name, "b": run.b, "s": run.s, "status": OK,
                           "reason": ""}
    cuda = run.device.startswith("cuda")
    module = None
    try:
        measure.trim()
        meter = StepMeter(run.warmup, cuda)
        model = build(cfg, spec, run.device, run.dtype, run.seed)
        row["trainable_params"] = trainable(model)
        module = LlamaLM(model)
        ids = random_batch(cfg.vocab_size, run.b, run.s, run.seed, run.device)
        fit_steps(module, ids, run, [meter])
        times = meter.times[run.warmup:]
        med = statistics.median(times)
        row.update(step_times=times, median_step_s=med, mean_step_s=statistics.fmean(times),
                   std_step_s=statistics.pstdev(times), tokens_per_s=run.b * run.s / med,
                   **meter.peak)
    except NotAvailable as exc:
        row.update(status=NOT_AVAILABLE, reason=str(exc))
    except (RuntimeError, MemoryError) as exc:
        if not is_oom(exc):
            raise
        row.update(status=DOES_NOT_FIT, reason=str(exc).splitlines()[0][:200])
    finally:
        del module
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    return row


def sweep(cfg: Any, specs: list[Spec], run: Run, rounds: int = 1,
          desc: str = "techniques") -> list[dict[str, Any]]:
    """Every technique ``rounds`` times, interleaved round by round (so that a drift of a shared
    machine's speed hits every technique alike); one row per technique and round."""
    from reprobook.core.progress import progress

    jobs = [(r, spec) for r in range(rounds) for spec in specs]
    rows = []
    for r, spec in progress(jobs, desc=desc):
        row = measure_technique(cfg, spec, run)
        rows.append({"round": r, **row})
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per technique: the median over every measured step of every round."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        agg = out.setdefault(row["technique"], {k: v for k, v in row.items()
                                                if k not in ("round", "step_times")})
        agg.setdefault("_times", [])
        agg["_times"] += row.get("step_times", [])
        for k in ("peak_rss_above_baseline_bytes", "peak_allocated_bytes",
                  "total_minus_free_bytes"):
            if k in row:
                agg[k] = max(agg.get(k, 0.0), row[k])
    for agg in out.values():
        times = agg.pop("_times")
        if times:
            agg["median_step_s"] = statistics.median(times)
            agg["tokens_per_s"] = agg["b"] * agg["s"] / agg["median_step_s"]
            agg["steps_measured"] = len(times)
    return list(out.values())


def paired_round_ratios(rows: list[dict[str, Any]], method: str, baseline: str) -> list[float]:
    """Per round: median step time of ``method`` / that of ``baseline`` (paired by round)."""
    med = {(r["round"], r["technique"]): statistics.median(r["step_times"])
           for r in rows if r.get("status") == OK}
    rounds = sorted({k[0] for k in med})
    return [med[(r, method)] / med[(r, baseline)] for r in rounds
            if (r, method) in med and (r, baseline) in med]
