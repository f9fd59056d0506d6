"""The paper's scale as real code paths: DeepSpeed ZeRO through Lightning, and vLLM serving.

* **DeepSpeed** (the paper's Sec. 4): :func:`deepspeed_config` writes the ZeRO-2/3 (+ offload)
  configuration the authors' ``ds_config`` files describe; :func:`train_deepspeed` trains a
  random-weight Llama with ``lightning.pytorch.strategies.DeepSpeedStrategy`` on ``N`` GPUs (one
  process per GPU, launched by Lightning) and records step time, tokens/s summed over GPUs and
  per-GPU peak memory. :func:`deepspeed_estimate` calls DeepSpeed's own memory estimators (they
  run on a CPU).
* **vLLM** (the paper's Sec. 7, serving): :func:`serve_vllm` runs ``vllm.LLM`` on *dummy*
  weights (``load_format="dummy"``, the random weights of the paper's scripts) from a Llama-2
  config and measures throughput and latency per batch size.
* :func:`hf_decode` measures prefill and per-token decode time with transformers' KV cache: the
  serving phases on any device (the CPU run of this chapter).

Every entry point returns rows with a ``status``; a path that cannot run here says why.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from .harness import DOES_NOT_FIT, NOT_AVAILABLE, OK, is_oom


def model_config(size: str) -> Any:
    """``"7b"``/``"13b"``/``"70b"`` (Llama-2), or ``"small-<hidden>"`` (a 4-layer small Llama)."""
    from .config import llama2_config, small_config
    from .constants import LLAMA2

    if size.lower() in LLAMA2:
        return llama2_config(size)
    if size.startswith("small-") and size[6:].isdigit():
        return small_config(int(size[6:]), layers=4)
    raise ValueError(f"model size {size!r} is not one of {sorted(LLAMA2)} or 'small-<hidden>'")


def deepspeed_unavailable(device: str) -> str | None:
    """Why the DeepSpeed path cannot run on ``device`` (None if it can)."""
    if importlib.util.find_spec("deepspeed") is None:
        return "deepspeed is not installed (pip install 'reprobook[llmbench]')"
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return "Lightning's DeepSpeed strategy needs CUDA GPUs"
    return None


def deepspeed_config(stage: int, offload: bool = False, micro_batch: int = 1,
                     bf16: bool = True) -> dict[str, Any]:
    """A DeepSpeed config: ZeRO ``stage`` (2 or 3), optimizer (and, for 3, parameter) offload to
    pinned CPU memory, bf16 with fp32 master weights (mixed-precision Adam, 16 bytes/param)."""
    if stage not in (0, 1, 2, 3):
        raise ValueError(f"ZeRO stage must be 0-3, got {stage!r}")
    zero: dict[str, Any] = {"stage": stage, "overlap_comm": True, "contiguous_gradients": True}
    if offload:
        if stage < 2:
            raise ValueError("optimizer offload needs ZeRO stage 2 or 3 in this chapter's grid")
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
        if stage == 3:
            zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    return {"zero_optimization": zero, "bf16": {"enabled": bf16},
            "train_micro_batch_size_per_gpu": micro_batch, "gradient_accumulation_steps": 1,
            "zero_allow_untested_optimizer": True}


def deepspeed_estimate(P: int, largest_layer: int, stage: int, gpus: int,
                       offload: bool = False) -> float | None:
    """Per-GPU model-state bytes from DeepSpeed's own estimator (None if not installed)."""
    if importlib.util.find_spec("deepspeed") is None:
        return None
    import logging

    logging.getLogger("DeepSpeed").setLevel(logging.ERROR)
    if stage == 2:
        from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

        return float(estimate_zero2_model_states_mem_needs(P, gpus, 1, cpu_offload=offload)[1])
    if stage == 3:
        from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs

        return float(estimate_zero3_model_states_mem_needs(
            P, largest_layer, gpus, 1, cpu_offload=offload, cpu_offload_params=offload)[1])
    raise ValueError(f"DeepSpeed estimates ZeRO-2 and ZeRO-3, not stage {stage!r}")


def train_deepspeed(size: str, stage: int, offload: bool, b: int, s: int, gpus: int,
                    steps: int = 5, warmup: int = 3, out: str | None = None,
                    recompute: bool = False) -> dict[str, Any]:
    """Train a random-weight Llama-2 ``size`` with ZeRO ``stage`` on ``gpus`` GPUs (this process
    becomes rank 0; Lightning starts the others). Rank 0 writes the row to ``out``."""
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.strategies import DeepSpeedStrategy
    from torch.utils.data import DataLoader

    from reprobook.core.logs import quiet_lightning

    from .harness import RepeatBatch, StepMeter
    from .models import random_batch

    cfg = model_config(size)

    class ZeroLM(LightningModule):
        def configure_model(self) -> None:  # under deepspeed.zero.Init for ZeRO-3
            from transformers import LlamaForCausalLM

            if not hasattr(self, "model"):
                self.model = LlamaForCausalLM(cfg)
                if recompute:
                    self.model.gradient_checkpointing_enable()

        def training_step(self, batch: torch.Tensor, idx: int) -> torch.Tensor:
            return self.model(input_ids=batch, labels=batch).loss

        def configure_optimizers(self) -> Any:
            if offload:
                from deepspeed.ops.adam import DeepSpeedCPUAdam

                return DeepSpeedCPUAdam(self.parameters(), lr=1e-5)
            return torch.optim.AdamW(self.parameters(), lr=1e-5)

    row: dict[str, Any] = {"model": size, "stage": stage, "offload": offload,
                           "recompute": recompute, "b": b, "s": s, "gpus": gpus, "status": OK, "reason": ""}
    meter = StepMeter(warmup, cuda=True)
    try:
        with quiet_lightning():
            trainer = Trainer(accelerator="gpu", devices=gpus, precision="bf16-mixed",
                              strategy=DeepSpeedStrategy(config=deepspeed_config(stage, offload, b)),
                              max_steps=warmup + steps, logger=False, enable_checkpointing=False,
                              enable_progress_bar=False, enable_model_summary=False,
                              callbacks=[meter])
            ids = random_batch(cfg.vocab_size, b, s, 0)
            trainer.fit(ZeroLM(), DataLoader(RepeatBatch(ids, warmup + steps), batch_size=None))
        med = statistics.median(meter.times[warmup:])
        row.update(median_step_s=med, tokens_per_s=gpus * b * s / med, **meter.peak)
    except (RuntimeError, MemoryError) as exc:
        if not is_oom(exc):
            raise
        row.update(status=DOES_NOT_FIT, reason=str(exc).splitlines()[0][:200])
    if out and int(os.environ.get("LOCAL_RANK", "0")) == 0:
        Path(out).write_text(json.dumps(row), encoding="utf-8")
    return row


def run_deepspeed(size: str, stage: int, offload: bool, b: int, s: int, gpus: int,
                  device: str, steps: int = 5, warmup: int = 3, recompute: bool = False,
                  timeout: float = 3600.0) -> dict[str, Any]:
    """:func:`train_deepspeed` in a fresh process (Lightning launches one per GPU); a row with
    ``not available on this device`` where DeepSpeed or CUDA is missing."""
    row = {"model": size, "stage": stage, "offload": offload, "recompute": recompute, "b": b,
           "s": s, "gpus": gpus}
    why = deepspeed_unavailable(device)
    if why:
        return {**row, "status": NOT_AVAILABLE, "reason": why}
    if gpus > torch.cuda.device_count():
        return {**row, "status": NOT_AVAILABLE,
                "reason": f"{gpus} GPUs requested, {torch.cuda.device_count()} present"}
    with tempfile.TemporaryDirectory(prefix="llmbench-ds-") as tmp:
        out = Path(tmp) / "row.json"
        cmd = [sys.executable, "-m", "reprobook.llmbench.scale", "deepspeed", "--size", size,
               "--stage", str(stage), "--b", str(b), "--s", str(s), "--gpus", str(gpus),
               "--steps", str(steps), "--warmup", str(warmup), "--out", str(out)]
        cmd += (["--offload"] if offload else []) + (["--recompute"] if recompute else [])
        return _child(cmd, out, row, timeout)


def serve_vllm(size: str, batches: list[int], input_len: int, output_len: int, tp: int = 1,
               python: str | None = None, device: str = "cuda",
               timeout: float = 3600.0) -> list[dict[str, Any]]:
    """vLLM throughput/latency on dummy weights, one row per batch size (in a child process,
    optionally with another environment's ``python``)."""
    base = {"model": size, "input_len": input_len, "output_len": output_len, "tp": tp}
    py = python or sys.executable
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return [{**base, "batch": bt, "status": NOT_AVAILABLE,
                 "reason": "vLLM's GPU engine needs CUDA"} for bt in batches]
    probe = subprocess.run([py, "-c", "import vllm"], capture_output=True, text=True)
    if probe.returncode != 0:
        return [{**base, "batch": bt, "status": NOT_AVAILABLE,
                 "reason": f"vllm is not importable by {py}"} for bt in batches]
    with tempfile.TemporaryDirectory(prefix="llmbench-vllm-") as tmp:
        out = Path(tmp) / "rows.json"
        cmd = [py, "-m", "reprobook.llmbench.scale", "vllm", "--size", size, "--tp", str(tp),
               "--input-len", str(input_len), "--output-len", str(output_len), "--out", str(out),
               "--batches", *map(str, batches)]
        got = _child(cmd, out, base, timeout)
        return got if isinstance(got, list) else [got]


def _vllm_worker(size: str, batches: list[int], input_len: int, output_len: int, tp: int,
                 out: str) -> None:
    from vllm import LLM, SamplingParams  # type: ignore[import-not-found]

    cfg = model_config(size)
    with tempfile.TemporaryDirectory(prefix="llmbench-cfg-") as d:
        cfg.save_pretrained(d)
        llm = LLM(model=d, load_format="dummy", skip_tokenizer_init=True, dtype="bfloat16",
                  tensor_parallel_size=tp, max_model_len=input_len + output_len)
        g = torch.Generator().manual_seed(0)
        rows = []
        for bt in batches:
            prompts = [{"prompt_token_ids": torch.randint(0, cfg.vocab_size, (input_len,),
                                                          generator=g).tolist()}
                       for _ in range(bt)]
            first = SamplingParams(max_tokens=1, ignore_eos=True, detokenize=False)
            full = SamplingParams(max_tokens=output_len, ignore_eos=True, detokenize=False)
            llm.generate(prompts, first, use_tqdm=False)  # warm-up
            t0 = time.perf_counter()
            llm.generate(prompts, first, use_tqdm=False)
            ttft = time.perf_counter() - t0
            t0 = time.perf_counter()
            llm.generate(prompts, full, use_tqdm=False)
            total = time.perf_counter() - t0
            rows.append({"model": size, "batch": bt, "input_len": input_len,
                         "output_len": output_len, "tp": tp, "status": OK, "reason": "",
                         "latency_s": total, "prefill_s": ttft,
                         "tpot_s": (total - ttft) / max(output_len - 1, 1),
                         "tokens_per_s": bt * output_len / total})
    Path(out).write_text(json.dumps(rows), encoding="utf-8")


def _child(cmd: list[str], out: Path, row: dict[str, Any], timeout: float) -> Any:
    from reprobook.core.procs import kill_tree

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        log, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        return {**row, "status": "failed", "reason": f"timed out after {timeout:g} s"}
    if out.is_file():
        return json.loads(out.read_text(encoding="utf-8"))
    tail = " | ".join(log.strip().splitlines()[-3:])[:300]
    status = DOES_NOT_FIT if "out of memory" in log.lower() else "failed"
    return {**row, "status": status, "reason": f"exit {proc.returncode}: {tail}"}


def hf_decode(model: torch.nn.Module, vocab: int, batch: int, prompt: int, new_tokens: int,
              seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Prefill time and per-token decode time with transformers' KV cache (greedy, no grad)."""
    from .models import random_batch

    ids = random_batch(vocab, batch, prompt, seed, device)
    model.eval()
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.no_grad():
        sync()
        t0 = time.perf_counter()
        out = model(input_ids=ids, use_cache=True)
        sync()
        prefill = time.perf_counter() - t0
        cache = getattr(out, "cache", None) or out.past_key_values
        nxt = out.logits[:, -1:].argmax(-1)
        t0 = time.perf_counter()
        for _ in range(new_tokens):
            out = model(input_ids=nxt, cache=cache, use_cache=True)
            cache = getattr(out, "cache", None) or out.past_key_values
            nxt = out.logits[:, -1:].argmax(-1)
        sync()
        decode = time.perf_counter() - t0
    return {"batch": batch, "prompt": prompt, "new_tokens": new_tokens, "prefill_s": prefill,
            "tpot_s": decode / new_tokens, "decode_tokens_per_s": batch * new_tokens / decode,
            "prefill_tokens_per_s": batch * prompt / prefill}


def _main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="llmbench GPU paths (DeepSpeed training, vLLM)")
    sub = p.add_subparsers(dest="what", required=True)
    d = sub.add_parser("deepspeed")
    for k, t in (("size", str), ("stage", int), ("b", int), ("s", int), ("gpus", int),
                 ("steps", int), ("warmup", int), ("out", str)):
        d.add_argument(f"--{k}", type=t, required=k not in ("steps", "warmup"))
    d.add_argument("--offload", action="store_true")
    d.add_argument("--recompute", action="store_true")
    v = sub.add_parser("vllm")
    v.add_argument("--size", required=True)
    v.add_argument("--tp", type=int, default=1)
    v.add_argument("--input-len", type=int, required=True)
    v.add_argument("--output-len", type=int, required=True)
    v.add_argument("--batches", type=int, nargs="+", required=True)
    v.add_argument("--out", required=True)
    a = p.parse_args(argv)
    if a.what == "deepspeed":
        train_deepspeed(a.size, a.stage, a.offload, a.b, a.s, a.gpus, a.steps or 5,
                        a.warmup or 3, a.out, a.recompute)
    else:
        _vllm_worker(a.size, a.batches, a.input_len, a.output_len, a.tp, a.out)


if __name__ == "__main__":
    _main()
