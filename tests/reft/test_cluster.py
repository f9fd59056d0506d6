"""Real multi-process training (gloo) through faults: the run with failures equals the one without.

Each test starts SMPs and trainers as separate processes; the autouse fixture in conftest.py
checks that none is left and no shared memory remains afterwards.
"""

from __future__ import annotations

import time

import psutil
import pytest

from reprobook.reft import cluster, slots
from reprobook.reft.config import Fault
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
    # faults at defined points: the restore points follow from the schedule, not from timing
    assert [(r.cause, r.restore.kind, r.restore.step) for r in rep.recoveries] == [
        ("crash", "reft", 3),   # killed inside iteration 4, every snapshot of step 3 committed
        ("crash", "reft", 5)]   # the torn snapshot of step 6 is refused: step 5
    _same(rep, ref)


def test_node_loss_is_rebuilt_from_parity(clean):
    base, ref = clean
    rep = cluster.run(cluster.new_run(base, "node", **COMMON), (cluster.NodeLoss(5, (2,)),), timeout=180)
    (rec,) = rep.recoveries
    assert (rec.cause, rec.restore.kind, rec.restore.step) == ("node-loss", "reft", 4)
    assert rec.rebuilt_bytes > 0 and rec.failed_at == 4
    _same(rep, ref)


def test_losing_more_than_m_nodes_falls_back_to_the_checkpoint(clean):
    base, ref = clean
    cfg = cluster.new_run(base, "two-nodes", **COMMON, ckpt_every=2)
    rep = cluster.run(cfg, (cluster.NodeLoss(5, (0, 1)),), timeout=180)
    (rec,) = rep.recoveries
    assert (rec.restore.kind, rec.restore.step) == ("ckpt", 4)  # the newest checkpoint before 5
    assert "unrecoverable" in rec.note
    _same(rep, ref)


def test_every_trainer_killed_restores_from_the_smps(clean):
    """The whole trainer group dies at once: the SMPs, in their own sessions, keep the snapshot."""
    base, ref = clean
    rep = cluster.run(cluster.new_run(base, "all", **COMMON, faults=(Fault("kill", -1, 5),)),
                      timeout=180)
    (rec,) = rep.recoveries
    assert (rec.cause, rec.restore.kind, rec.restore.step) == ("crash", "reft", 4)
    _same(rep, ref)


def test_the_overhead_job_alternates_methods_in_blocks(tmp_path):
    from reprobook.reft import study

    rep = study.overhead_run(tmp_path, dict(n_nodes=3, ranks_per_node=1, gpt=TINY, batch_size=4,
                                            parity=1, codec="xor"), 0.0, cycle=2, repeats=2)
    after = [r["after"] for r in sorted(rep.log, key=lambda r: r["step"])]
    assert after == ["none", "none"] + ["none", "none", "reft", "reft", "ckpt", "ckpt"] * 2
    table = study.overhead_table(rep)
    assert list(table.method) == ["ckpt", "none", "reft"] * 2
    assert (table["iterations"] >= 1).all() and table["round"].max() == 1


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


def test_a_killed_launcher_leaves_no_trainer_smp_or_shared_memory(tmp_path):
    """The launching process (a notebook's kernel, say) is SIGKILLed mid-training: the trainers'
    watchdogs and the SMPs notice, and nothing of the run is left."""
    import signal
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    cfg = cluster.new_run(tmp_path, "launcher", **{**COMMON, "steps": 100_000})
    Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
    cfg.save(Path(cfg.run_dir) / "config.json")
    script = textwrap.dedent(f"""
        from reprobook.reft import cluster
        from reprobook.reft.config import RunConfig
        cluster.run(RunConfig.load({str(Path(cfg.run_dir) / 'config.json')!r}), timeout=600)
    """)
    launcher = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    log = Path(cfg.run_dir) / "losses.jsonl"
    t0 = time.monotonic()
    while not (log.exists() and log.read_text().count("\n") >= 2):
        assert time.monotonic() - t0 < 120 and launcher.poll() is None, "training did not start"
        time.sleep(0.1)
    ours = [p for p in psutil.process_iter(["cmdline"])
            if any(cfg.run_dir in a for a in (p.info["cmdline"] or []))]
    assert len(ours) >= cfg.n_nodes + cfg.world  # SMPs and trainers are running
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    t0 = time.monotonic()
    while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in ours) \
            and time.monotonic() - t0 < 30:
        time.sleep(0.1)
    left = [p for p in ours if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for p in left:
        p.kill()
    assert not left, f"left running: {[p.info['cmdline'] for p in left]}"
    t0 = time.monotonic()
    while Path(cfg.shm_root).exists() and any(Path(cfg.shm_root).rglob("*.slot*")) \
            and time.monotonic() - t0 < 10:
        time.sleep(0.1)
    assert not any(Path(cfg.shm_root).rglob("*.slot*")), "shared memory left behind"
    slots.remove_tree(Path(cfg.shm_root))
