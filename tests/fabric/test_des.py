"""The discrete-event simulation: closed forms within Monte-Carlo error, block cutting bounds,
Raft quorum, the output schema."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reprobook.fabric import des, queues
from reprobook.fabric.analysis import phase_times
from reprobook.fabric.experiments import mean_se, sim_phases
from reprobook.fabric.workload import Workload, arrival_times

MU = 780.0


def _endorse_wait(cfg: des.FabricConfig, wl: Workload, seed: int = 1) -> tuple[float, float]:
    res = des.simulate(cfg, wl, seed=seed, stop_after="execute")
    return mean_se(res.truth["endorse_wait"], warmup=0.1)


@pytest.mark.parametrize("dist,exact", [("exp", queues.mm1_wait(0.6 * MU, MU)),
                                        ("det", queues.md1_wait(0.6 * MU, MU))])
def test_des_matches_mm1_and_md1(dist, exact):
    m, se = _endorse_wait(des.FabricConfig(c=1, mu_e=MU, endorse_dist=dist),
                          Workload(rate=0.6 * MU, n_tx=40000))
    assert abs(m - exact) < 3.5 * se, (m, se, exact)
    assert se < 0.1 * exact  # the check has power


def test_des_matches_erlang_c_with_two_cores():
    lam = 0.7 * 2 * MU
    m, se = _endorse_wait(des.FabricConfig(c=2, mu_e=MU, endorse_dist="exp"),
                          Workload(rate=lam, n_tx=40000), seed=2)
    assert abs(m - queues.mmc_wait(lam, MU, 2)) < 3.5 * se


def test_des_matches_batch_poisson_formula():
    lam = 0.5 * MU
    m, se = _endorse_wait(des.FabricConfig(c=1, mu_e=MU),
                          Workload(rate=lam, n_tx=30000, kind="bursts", burst_size=5), seed=3)
    assert abs(m - queues.mxd1_wait(lam, MU, 5)) < 3.5 * se
    assert m > 3 * queues.md1_wait(lam, MU)  # the Poisson model misses the bursts


@pytest.mark.parametrize("rate,bs,timeout", [(50.0, 10, 0.1), (5.0, 20, 0.5), (300.0, 7, 1.0)])
def test_block_cutting_bounds(rate, bs, timeout):
    cfg = des.FabricConfig(mu_e=1e6, k=1, mu_r=1e6, mu_v=1e6, batch_size=bs, batch_timeout=timeout)
    res = des.simulate(cfg, Workload(rate=rate, n_tx=3000, kind="h2", cv2=4.0), seed=4)
    blocks, truth = res.blocks, res.truth
    assert blocks["n_tx"].max() <= bs  # never more than BatchSize
    assert blocks["n_tx"].sum() == 3000 and (res.records["block"] >= 1).all()
    assert blocks["block"].tolist() == list(range(1, len(blocks) + 1))
    assert (truth["block_wait"] >= -1e-12).all()
    assert truth["block_wait"].max() <= timeout + 1e-9  # never longer than BatchTimeout
    first = truth.groupby(res.records["block"])["t_cutter"].min().to_numpy()
    cut = blocks["t_created"].to_numpy() - des.SIM_EPOCH
    small = blocks["n_tx"].to_numpy() < bs  # cut by the timer: exactly BatchTimeout after the first
    assert np.allclose(cut[small] - first[small], timeout)
    assert (cut[~small] - first[~small] <= timeout + 1e-9).all()


def test_quorum_time():
    assert des.quorum_time([4.0, 1.0, 3.0, 2.0], 5) == 2.0  # 2 of 4 followers + the leader
    assert des.quorum_time([5.0, math.inf], 3) == 5.0  # one follower down: still a majority
    assert des.quorum_time([], 1) == -math.inf
    with pytest.raises(des.NoQuorumError, match="majority"):
        des.quorum_time([math.inf, math.inf], 3)
    with pytest.raises(ValueError, match="followers"):
        des.quorum_time([1.0], 5)


def test_raft_commit_needs_a_quorum_in_the_simulation():
    with pytest.raises(des.NoQuorumError, match="majority needs"):
        des.FabricConfig(k=5, failed_followers=3)
    base = dict(mu_e=1e6, mu_r=1e6, mu_v=1e6, k=5, follower_s=0.010, follower_dist="det",
                leader_follower=des.Link(alpha=0.001), batch_size=1)
    wl = Workload(rate=5.0, n_tx=200, kind="deterministic")
    healthy = des.simulate(des.FabricConfig(**base), wl, seed=5).truth
    degraded = des.simulate(des.FabricConfig(**base, failed_followers=2), wl, seed=5).truth
    # at low load an entry commits one follower round trip after the leader: 1 + 10 + 1 ms
    gap = healthy["t_consensus"] - healthy["t_leader"]
    assert np.allclose(gap, 0.012, atol=1e-6)
    assert np.allclose(degraded["t_consensus"] - degraded["t_leader"], 0.012, atol=1e-6)
    assert (np.diff(healthy["t_consensus"].to_numpy()) >= 0).all()  # log order


def test_slowest_majority_member_sets_the_commit_time():
    cfg = des.FabricConfig(mu_e=1e6, mu_r=1e6, mu_v=1e6, k=3, follower_s=0.05,
                           follower_dist="exp", batch_size=1)
    res = des.simulate(cfg, Workload(rate=2.0, n_tx=2000, kind="deterministic"), seed=6)
    gap = (res.truth["t_consensus"] - res.truth["t_leader"]).to_numpy()
    # with k = 3 the leader needs the faster of two exponential followers: mean 0.05 / 2
    assert gap.mean() == pytest.approx(0.025, rel=0.1)


def test_block_replication_puts_raft_after_the_cutter():
    cfg = des.FabricConfig(mu_e=1e6, mu_r=1e6, mu_v=1e6, k=3, follower_s=0.02,
                           follower_dist="det", batch_size=10, replication="block")
    res = des.simulate(cfg, Workload(rate=100.0, n_tx=2000), seed=7)
    ph = sim_phases(res)
    assert ph["raft"].min() == pytest.approx(0.02, abs=1e-6)
    assert (ph["validate"] >= ph["raft"] - 1e-9).all()


def test_output_is_the_measurement_schema_and_reads_back(tmp_path):
    from reprobook.fabric.analysis import load_run

    cfg = des.FabricConfig(k=3, batch_size=20, client_endorser=des.Link(alpha=0.002),
                           client_orderer=des.Link(alpha=0.003), peer_client=des.Link(alpha=0.001))
    res = des.simulate(cfg, Workload(rate=150.0, n_tx=1500, kind="bursts", burst_size=3), seed=8)
    run = load_run(des.write_run(res, tmp_path / "run"))
    exact = sim_phases(res)
    assert len(run["phases"]) == 1500 and run["meta"]["configured_rate_tps"] == 150.0
    for col in ("execute", "order", "validate", "total"):  # logs carry milliseconds
        assert np.allclose(run["phases"][col], exact[col], atol=1.5e-3)
    assert np.allclose(exact["execute"], res.records["t2"] - res.records["t1"])


def test_same_seed_same_run():
    cfg = des.FabricConfig(endorse_dist="exp", follower_s=0.001)
    a = des.simulate(cfg, Workload(rate=200.0, n_tx=500), seed=9)
    b = des.simulate(cfg, Workload(rate=200.0, n_tx=500), seed=9)
    c = des.simulate(cfg, Workload(rate=200.0, n_tx=500), seed=10)
    assert a.records.equals(b.records) and not a.records.equals(c.records)


def test_workloads():
    rng = np.random.default_rng(0)
    t = arrival_times(Workload(rate=100.0, n_tx=20000, kind="bursts", burst_size=4), rng)
    assert (t[::4] == t[3::4]).all() and t.size == 20000
    assert 20000 / t[-1] == pytest.approx(100.0, rel=0.05)
    gaps = np.diff(arrival_times(Workload(rate=100.0, n_tx=40000, kind="h2", cv2=9.0), rng))
    assert gaps.std() ** 2 / gaps.mean() ** 2 == pytest.approx(9.0, rel=0.15)
    with pytest.raises(ValueError, match="cv2 >= 1"):
        Workload(rate=1.0, n_tx=10, kind="h2", cv2=0.5)
    with pytest.raises(ValueError, match="unknown workload"):
        Workload(rate=1.0, n_tx=10, kind="weibull")


def test_bad_configuration():
    with pytest.raises(ValueError, match="replication"):
        des.FabricConfig(replication="epoch")
    with pytest.raises(ValueError, match="odd k"):
        des.FabricConfig(k=4)
    with pytest.raises(ValueError, match="stop_after"):
        des.simulate(des.FabricConfig(), Workload(rate=1.0, n_tx=5), stop_after="order")


def test_phase_times_needs_the_blocks():
    res = des.simulate(des.FabricConfig(batch_size=5), Workload(rate=100.0, n_tx=50), seed=11)
    b = res.blocks
    with pytest.raises(ValueError, match="not in both logs"):
        phase_times(res.records, b[["block", "t_created", "t_written"]].iloc[1:],
                    b[["block", "t_received", "t_validated", "t_committed"]])
