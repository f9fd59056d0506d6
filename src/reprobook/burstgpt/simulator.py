"""A discrete-event simulator of a vLLM-style server (the chapter's serving experiment).

What it models (vLLM's v0 scheduler, without chunked prefill):

- **Iteration-level continuous batching.** Each iteration is either a *prefill* of newly admitted
  requests or one *decode* step of every running request; prefills have priority.
- **Admission (FCFS).** The head of the waiting queue is admitted while the batch stays within
  ``max_num_seqs`` sequences and ``max_num_batched_tokens`` prompt tokens and its prompt's KV
  blocks are free; a blocked head blocks the queue (no overtaking).
- **Paged KV cache.** Blocks of ``block_size`` tokens; a sequence with c cached tokens holds
  ceil(c / block_size) blocks; a decode step that needs a block when none is free first
  **preempts** the most recently admitted running request: its blocks are freed and it returns
  to the head of the queue, to be recomputed by a later prefill of its prompt plus the tokens it
  had generated.
- **Timeouts.** A request still waiting for its first token ``timeout_s`` after arriving is
  aborted and counted as failed. A request that can never fit (prompt + output over
  ``max_model_len``, or over the whole cache) fails at arrival, as vLLM rejects it.
- Iteration times come from :class:`~.latency.LatencyModel`.

Speed: between events that change the schedule (an arrival the queue could admit, a completion, a
block shortage, a timeout) every decode step is the same computation, so runs of decode steps are
advanced together with vectorised step times; the result is identical to stepping one by one.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .constants import LLAMA2_MAX_MODEL_LEN, VLLM_BLOCK_SIZE, VLLM_MAX_NUM_BATCHED_TOKENS, VLLM_MAX_NUM_SEQS
from .generator import Workload
from .latency import LatencyModel


@dataclass(frozen=True)
class ServerConfig:
    block_size: int = VLLM_BLOCK_SIZE
    num_blocks: int | None = None  # None: from the latency model's GPU and model
    max_num_seqs: int = VLLM_MAX_NUM_SEQS
    max_num_batched_tokens: int = VLLM_MAX_NUM_BATCHED_TOKENS
    max_model_len: int = LLAMA2_MAX_MODEL_LEN
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.max_num_batched_tokens < self.max_model_len:
            raise ValueError(f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be >= "
                             f"max_model_len ({self.max_model_len}) without chunked prefill "
                             f"(vLLM refuses this configuration too)")
        if self.block_size < 1 or self.max_num_seqs < 1:
            raise ValueError("block_size and max_num_seqs must be positive")


@dataclass
class SimResult:
    requests: pd.DataFrame  # one row per request
    kv: pd.DataFrame  # time, used_blocks, usage (fraction of capacity)
    num_blocks: int
    counters: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        r = self.requests
        done = r[~r["failed"]]
        ttft = (done["first_token"] - done["arrival"]).to_numpy()
        multi = done[done["output"] > 1]
        tpot = ((multi["finish"] - multi["first_token"]) / (multi["output"] - 1)).to_numpy()
        q = lambda a, p: float(np.percentile(a, p)) if a.size else float("nan")  # noqa: E731
        return {"requests": float(len(r)), "completed": float(len(done)),
                "failed": float(r["failed"].sum()), "failure_rate": float(r["failed"].mean()),
                "ttft_p50": q(ttft, 50), "ttft_p99": q(ttft, 99),
                "tpot_p50": q(tpot, 50), "tpot_p99": q(tpot, 99),
                "preemptions": float(self.counters.get("preemptions_total",
                                                       r["preemptions"].sum())),
                "kv_peak": float(self.kv["usage"].max()), "kv_mean": _time_mean(self.kv)}


def _time_mean(kv: pd.DataFrame) -> float:
    t, u = kv["time"].to_numpy(), kv["usage"].to_numpy()
    if t.size < 2 or t[-1] <= t[0]:
        return float(u.mean()) if u.size else float("nan")
    return float(np.sum(u[:-1] * np.diff(t)) / (t[-1] - t[0]))


def _blocks(tokens: np.ndarray | int, block_size: int) -> np.ndarray | int:
    """ceil(tokens / block_size), for an int or an array."""
    return -(-tokens // block_size)


def simulate(workload: Workload, latency: LatencyModel | None = None,
             config: ServerConfig | None = None) -> SimResult:
    """Serve ``workload`` to completion; see the module docstring for the model."""
    lat = latency or LatencyModel()
    cfg = config or ServerConfig()
    B = cfg.block_size
    cap = cfg.num_blocks if cfg.num_blocks is not None else lat.kv_capacity_blocks(B)
    n = workload.n
    arrival = np.asarray(workload.arrivals, dtype=float)
    prompt = np.asarray(workload.request_tokens, dtype=np.int64)
    output = np.maximum(np.asarray(workload.response_tokens, dtype=np.int64), 1)
    first = np.full(n, np.nan)
    finish = np.full(n, np.nan)
    failed = np.zeros(n, dtype=bool)
    reason = np.array([""] * n, dtype=object)
    gen = np.zeros(n, dtype=np.int64)  # tokens generated so far
    preempt = np.zeros(n, dtype=np.int64)

    waiting: deque[int] = deque()
    run_ids = np.zeros(0, dtype=np.int64)  # running requests, in admission order
    run_kv = np.zeros(0, dtype=np.int64)  # cached tokens of each running request
    used = 0
    now = 0.0
    next_arr = 0
    kv_t, kv_used = [0.0], [0]
    c = {"iterations": 0, "prefills": 0, "decode_steps": 0, "macro_steps": 0,
         "max_batch_seqs": 0, "max_batched_tokens": 0, "max_used_blocks": 0}
    wall0 = time.perf_counter()

    def record() -> None:
        kv_t.append(now)
        kv_used.append(used)
        c["max_used_blocks"] = max(c["max_used_blocks"], used)

    def finish_done() -> None:
        nonlocal run_ids, run_kv, used
        done = gen[run_ids] >= output[run_ids]
        if done.any():
            finish[run_ids[done]] = now
            used -= int(np.sum(_blocks(run_kv[done], B)))
            run_ids, run_kv = run_ids[~done], run_kv[~done]

    while next_arr < n or waiting or run_ids.size:
        while next_arr < n and arrival[next_arr] <= now:
            i = next_arr
            next_arr += 1
            if prompt[i] + output[i] > cfg.max_model_len:
                failed[i], reason[i], finish[i] = True, "longer than max_model_len", arrival[i]
            elif _blocks(int(prompt[i] + output[i]), B) > cap:
                failed[i], reason[i], finish[i] = True, "longer than the whole KV cache", arrival[i]
            else:
                waiting.append(i)
        if cfg.timeout_s is not None and waiting:
            keep: deque[int] = deque()
            for i in waiting:
                if np.isnan(first[i]) and now - arrival[i] > cfg.timeout_s:
                    failed[i], reason[i], finish[i] = True, "timeout", arrival[i] + cfg.timeout_s
                else:
                    keep.append(i)
            waiting = keep
        # --- try a prefill of the queue's head (FCFS) ---
        admit: list[int] = []
        tokens = 0
        blocks = 0
        for i in waiting:
            need_tokens = int(prompt[i] + gen[i])  # recompute prompt + generated after preemption
            nb = _blocks(need_tokens, B)
            if (run_ids.size + len(admit) + 1 > cfg.max_num_seqs
                    or tokens + need_tokens > cfg.max_num_batched_tokens
                    or used + blocks + nb > cap):
                break
            admit.append(i)
            tokens += need_tokens
            blocks += nb
        if admit:
            for _ in admit:
                waiting.popleft()
            ids = np.array(admit, dtype=np.int64)
            kv = prompt[ids] + gen[ids]
            now += lat.prefill(kv)
            used += blocks
            gen[ids] += 1
            new_first = np.isnan(first[ids])
            first[ids[new_first]] = now
            run_ids, run_kv = np.concatenate([run_ids, ids]), np.concatenate([run_kv, kv])
            c["prefills"] += 1
            c["iterations"] += 1
            c["max_batch_seqs"] = max(c["max_batch_seqs"], int(run_ids.size))
            c["max_batched_tokens"] = max(c["max_batched_tokens"], tokens)
            record()
            finish_done()
            record()
            continue
        if not run_ids.size:
            if next_arr < n:
                now = max(now, arrival[next_arr])
                continue
            if waiting:  # nothing running, head cannot fit: it can never run
                i = waiting.popleft()
                failed[i], reason[i], finish[i] = True, "cannot be scheduled", now
                continue
            break
        # --- decode: make room, then advance k identical steps ---
        while run_ids.size and int(np.sum(_blocks(run_kv + 1, B))) > cap:
            victim = run_ids[-1]
            used -= int(_blocks(int(run_kv[-1]), B))
            run_ids, run_kv = run_ids[:-1], run_kv[:-1]
            preempt[victim] += 1
            waiting.appendleft(int(victim))
            record()
        if not run_ids.size:
            continue
        k_done = int(np.min(output[run_ids] - gen[run_ids]))
        # largest k with sum_i ceil((kv_i + k) / B) <= cap (monotone in k): binary search
        lo, hi = 1, k_done
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if int(np.sum(_blocks(run_kv + mid, B))) <= cap:
                lo = mid
            else:
                hi = mid - 1
        k = lo
        b = run_ids.size
        steps = lat.decode(b, run_kv.sum() + b * np.arange(k))
        ends = now + np.cumsum(steps)
        boundary = None
        if not waiting and next_arr < n:
            boundary = arrival[next_arr]  # a new arrival may be admitted at the next iteration
        elif waiting and cfg.timeout_s is not None:
            deadlines = [arrival[i] + cfg.timeout_s for i in waiting if np.isnan(first[i])]
            boundary = min(deadlines) if deadlines else None
        if boundary is not None and ends[-1] >= boundary:
            k = int(np.searchsorted(ends, boundary, side="left")) + 1
        k = max(1, min(k, steps.size))
        now = float(ends[k - 1])
        run_kv = run_kv + k
        gen[run_ids] += k
        used = int(np.sum(_blocks(run_kv, B)))
        c["decode_steps"] += k
        c["iterations"] += k
        c["macro_steps"] += 1
        record()
        finish_done()
        record()
    kv = pd.DataFrame({"time": kv_t, "used_blocks": kv_used})
    kv["usage"] = kv["used_blocks"] / cap
    requests = pd.DataFrame({"arrival": arrival, "prompt": prompt, "output": output,
                             "first_token": first, "finish": finish, "failed": failed,
                             "reason": reason, "preemptions": preempt, "generated": gen})
    c["wall_s"] = time.perf_counter() - wall0
    c["simulated_s"] = now
    c["final_used_blocks"] = used
    return SimResult(requests=requests, kv=kv, num_blocks=cap, counters=c)
