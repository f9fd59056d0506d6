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


def lr_lambda(warmup: int, steps: int):
    def f(step: int) -> float:  # linear warm-up, then cosine decay to 10 %
        if step < warmup:
            return (step + 1) / warmup
        frac = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.45 * (1 + math.cos(math.pi * frac))
    return f


class Trainer:
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
        self.slots = [S.Slot(cfg.rank_slot(rank, i)) for i in (0, 1)] if cfg.snap_every else []
        self.wait_s = 0.0
        self.copy_s = 0.0
        self.staging: dict[str, torch.Tensor] = {}  # pinned host buffers (CUDA only)

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
        shard = self.shard(done)
        slot = self.slots[S.slot_index(done, self.cfg.snap_every)]
        torn = any(f.kind == "torn" and f.rank == self.rank and f.step == done and f.attempt == self.cfg.attempt
                   for f in self.cfg.faults)
        if self.dev.type == "cuda":  # device -> pinned host copies on a side stream
            stream = torch.cuda.Stream(self.dev)
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
            buf = slot.begin(specs)
            if torn:  # die half-way through the copy: the slot stays uncommitted
                half = len(specs) // 2
                pack_into(buf, shard, specs[:half])
                os.kill(os.getpid(), SELF_KILL)
            pack_into(buf, shard, specs)
            slot.commit(done, len(buf))
            self.copy_s = time.perf_counter() - t

        self.copy_thread = threading.Thread(target=copy, daemon=True)
        self.copy_thread.start()

    def wait_snapshot(self) -> None:
        if self.copy_thread is not None:
            t = time.perf_counter()
            self.copy_thread.join()
            self.wait_s += time.perf_counter() - t
            self.copy_thread = None

    # -- persistent checkpoint (the fallback, and a baseline) --------------------------------
    def checkpoint(self, done: int) -> None:
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
        r = self.cfg.restore
        if r.kind == "none":
            return 0
        if r.kind == "reft":
            with S.Slot(self.cfg.rank_slot(self.rank, S.slot_index(r.step, self.cfg.snap_every))) as slot:
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
    def train(self, log: Path) -> None:
        cfg = self.cfg
        start = self.restore()
        world = dist.get_world_size()
        t0 = time.perf_counter()
        f = open(log, "a") if self.rank == 0 else None
        for step in range(start, cfg.steps):
            x, y = batch(step, self.rank, cfg.batch_size, cfg.gpt.seq_len, cfg.seed)
            loss = self.ddp(x.to(self.dev), y.to(self.dev))
            loss.backward()
            if any(fl.kind == "kill" and fl.rank == self.rank and fl.step == step + 1 and fl.attempt == cfg.attempt
                   for fl in cfg.faults):
                os.kill(os.getpid(), SELF_KILL)  # mid-iteration: gradients computed, step not taken
            self.wait_snapshot()
            self.opt.step()
            self.sched.step()
            self.opt.zero_grad(set_to_none=True)
            done = step + 1
            mean = loss.detach().clone()
            dist.all_reduce(mean)
            if cfg.snap_every and done % cfg.snap_every == 0:
                self.snapshot_async(done)
            if cfg.ckpt_every and done % cfg.ckpt_every == 0:
                self.wait_snapshot()
                self.checkpoint(done)
            if f is not None:
                f.write(json.dumps({"attempt": cfg.attempt, "step": done, "loss": float(mean) / world,
                                    "t": time.perf_counter() - t0, "wait": self.wait_s,
                                    "copy": self.copy_s}) + "\n")
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cfg = RunConfig.load(argv[0])
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
