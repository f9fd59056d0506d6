"""One data-parallel trainer rank: DDP + ZeroRedundancyOptimizer with REFT snapshots.

Launched once per rank by :mod:`reprobook.reft.cluster` (or by ``torchrun``: the rank comes from
``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR`` / ``MASTER_PORT``) as
``python -m reprobook.reft.trainer <run_dir>/config.json``.

Per iteration (paper Sec. 3, asynchronous sharded snapshotting): forward, backward (DDP averages
the gradients), *wait for the previous snapshot copy*, ``optimizer.step()`` (ZeRO: each rank
updates the parameters it owns and broadcasts them), then start copying this rank's shard (owned
parameters, their Adam m, v, step, the scheduler, the RNG states, the data cursor) into its
shared-memory slot on a background thread, overlapping the next forward/backward. Parameters and
optimizer state do not change until the next step, so the copy sees a consistent state.

Faults happen at defined points, so that where a recovery comes from does not depend on timing: a
``kill`` fault at step S is taken after the backward pass of iteration S, once every rank has waited
for its snapshot of step S - 1 and passed a barrier (so that snapshot is committed everywhere); a
``torn`` fault dies half-way through copying the snapshot of step S. A watchdog thread ends the
trainer if the launcher that started it dies (the trainers run in their own sessions, so nothing else
would stop them).

``cycle_methods`` (the overhead experiment) alternates what happens after each step in blocks of
``cycle`` iterations within one job — nothing, a REFT snapshot, a blocking checkpoint — so the
methods are compared in the same processes, interleaved, rather than in separate launches.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel as DDP

from reprobook.core.seeds import derive_seed

from . import slots as S
from .config import RunConfig
from .model import GPT, batch
from .baselines import throttled_save
from .state import bytes_tensor, from_bytes_tensor, layout, pack_into, rng_state, set_rng_state, unpack

SELF_KILL = signal.SIGKILL
LAUNCHER_ENV = "REPROBOOK_REFT_LAUNCHER"  # the launcher's pid: the trainer's watchdog follows it


def lr_lambda(warmup: int, steps: int):
    """The learning-rate factor per step: linear warm-up, then cosine decay to 10 %."""
    def f(step: int) -> float:  # linear warm-up, then cosine decay to 10 %
        if step < warmup:
            return (step + 1) / warmup
        frac = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.45 * (1 + math.cos(math.pi * frac))
    return f


class Trainer:
    """One rank's training state (DDP model, ZeRO optimizer, scheduler) and its snapshots."""
    def __init__(self, cfg: RunConfig, rank: int):
        self.cfg, self.rank = cfg, rank
        self.dev = torch.device(cfg.device if cfg.device == "cpu" else f"cuda:{rank % torch.cuda.device_count()}")
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.model = GPT(cfg.gpt).to(self.dev)
        self.ddp = DDP(self.model, bucket_cap_mb=1024)
        self.opt = ZeroRedundancyOptimizer(self.model.parameters(), optimizer_class=torch.optim.AdamW,
                                           lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.1)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_lambda(cfg.warmup, cfg.steps))
        self.names = {id(p): n for n, p in self.model.named_parameters()}
        owned = [self.names[id(p)] for g in self.opt.optim.param_groups for p in g["params"]]
        gathered: list[list[str]] = [[] for _ in range(dist.get_world_size())]
        dist.all_gather_object(gathered, owned)
        self.owner = {n: r for r, ns in enumerate(gathered) for n in ns}
        self.owned = owned
        self.params = dict(self.model.named_parameters())
        torch.manual_seed(derive_seed(cfg.seed, "rank", rank))  # dropout differs per rank
        self.copy_thread: threading.Thread | None = None
        snaps = cfg.snap_every or "reft" in cfg.cycle_methods
        self.slots = [S.Slot(cfg.rank_slot(rank, i)) for i in (0, 1)] if snaps else []
        self.wait_s = 0.0
        self.copy_s = 0.0
        # CUDA only: pinned host buffers, allocated (and registered with the driver) at the first
        # snapshot and reused, and one copy stream for every snapshot
        self.staging: dict[str, torch.Tensor] = {}
        self.stream = torch.cuda.Stream(self.dev) if self.dev.type == "cuda" else None

    # -- the shard --------------------------------------------------------------------------
    def shard(self, done: int) -> dict[str, torch.Tensor]:
        """This rank's snapshot after ``done`` steps (tensors shared with the live state, except
        the small ones, which are copied now)."""
        out: dict[str, torch.Tensor] = {}
        for n in self.owned:
            p = self.params[n]
            out[f"param.{n}"] = p.detach()
            st = self.opt.optim.state.get(p, {})
            for key in ("exp_avg", "exp_avg_sq", "step"):
                if key in st:
                    out[f"adam.{n}.{key}"] = st[key].detach()
        sd = self.sched.state_dict()  # LambdaLR keeps [None] for function lambdas
        out["sched"] = bytes_tensor(sd)
        out["cursor"] = torch.tensor([done], dtype=torch.int64)
        out.update({k: v.clone() for k, v in rng_state().items()})
        return out

    def load_shard(self, shard: dict[str, torch.Tensor]) -> int:
        """Restore from this rank's shard; the owners then broadcast their parameters."""
        with torch.no_grad():
            for n in self.owned:
                p = self.params[n]
                p.copy_(shard[f"param.{n}"].to(self.dev))
                if f"adam.{n}.exp_avg" in shard:
                    self.opt.optim.state[p] = {k: shard[f"adam.{n}.{k}"].clone().to(
                        self.dev if k != "step" else "cpu") for k in ("step", "exp_avg", "exp_avg_sq")}
            for n, p in self.params.items():
                dist.broadcast(p.data, src=self.owner[n])
        sd = from_bytes_tensor(shard["sched"])
        self.sched.load_state_dict(sd)
        for g, lr in zip(self.opt.param_groups, self.sched.get_last_lr()):
            g["lr"] = lr
        set_rng_state(shard)
        return int(shard["cursor"][0])

    # -- REFT snapshot ----------------------------------------------------------------------
    def snapshot_async(self, done: int) -> None:
        """Start copying the shard of step ``done`` into its slot on a background thread (device
        tensors first go to pinned staging buffers on the copy stream)."""
        shard = self.shard(done)
        slot = self.slots[S.slot_index(done, self.cfg.slot_every)]
        torn = any(f.kind == "torn" and f.rank == self.rank and f.step == done and f.attempt == self.cfg.attempt
                   for f in self.cfg.faults)
        if self.stream is not None:  # device -> pinned host copies on the copy stream
            stream = self.stream
            stream.wait_stream(torch.cuda.current_stream(self.dev))
            with torch.cuda.stream(stream):
                for k, v in list(shard.items()):
                    if v.is_cuda:
                        if k not in self.staging:
                            self.staging[k] = torch.empty(v.shape, dtype=v.dtype, pin_memory=True)
                        self.staging[k].copy_(v, non_blocking=True)
                        shard[k] = self.staging[k]
            event = torch.cuda.Event()
            event.record(stream)
        else:
            event = None

        def copy() -> None:
            t = time.perf_counter()
            if event is not None:
                event.synchronize()
            specs = layout(shard)
            if torn:  # die half-way through the copy: the slot stays uncommitted
                buf = slot.begin(specs)
                pack_into(buf, shard, specs[:len(specs) // 2])
                os.kill(os.getpid(), SELF_KILL)
            slot.write(done, shard, specs)
            self.copy_s = time.perf_counter() - t

        self.copy_thread = threading.Thread(target=copy, daemon=True)
        self.copy_thread.start()

    def wait_snapshot(self) -> None:
        """Block until the running snapshot copy (if any) has committed; the time is counted."""
        if self.copy_thread is not None:
            t = time.perf_counter()
            self.copy_thread.join()
            self.wait_s += time.perf_counter() - t
            self.copy_thread = None

    # -- persistent checkpoint (the fallback, and a baseline) --------------------------------
    def checkpoint(self, done: int) -> None:
        """A blocking persistent checkpoint of every rank's shard at the emulated bandwidth, made
        safe for recovery by a ``COMMIT`` file once every rank has written."""
        d = Path(self.cfg.ckpt_dir) / f"step-{done:08d}"
        d.mkdir(parents=True, exist_ok=True)
        throttled_save({k: v.cpu() for k, v in self.shard(done).items()}, d / f"rank-{self.rank}.pt",
                       self.cfg.storage_mbps)
        dist.barrier()
        if self.rank == 0:
            (d / "COMMIT").write_text(str(done))

    def rebuild_buckets(self) -> None:
        """One gradient-only iteration (no optimizer step) before the restored state is loaded.

        DDP re-orders its gradient buckets after its first iteration. With more than two ranks the
        order of the floating-point sum of a gradient element depends on where it sits in a bucket,
        so a restarted trainer whose *first* iteration were a real one would sum differently from
        the uninterrupted run there, and drift in the last bits. After this warm-up the restarted
        DDP has the same buckets as the uninterrupted one; the RNG states it consumed are then
        overwritten by the snapshot's.
        """
        x, y = batch(0, self.rank, self.cfg.batch_size, self.cfg.gpt.seq_len, self.cfg.seed)
        self.ddp(x.to(self.dev), y.to(self.dev)).backward()
        self.opt.zero_grad(set_to_none=True)

    def restore(self) -> int:
        """Load the state the launcher chose (``cfg.restore``); returns the step to continue from."""
        r = self.cfg.restore
        if r.kind == "none":
            return 0
        if r.kind == "reft":
            with S.Slot(self.cfg.rank_slot(self.rank, S.slot_index(r.step, self.cfg.slot_every))) as slot:
                info = slot.info(verify=True)
                if info is None or info.step != r.step:
                    raise S.SlotError(f"rank {self.rank}: slot for step {r.step} is not valid")
                shard = unpack(slot.payload, info.specs)
        elif r.kind == "ckpt":
            shard = torch.load(Path(self.cfg.ckpt_dir) / f"step-{r.step:08d}" / f"rank-{self.rank}.pt")
        else:
            raise ValueError(f"unknown restore kind {r.kind!r}")
        self.rebuild_buckets()
        step = self.load_shard(shard)
        if step != r.step:
            raise RuntimeError(f"rank {self.rank}: restored cursor {step} != requested step {r.step}")
        return step

    # -- the loop -----------------------------------------------------------------------------
    def _fault_point(self, done: int) -> None:
        """A ``kill`` or ``hold`` fault at ``done``: every rank waits for its previous snapshot and
        meets at a barrier; then the faulted rank(s) die (rank -1: all of them), or, for ``hold``,
        every rank waits to be killed by the launcher's node loss (rank 0 says where it holds)."""
        cfg = self.cfg
        now = [f for f in cfg.faults if f.kind in ("kill", "hold") and f.step == done
               and f.attempt == cfg.attempt]
        if not now:
            return
        self.wait_snapshot()
        dist.barrier()
        if any(f.kind == "kill" and f.rank in (self.rank, -1) for f in now):
            os.kill(os.getpid(), SELF_KILL)  # mid-iteration: gradients computed, step not taken
        if any(f.kind == "hold" for f in now):
            if self.rank == 0:
                (Path(cfg.run_dir) / hold_file(cfg.attempt, done)).write_text(str(done))
            while True:  # the launcher kills this process
                time.sleep(1.0)

    def method(self, done: int) -> str:
        """What follows step ``done``: from the overhead cycle, else from the run's settings."""
        cfg = self.cfg
        if cfg.cycle_methods:
            block = cfg.cycle_block(done)
            return "none" if block is None else cfg.cycle_methods[block % len(cfg.cycle_methods)]
        if cfg.snap_every and done % cfg.snap_every == 0:
            return "reft"
        return "none"

    def train(self, log: Path) -> None:
        """Train from the restored step to ``cfg.steps``, snapshotting and checkpointing as set;
        rank 0 logs one JSON line per step (loss, times, what followed the step)."""
        cfg = self.cfg
        start = self.restore()
        world = dist.get_world_size()
        t0 = time.perf_counter()
        f = open(log, "a") if self.rank == 0 else None
        for step in range(start, cfg.steps):
            done = step + 1
            x, y = batch(step, self.rank, cfg.batch_size, cfg.gpt.seq_len, cfg.seed)
            loss = self.ddp(x.to(self.dev), y.to(self.dev))
            loss.backward()
            self._fault_point(done)
            self.wait_snapshot()
            self.opt.step()
            self.sched.step()
            self.opt.zero_grad(set_to_none=True)
            mean = loss.detach().clone()
            dist.all_reduce(mean)
            what = self.method(done)
            if what == "reft":
                self.snapshot_async(done)
            if what == "ckpt" or (cfg.ckpt_every and done % cfg.ckpt_every == 0):
                self.wait_snapshot()
                self.checkpoint(done)
            if f is not None:
                f.write(json.dumps({"attempt": cfg.attempt, "step": done, "loss": float(mean) / world,
                                    "t": time.perf_counter() - t0, "wait": self.wait_s,
                                    "copy": self.copy_s, "after": what}) + "\n")
                f.flush()
        self.wait_snapshot()
        if self.rank == 0:
            torch.save({k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                       Path(cfg.run_dir) / "final.pt")
        dist.barrier()
        for s in self.slots:
            s.close()
        if f is not None:
            f.close()


def hold_file(attempt: int, step: int) -> str:
    """The file rank 0 writes when every rank holds at ``step`` (a node loss is due)."""
    return f"hold-{attempt}-{step}"


def watch_launcher(launcher: int, every_s: float = 0.2) -> None:
    """End this process if the launcher that started it is gone (its parent changes)."""
    def loop() -> None:
        while True:
            if os.getppid() != launcher:
                os._exit(3)
            time.sleep(every_s)

    threading.Thread(target=loop, daemon=True, name="launcher-watchdog").start()


def main(argv: list[str] | None = None) -> int:
    """Run one rank: ``python -m reprobook.reft.trainer <config.json>`` with torchrun's variables."""
    argv = sys.argv[1:] if argv is None else argv
    cfg = RunConfig.load(argv[0])
    if os.environ.get(LAUNCHER_ENV):
        watch_launcher(int(os.environ[LAUNCHER_ENV]))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if world != cfg.world:
        raise SystemExit(f"WORLD_SIZE={world} but the config describes {cfg.world} ranks")
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    backend = "gloo" if cfg.device == "cpu" else "nccl"
    dist.init_process_group(backend, rank=rank, world_size=world)
    t0 = time.perf_counter()
    try:
        Trainer(cfg, rank).train(Path(cfg.run_dir) / "losses.jsonl")
    finally:
        dist.destroy_process_group()
    print(f"rank {rank}: finished in {time.perf_counter() - t0:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip the interpreter's slow teardown of torch; every file is closed by now
