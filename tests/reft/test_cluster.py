"""Real multi-process training (gloo) through faults: the run with failures equals the one without.

Each test starts SMPs and trainers as separate processes; the autouse fixture in conftest.py
checks that none is left and no shared memory remains afterwards.
"""

from __future__ import annotations

import time

import psutil
import pytest

from reprobook.reft import cluster, slots
from reprobook.reft.config import Fault, Restore
from reprobook.reft.model import GPTConfig

pytestmark = pytest.mark.slow

TINY = GPTConfig(n_layer=1, n_head=2, d_model=32, seq_len=16)
COMMON = dict(n_nodes=3, ranks_per_node=1, steps=8, gpt=TINY, batch_size=4, parity=1, codec="xor")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    base = tmp_path_factory.mktemp("reft")
    rep = cluster.run(cluster.new_run(base, "clean", **COMMON), timeout=180)
    assert not rep.recoveries and len(rep.losses()) == COMMON["steps"]
    return base, rep


def _same(rep, clean_rep):
    assert rep.losses() == clean_rep.losses()
    assert rep.reexecuted_agree()
    assert cluster.states_equal(rep.final_state(), clean_rep.final_state())


def test_trainer_kill_and_torn_write_recover_bitwise(clean):
    base, ref = clean
    faults = (Fault("kill", rank=1, step=4, attempt=0), Fault("torn", rank=2, step=6, attempt=1))
    rep = cluster.run(cluster.new_run(base, "kill-torn", **COMMON, faults=faults), timeout=180)
    kinds = [(r.cause, r.restore.kind) for r in rep.recoveries]
    assert kinds == [("crash", "reft"), ("crash", "reft")]
    assert rep.recoveries[0].restore.step == 3       # killed inside iteration 4: step 3 is the newest
    assert rep.recoveries[1].restore.step == 5       # the torn snapshot of step 6 is refused
    _same(rep, ref)


def test_node_loss_is_rebuilt_from_parity(clean):
    base, ref = clean
    rep = cluster.run(cluster.new_run(base, "node", **COMMON), (cluster.NodeLoss(5, (2,)),), timeout=180)
    (rec,) = rep.recoveries
    assert rec.cause == "node-loss" and rec.restore.kind == "reft" and rec.rebuilt_bytes > 0
    _same(rep, ref)


def test_losing_more_than_m_nodes_falls_back_to_the_checkpoint(clean):
    base, ref = clean
    cfg = cluster.new_run(base, "two-nodes", **COMMON, ckpt_every=2)
    rep = cluster.run(cfg, (cluster.NodeLoss(5, (0, 1)),), timeout=180)
    (rec,) = rep.recoveries
    # the newest committed checkpoint before the loss (the launcher polls, so rank 0 may have run
    # a step or two past the trigger before its node died)
    assert rec.restore.kind == "ckpt" and rec.restore.step % 2 == 0 and 2 <= rec.restore.step <= rec.failed_at
    assert "unrecoverable" in rec.note
    _same(rep, ref)


def test_smps_survive_the_whole_trainer_group(tmp_path):
    cfg = cluster.new_run(tmp_path, "survive", **{**COMMON, "steps": 200})
    with cluster.Cluster(cfg) as c:
        cfg = c.cfg
        c.start_smps(list(range(cfg.n_nodes)))
        c.start_trainers(0, Restore())
        t0 = time.monotonic()
        while c.last_step(0) < 3:
            assert time.monotonic() - t0 < 120, "trainers made no progress"
            time.sleep(0.05)
        c.kill_trainers()
        assert c.smps_alive()
        steps = [c.valid_steps(r) for r in range(cfg.world)]
        assert all(steps) and set.intersection(*steps)


def test_an_orphaned_smp_cleans_up_and_exits(tmp_path):
    """If the launcher dies without closing (a killed notebook), its SMPs notice, remove their
    node's shared memory and exit."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    cfg = cluster.new_run(tmp_path, "orphan", **COMMON)
    script = textwrap.dedent(f"""
        import os, sys
        from reprobook.reft import cluster
        from reprobook.reft.config import RunConfig
        c = cluster.Cluster(RunConfig.load({str(Path(cfg.run_dir) / 'config.json')!r}))
        c.start_smps([0])
        print(c.smps[0].pid, flush=True)
        os._exit(0)  # no close(): an abrupt death
    """)
    Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
    cfg.save(Path(cfg.run_dir) / "config.json")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(out.stdout.split()[-1])
    def running() -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    t0 = time.monotonic()
    while running() and time.monotonic() - t0 < 20:
        time.sleep(0.05)
    alive = running()
    if alive:
        psutil.Process(pid).kill()
    assert not alive, "the orphaned SMP is still running"
    assert not (Path(cfg.shm_root) / "node0").exists()
    slots.remove_tree(Path(cfg.shm_root))
