"""A discrete-event simulator of a vLLM-style server (the chapter's serving experiment).

Two schedulers, switched by ``ServerConfig.chunked_prefill``:

- **vLLM V1 (default, chunked prefill).** Every iteration builds one batch under a token budget of
  ``max_num_batched_tokens``: first the running requests in admission order — one token for each
  decoding request, the next chunk of the prompt for a request still in prefill — then waiting
  requests (preempted ones first, then new arrivals FCFS), each with a chunk of at most the
  remaining budget, while the batch stays within ``max_num_seqs`` and the chunk's KV blocks are
  free (a head that does not fit blocks the queue). A request produces its next token in the
  iteration that finishes its prefill; decoding requests produce one token per iteration. vLLM V1
  always works this way.
- **vLLM v0 (``chunked_prefill=False``).** Each iteration is either a prefill of whole prompts of
  newly admitted requests (prefills have priority; ``max_num_batched_tokens`` must hold the longest
  prompt) or one decode step of every running request.

Common to both:

- **Paged KV cache.** Blocks of ``block_size`` tokens; a request with c cached tokens holds
  ceil(c / block_size) blocks. When the running requests need a block and none is free, the most
  recently admitted running request is **preempted**: its blocks are freed and it returns to the
  head of the queue, to be recomputed later (prompt plus the tokens it had generated).
- **Timeouts.** A request that has not received its first token ``timeout_s`` after arriving, and
  is still waiting, is aborted and counted as failed (the client gives up). A request that can
  never fit (prompt + output over ``max_model_len``, or over the whole cache) fails at arrival, as
  vLLM rejects it.
- Iteration times come from :class:`~.latency.LatencyModel` (:meth:`~.latency.LatencyModel.step`).

Speed. The waiting queue is two deques (preempted requests, and new arrivals in arrival order), so
admission looks only at the head and timeouts pop expired requests from the front: no iteration
scans the queue. Between events that change the schedule (an admissible arrival, a completion, a
block shortage, a timeout) every decode step is the same computation, so runs of decode steps are
advanced together with vectorised step times; the result is identical to stepping one by one
(tested).
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .constants import (LLAMA2_MAX_MODEL_LEN, VLLM_BLOCK_SIZE, VLLM_MAX_NUM_SEQS,
                        VLLM_V0_MAX_NUM_BATCHED_TOKENS, VLLM_V1_MAX_NUM_BATCHED_TOKENS)
from .generator import Workload
from .latency import LatencyModel


@dataclass(frozen=True)
class ServerConfig:
    """The scheduler's settings (the same values are passed to a real vLLM server)."""

    block_size: int = VLLM_BLOCK_SIZE
    num_blocks: int | None = None  # None: from the latency model's GPU and model
    max_num_seqs: int = VLLM_MAX_NUM_SEQS
    max_num_batched_tokens: int | None = None  # None: V1's 8192 or v0's 4096 (constants)
    max_model_len: int = LLAMA2_MAX_MODEL_LEN
    timeout_s: float | None = None
    chunked_prefill: bool = True  # vLLM V1; False: the v0 scheduler

    def __post_init__(self) -> None:
        if self.max_num_batched_tokens is None:
            object.__setattr__(self, "max_num_batched_tokens",
                               VLLM_V1_MAX_NUM_BATCHED_TOKENS if self.chunked_prefill
                               else VLLM_V0_MAX_NUM_BATCHED_TOKENS)
        if self.block_size < 1 or self.max_num_seqs < 1 or self.max_num_batched_tokens < 1:
            raise ValueError("block_size, max_num_seqs and max_num_batched_tokens must be positive")
        if not self.chunked_prefill and self.max_num_batched_tokens < self.max_model_len:
            raise ValueError(f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be >= "
                             f"max_model_len ({self.max_model_len}) without chunked prefill "
                             f"(vLLM refuses this configuration too)")
        if self.max_num_batched_tokens < self.max_num_seqs and self.chunked_prefill:
            raise ValueError(f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be >= "
                             f"max_num_seqs ({self.max_num_seqs}): every running request needs a "
                             f"token of the budget")


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


class _Server:
    """The simulator's state and its two schedulers (see the module docstring)."""

    def __init__(self, w: Workload, lat: LatencyModel, cfg: ServerConfig,
                 runs: bool = True) -> None:
        self.lat, self.cfg, self.B, self.runs = lat, cfg, cfg.block_size, runs
        self.cap = cfg.num_blocks if cfg.num_blocks is not None else lat.kv_capacity_blocks(self.B)
        self.n = n = w.n
        self.arrival = np.asarray(w.arrivals, dtype=float)
        self.arr = self.arrival.tolist()
        self.prompt = np.asarray(w.request_tokens, dtype=np.int64).tolist()
        self.output = np.maximum(np.asarray(w.response_tokens, dtype=np.int64), 1).tolist()
        self.first = [math.nan] * n
        self.finish = [math.nan] * n
        self.failed = [False] * n
        self.reason = [""] * n
        self.gen = [0] * n
        self.preempt = [0] * n
        self.fresh: deque[int] = deque()  # new arrivals, FCFS (arrival order)
        self.resumed: deque[int] = deque()  # preempted requests, most recent first
        # running requests in admission order: ids, cached tokens, prefill tokens still to compute
        self.run_ids: list[int] = []
        self.run_kv: list[int] = []
        self.run_pre: list[int] = []
        self.used = 0
        self.now = 0.0
        self.next_arr = 0
        self.kv_t: list[float] = [0.0]
        self.kv_used: list[int] = [0]
        self.c = {"iterations": 0, "prefill_iterations": 0, "decode_steps": 0, "macro_steps": 0,
                  "max_batch_seqs": 0, "max_batched_tokens": 0, "max_used_blocks": 0,
                  "preemptions_total": 0, "events": 0}

    # --- queue ---------------------------------------------------------------------------------
    def arrive(self) -> None:
        cfg, B = self.cfg, self.B
        while self.next_arr < self.n and self.arr[self.next_arr] <= self.now:
            i = self.next_arr
            self.next_arr += 1
            self.c["events"] += 1
            total = self.prompt[i] + self.output[i]
            if total > cfg.max_model_len:
                self._fail(i, "longer than max_model_len", self.arr[i])
            elif _blocks(total, B) > self.cap:
                self._fail(i, "longer than the whole KV cache", self.arr[i])
            else:
                self.fresh.append(i)

    def expire(self) -> None:
        """Abort waiting requests without a first token past their deadline (FIFO: a prefix)."""
        t = self.cfg.timeout_s
        if t is None:
            return
        while self.fresh and self.now - self.arr[self.fresh[0]] > t:
            i = self.fresh.popleft()
            self._fail(i, "timeout", self.arr[i] + t)
        if self.resumed and any(math.isnan(self.first[i]) for i in self.resumed):
            keep = deque()
            for i in self.resumed:
                if math.isnan(self.first[i]) and self.now - self.arr[i] > t:
                    self._fail(i, "timeout", self.arr[i] + t)
                else:
                    keep.append(i)
            self.resumed = keep

    def deadline(self) -> float | None:
        """The earliest time a waiting request times out (None: no timeout pending)."""
        t = self.cfg.timeout_s
        if t is None:
            return None
        times = [self.arr[i] + t for i in self.resumed if math.isnan(self.first[i])]
        if self.fresh:
            times.append(self.arr[self.fresh[0]] + t)
        return min(times) if times else None

    def head(self) -> int | None:
        if self.resumed:
            return self.resumed[0]
        return self.fresh[0] if self.fresh else None

    def pop_head(self) -> int:
        return self.resumed.popleft() if self.resumed else self.fresh.popleft()

    def _fail(self, i: int, why: str, when: float) -> None:
        self.failed[i], self.reason[i], self.finish[i] = True, why, when
        self.c["events"] += 1

    def record(self) -> None:
        self.kv_t.append(self.now)
        self.kv_used.append(self.used)
        if self.used > self.c["max_used_blocks"]:
            self.c["max_used_blocks"] = self.used

    # --- running set ---------------------------------------------------------------------------
    def preempt_last(self) -> None:
        i, kv = self.run_ids.pop(), self.run_kv.pop()
        self.run_pre.pop()
        self.used -= _blocks(kv, self.B)
        self.preempt[i] += 1
        self.c["preemptions_total"] += 1
        self.c["events"] += 1
        self.resumed.appendleft(i)

    def emit(self, positions: list[int]) -> None:
        """One new token for the running requests at ``positions``; finish the complete ones."""
        now, done = self.now, []
        for p in positions:
            i = self.run_ids[p]
            self.gen[i] += 1
            if math.isnan(self.first[i]):
                self.first[i] = now
            if self.gen[i] >= self.output[i]:
                done.append(p)
        self._finish(done)

    def _finish(self, done: list[int]) -> None:
        """Remove the finished running requests at positions ``done`` (ascending)."""
        for p in reversed(done):
            i = self.run_ids.pop(p)
            self.used -= _blocks(self.run_kv.pop(p), self.B)
            self.run_pre.pop(p)
            self.finish[i] = self.now
            self.c["events"] += 1

    # --- decode runs (both schedulers) ---------------------------------------------------------
    def decode_run(self, boundary: float | None) -> None:
        """Advance k >= 1 identical decode steps of every running request (all past prefill):
        up to the first completion, the last step the free blocks allow, or ``boundary``."""
        B, cap = self.B, self.cap
        # make room for one step: each request whose last block is full needs a new block
        while self.run_ids and self.used + sum(kv % B == 0 for kv in self.run_kv) > cap:
            self.preempt_last()
        if not self.run_ids:
            return
        slack = [(-kv) % B for kv in self.run_kv]  # free token slots in each last block
        free = cap - self.used
        left = min(self.output[i] - self.gen[i] for i in self.run_ids) if self.runs else 1

        def extra(k: int) -> int:  # blocks the running requests need for k more tokens each
            return sum((k - s + B - 1) // B for s in slack if k > s)

        if extra(left) <= free:
            k = left
        else:  # largest k with extra(k) <= free (monotone in k; extra(1) <= free holds)
            lo, hi = 1, left
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if extra(mid) <= free:
                    lo = mid
                else:
                    hi = mid - 1
            k = lo
        b, cached = len(self.run_ids), sum(self.run_kv)
        if boundary is not None:
            k = self.lat.decode_steps_within(b, cached, k, boundary - self.now)
        self.now += self.lat.decode_total(b, cached, k)
        self.used += extra(k)
        self.run_kv = [kv + k for kv in self.run_kv]
        self.c["decode_steps"] += k
        self.c["iterations"] += k
        self.c["macro_steps"] += 1
        done = []
        for p, i in enumerate(self.run_ids):  # k tokens each; the last one may finish it
            self.gen[i] += k
            if self.gen[i] >= self.output[i]:
                done.append(p)
        self._finish(done)
        self.record()

    def boundary(self) -> float | None:
        """When the next decode run must stop to let the schedule change."""
        if not self.fresh and not self.resumed and self.next_arr < self.n:
            return self.arr[self.next_arr]  # a new arrival may be admitted
        return self.deadline()

    # --- v0 ------------------------------------------------------------------------------------
    def step_v0(self) -> bool:
        """One v0 iteration (a prefill if the head fits, else a decode run); False when idle."""
        cfg, B = self.cfg, self.B
        admit, tokens, blocks = [], 0, 0
        for i in itertools.chain(self.resumed, self.fresh):  # stops at the first that does not fit
            need = self.prompt[i] + self.gen[i]  # recompute prompt + generated after preemption
            nb = _blocks(need, B)
            if (len(self.run_ids) + len(admit) + 1 > cfg.max_num_seqs
                    or tokens + need > cfg.max_num_batched_tokens
                    or self.used + blocks + nb > self.cap):
                break
            admit.append(i)
            tokens += need
            blocks += nb
        if admit:
            ctx = [self.prompt[i] + self.gen[i] for i in admit]
            for _ in admit:
                self.pop_head()
            self.now += self.lat.prefill(np.asarray(ctx))
            self.used += blocks
            start = len(self.run_ids)
            self.run_ids += admit
            self.run_kv += ctx
            self.run_pre += [0] * len(admit)
            self._count(len(admit), tokens, prefill=True)
            self.emit(list(range(start, len(self.run_ids))))
            self.record()
            return True
        return self._idle_or_decode()

    def _idle_or_decode(self) -> bool:
        if self.run_ids:
            self.decode_run(self.boundary())
            return True
        if self.next_arr < self.n:
            self.now = max(self.now, self.arr[self.next_arr])
            return True
        if self.resumed or self.fresh:  # nothing running and the head cannot fit: it never will
            i = self.pop_head()
            self._fail(i, "cannot be scheduled", self.now)
            return True
        return False

    def _count(self, seqs: int, tokens: int, prefill: bool) -> None:
        self.c["iterations"] += 1
        self.c["prefill_iterations"] += int(prefill)
        self.c["max_batch_seqs"] = max(self.c["max_batch_seqs"], len(self.run_ids))
        self.c["max_batched_tokens"] = max(self.c["max_batched_tokens"], tokens)

    # --- V1 (chunked prefill) ------------------------------------------------------------------
    def admissible(self, budget: int) -> bool:
        """Whether the queue's head could join a batch with ``budget`` tokens left now."""
        i = self.head()
        if i is None or budget <= 0 or len(self.run_ids) >= self.cfg.max_num_seqs:
            return False
        chunk = min(self.prompt[i] + self.gen[i], budget)
        return self.used + _blocks(chunk, self.B) <= self.cap

    def step_v1(self) -> bool:
        """One V1 iteration; decode-only stretches are advanced as runs. False when idle."""
        cfg, B = self.cfg, self.B
        in_prefill = any(p > 0 for p in self.run_pre)
        if not in_prefill and not self.admissible(cfg.max_num_batched_tokens - len(self.run_ids)):
            return self._idle_or_decode()
        budget = cfg.max_num_batched_tokens
        chunks: list[tuple[int, int]] = []  # (chunk tokens, context before it) of prefills
        emit: list[int] = []
        dec_b, dec_k, preempted = 0, 0, False
        p = 0
        while p < len(self.run_ids):  # running requests first, in admission order
            kv, pre = self.run_kv[p], self.run_pre[p]
            if pre > 0:
                new = min(pre, budget)
                if new <= 0:
                    p += 1
                    continue
                need = _blocks(kv + new, B) - _blocks(kv, B)
            else:
                new, need = 1, int(kv % B == 0)
            while self.used + need > self.cap and self.run_ids:
                last = len(self.run_ids) - 1
                self.preempt_last()
                preempted = True
                if last == p:
                    break
            if p >= len(self.run_ids):
                break
            self.used += need
            self.run_kv[p] = kv + new
            budget -= new
            if pre > 0:
                chunks.append((new, kv))
                self.run_pre[p] = pre - new
                if pre - new == 0:
                    emit.append(p)
            else:
                dec_b += 1
                dec_k += kv
                emit.append(p)
            p += 1
        while not preempted and self.admissible(budget):  # then the queue
            i = self.pop_head()
            need_tokens = self.prompt[i] + self.gen[i]
            new = min(need_tokens, budget)
            self.used += _blocks(new, B)
            self.run_ids.append(i)
            self.run_kv.append(new)
            self.run_pre.append(need_tokens - new)
            chunks.append((new, 0))
            budget -= new
            if need_tokens == new:
                emit.append(len(self.run_ids) - 1)
        if not chunks and not dec_b:
            return self._idle_or_decode()
        self.now += self.lat.step(chunks, dec_b, dec_k)
        self._count(len(self.run_ids), cfg.max_num_batched_tokens - budget, prefill=bool(chunks))
        self.emit(sorted(emit))
        self.record()
        return True


def simulate(workload: Workload, latency: LatencyModel | None = None,
             config: ServerConfig | None = None, decode_runs: bool = True) -> SimResult:
    """Serve ``workload`` to completion; see the module docstring for the model.

    ``decode_runs=False`` steps every decode iteration on its own (the reference the tests compare
    the vectorised runs with; identical results, much slower).
    """
    s = _Server(workload, latency or LatencyModel(), config or ServerConfig(), decode_runs)
    step = s.step_v1 if s.cfg.chunked_prefill else s.step_v0
    wall0 = time.perf_counter()
    while True:
        s.arrive()
        s.expire()
        if not step():
            break
    kv = pd.DataFrame({"time": s.kv_t, "used_blocks": s.kv_used})
    kv["usage"] = kv["used_blocks"] / s.cap
    requests = pd.DataFrame({"arrival": s.arrival, "prompt": s.prompt, "output": s.output,
                             "first_token": s.first, "finish": s.finish, "failed": s.failed,
                             "reason": s.reason, "preemptions": s.preempt, "generated": s.gen})
    c = dict(s.c)
    c["wall_s"] = time.perf_counter() - wall0
    c["simulated_s"] = s.now
    c["final_used_blocks"] = s.used
    return SimResult(requests=requests, kv=kv, num_blocks=s.cap, counters=c)
