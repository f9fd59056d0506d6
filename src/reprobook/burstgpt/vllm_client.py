"""Driving a real vLLM server with the chapter's workloads (the ``gpu-1x`` path).

Weights cannot be downloaded here, and latency does not depend on their values, so the server
runs with ``--load-format dummy`` from a model folder written by :func:`write_model_dir`: a
``config.json`` with Llama-2-7B's sizes and a word-level tokenizer (``tokenizer.json``) of the
same vocabulary size. Prompts are sent as lists of token ids, so each request has exactly its
trace length; ``ignore_eos`` and ``min_tokens = max_tokens`` = the trace's response length make
the output exactly as long.

- :func:`serve` starts ``vllm serve`` (vLLM >= 0.12, < 0.34: ``constants.VLLM_VERSIONS``, the
  ``vllm`` extra of pyproject.toml) from the interpreter of an environment where vLLM is installed
  — vLLM pins its own torch, so it lives in its own environment, ``.venv-vllm`` — and stops its
  whole process tree afterwards.
- :func:`run_workload` sends every request at its arrival time (streaming), records time to first
  token and the finish time, counts the generated tokens from the response's ``usage`` field, treats
  a stream that ends without its final usage and ``[DONE]`` (or with fewer tokens than asked) as a
  failure, and polls ``/metrics`` for KV-cache usage and preemptions; the result is a
  :class:`~.simulator.SimResult`, so the simulator's summaries apply unchanged.
- :func:`calibrate` fits the latency model's MFU, MBU and overhead to measured runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from reprobook.core.procs import kill_tree

from .constants import LLAMA2_7B, LLAMA2_MAX_MODEL_LEN, ModelConfig
from .generator import Workload
from .latency import LatencyModel
from .simulator import ServerConfig, SimResult, simulate

VOCAB_SIZE = 32_000  # Llama 2
KV_METRICS = ("vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc")
PREEMPT_METRIC = "vllm:num_preemptions_total"


def write_model_dir(path: Path, model: ModelConfig = LLAMA2_7B,
                    max_model_len: int = LLAMA2_MAX_MODEL_LEN) -> Path:
    """A folder vLLM can load with dummy weights: Llama config + a word-level tokenizer."""
    path.mkdir(parents=True, exist_ok=True)
    heads = model.d_model // model.head_dim
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "hidden_size": model.d_model, "intermediate_size": 11008,
              "num_hidden_layers": model.layers, "num_attention_heads": heads,
              "num_key_value_heads": model.kv_heads, "max_position_embeddings": max_model_len,
              "vocab_size": VOCAB_SIZE, "rms_norm_eps": 1e-5, "torch_dtype": "float16",
              "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": False}
    (path / "config.json").write_text(json.dumps(config, indent=2))
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"t{i}": i for i in range(3, VOCAB_SIZE)}}
    tokenizer = {"version": "1.0", "truncation": None, "padding": None,
                 "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False,
                                   "rstrip": False, "normalized": False, "special": True}
                                  for i, t in enumerate(["<unk>", "<s>", "</s>"])],
                 "normalizer": None, "pre_tokenizer": {"type": "Whitespace"},
                 "post_processor": None, "decoder": None,
                 "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}}
    (path / "tokenizer.json").write_text(json.dumps(tokenizer))
    (path / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "model_max_length": max_model_len}))
    return path


@dataclass(frozen=True)
class VLLMServerSpec:
    """How to start the server; ``python`` is the interpreter of vLLM's environment."""

    model_dir: Path
    python: str = sys.executable
    port: int = 8000
    config: ServerConfig = field(default_factory=ServerConfig)
    gpu_memory_utilization: float = 0.9
    extra_args: tuple[str, ...] = ()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """``vllm serve`` with the simulator's scheduler settings (vLLM 0.12-0.33's CLI: request
        logging is off by default there; ``--disable-log-requests`` no longer exists)."""
        c = self.config
        return [self.python, "-m", "vllm.entrypoints.cli.main", "serve", str(self.model_dir),
                "--served-model-name", "model", "--load-format", "dummy",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--block-size", str(c.block_size), "--max-num-seqs", str(c.max_num_seqs),
                "--max-num-batched-tokens", str(c.max_num_batched_tokens),
                "--max-model-len", str(c.max_model_len),
                "--gpu-memory-utilization", str(self.gpu_memory_utilization),
                "--no-enable-prefix-caching",  # the simulator has no prefix cache
                "--enable-chunked-prefill" if c.chunked_prefill else "--no-enable-chunked-prefill",
                "--seed", "0", *self.extra_args]


def _get(url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


@contextlib.contextmanager
def serve(spec: VLLMServerSpec, startup_timeout_s: float = 600.0,
          log: Path | None = None) -> Iterator[VLLMServerSpec]:
    """Start the server, wait for ``/health``, yield, then stop it (and say why it failed)."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(spec.command(), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        t0 = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the vLLM server exited with status {proc.returncode} "
                                   f"before it was ready (log: {log or 'not kept'})")
            try:
                _get(spec.base_url + "/health")
                break
            except OSError:
                if time.monotonic() - t0 > startup_timeout_s:
                    raise TimeoutError(f"vLLM not ready after {startup_timeout_s:.0f} s") from None
                time.sleep(0.5)
        yield spec
    finally:
        kill_tree(proc.pid, timeout=30)  # vLLM's engine core runs in child processes
        proc.wait()
        if log:
            out.close()


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text format -> {metric name: value} (labels dropped, values summed)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfNa]+)", line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
    return out


def prompt_ids(n_tokens: int, rng: np.random.Generator) -> list[int]:
    """``n_tokens`` random token ids from the ordinary vocabulary (no special tokens)."""
    return rng.integers(3, VOCAB_SIZE, size=n_tokens).tolist()


async def _send(session, url: str, ids: list[int], max_tokens: int, t0: float,
                timeout_s: float | None, rec: dict) -> None:
    import aiohttp

    body = {"model": "model", "prompt": ids, "max_tokens": int(max_tokens),
            "min_tokens": int(max_tokens), "ignore_eos": True, "stream": True,
            "stream_options": {"include_usage": True}, "temperature": 0.0}
    first, chunks, usage, done = None, 0, None, False
    try:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_s)
        async with session.post(url + "/v1/completions", json=body, timeout=timeout) as resp:
            if resp.status != 200:
                rec.update(failed=True, reason=f"HTTP {resp.status}", finish=time.perf_counter() - t0)
                return
            async for raw in resp.content:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                if line == "data: [DONE]":
                    done = True
                    continue
                chunk = json.loads(line[5:])
                if chunk.get("usage"):
                    usage = chunk["usage"].get("completion_tokens")
                if any(c.get("text") for c in chunk.get("choices") or []):
                    if first is None:
                        first = time.perf_counter() - t0
                    chunks += 1
        generated = int(usage) if usage is not None else chunks
        reason = ("no tokens" if first is None else
                  "truncated stream" if not done or usage is None else
                  f"{generated} of {max_tokens} tokens" if generated < max_tokens else "")
        rec.update(first_token=first, finish=time.perf_counter() - t0, generated=generated,
                   failed=bool(reason), reason=reason)
    except (asyncio.TimeoutError, OSError, aiohttp.ClientError) as exc:
        rec.update(failed=True, reason=type(exc).__name__, finish=time.perf_counter() - t0,
                   first_token=first, generated=chunks)


async def _poll(url: str, stop: asyncio.Event, t0: float, rows: list, every_s: float) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        while not stop.is_set():
            try:
                async with s.get(url + "/metrics") as r:
                    m = parse_metrics(await r.text())
                kv = next((m[k] for k in KV_METRICS if k in m), float("nan"))
                rows.append({"time": time.perf_counter() - t0, "usage": kv,
                             "preemptions_total": m.get(PREEMPT_METRIC, float("nan"))})
            except (OSError, aiohttp.ClientError):
                pass
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)


async def _run(workload: Workload, url: str, timeout_s: float | None, seed: int,
               poll_s: float) -> tuple[list[dict], list[dict]]:
    import aiohttp

    rng = np.random.default_rng(seed)
    recs = [{"arrival": float(a), "prompt": int(p), "output": int(o), "first_token": None,
             "finish": None, "failed": False, "reason": "", "generated": 0}
            for a, p, o in zip(workload.arrivals, workload.request_tokens, workload.response_tokens)]
    ids = [prompt_ids(int(p), rng) for p in workload.request_tokens]
    kv_rows: list[dict] = []
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        poller = asyncio.create_task(_poll(url, stop, t0, kv_rows, poll_s))

        async def at(i: int) -> None:
            await asyncio.sleep(max(0.0, recs[i]["arrival"] - (time.perf_counter() - t0)))
            await _send(session, url, ids[i], recs[i]["output"], t0, timeout_s, recs[i])

        await asyncio.gather(*(at(i) for i in range(workload.n)))
        stop.set()
        await poller
    return recs, kv_rows


def run_workload(workload: Workload, base_url: str, timeout_s: float | None = 60.0,
                 seed: int = 0, poll_s: float = 0.5) -> SimResult:
    """Replay ``workload`` against a running server in real time; a :class:`SimResult`."""
    recs, kv_rows = asyncio.run(_run(workload, base_url, timeout_s, seed, poll_s))
    req = pd.DataFrame(recs)
    req["first_token"] = req["first_token"].astype(float)
    req["finish"] = req["finish"].astype(float)
    kv = pd.DataFrame(kv_rows, columns=["time", "usage", "preemptions_total"])
    preempt = kv["preemptions_total"].dropna()
    req["preemptions"] = 0  # vLLM reports preemptions per server, not per request
    counters = {"wall_s": float(req["finish"].max()) if len(req) else 0.0,
                "preemptions_total": (float(preempt.iloc[-1] - preempt.iloc[0]) if len(preempt)
                                      else float("nan"))}
    kv["used_blocks"] = np.nan
    return SimResult(requests=req, kv=kv[["time", "used_blocks", "usage"]], num_blocks=0,
                     counters=counters)


def calibrate(measured: dict[str, tuple[Workload, SimResult]], base: LatencyModel,
              config: ServerConfig, mfu_grid: np.ndarray | None = None,
              mbu_grid: np.ndarray | None = None,
              overhead_grid: np.ndarray | None = None) -> tuple[LatencyModel, pd.DataFrame]:
    """Grid search of (MFU, MBU, overhead) minimising the squared log error of the simulator's
    median TTFT and TPOT against the measured ones, over every measured workload."""
    mfu_grid = np.round(np.arange(0.2, 0.81, 0.1), 3) if mfu_grid is None else mfu_grid
    mbu_grid = np.round(np.arange(0.4, 0.91, 0.1), 3) if mbu_grid is None else mbu_grid
    overhead_grid = np.array([0.002, 0.004, 0.008]) if overhead_grid is None else overhead_grid
    targets = {n: r.summary() for n, (_, r) in measured.items()}
    rows = []
    for mfu, mbu, oh in itertools.product(mfu_grid, mbu_grid, overhead_grid):
        lat = LatencyModel(base.gpu, base.model, float(mfu), float(mbu), float(oh))
        err = 0.0
        for name, (w, _) in measured.items():
            s = simulate(w, lat, config).summary()
            for k in ("ttft_p50", "tpot_p50"):
                err += float(np.log(s[k] / targets[name][k]) ** 2)
        rows.append({"mfu": float(mfu), "mbu": float(mbu), "overhead_s": float(oh), "error": err})
    grid = pd.DataFrame(rows).sort_values("error", ignore_index=True)
    best = grid.iloc[0]
    return LatencyModel(base.gpu, base.model, best.mfu, best.mbu, best.overhead_s), grid


def experiment(workloads: list[Workload], vllm_python: str, workdir: Path,
               config: ServerConfig, base: LatencyModel, timeout_s: float | None,
               port: int = 8000) -> tuple[pd.DataFrame, dict[str, SimResult], LatencyModel]:
    """Serve every workload on a real vLLM server (dummy weights), then calibrate the simulator.

    Returns the measured summaries (one row per workload, with the calibrated simulator's
    prediction beside each), the measured results, and the calibrated latency model.
    """
    if not Path(vllm_python).is_file():
        raise FileNotFoundError(f"{vllm_python}: no Python interpreter with vLLM there; create "
                                f"one with `python -m venv .venv-vllm && .venv-vllm/bin/pip "
                                f"install vllm` on the GPU machine")
    spec = VLLMServerSpec(write_model_dir(workdir / "model"), python=vllm_python, port=port,
                          config=config)
    measured: dict[str, SimResult] = {}
    with serve(spec, log=workdir / "vllm-server.log"):
        for w in workloads:
            measured[w.name] = run_workload(w, spec.base_url, timeout_s=timeout_s)
    fitted, _ = calibrate({w.name: (w, measured[w.name]) for w in workloads}, base, config)
    rows = []
    for w in workloads:
        sim = simulate(w, fitted, config).summary()
        rows.append({"arrivals": w.name, **{f"vllm {k}": v for k, v in measured[w.name].summary().items()},
                     **{f"sim {k}": sim[k] for k in ("ttft_p50", "ttft_p99", "tpot_p50", "kv_peak")}})
    return pd.DataFrame(rows), measured, fitted
