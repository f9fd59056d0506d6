"""The broker (pool, heartbeats, quit, join, failure) and the SimPy backend."""

from __future__ import annotations

import random

import pytest

from reprobook.fusionai import perfmodel as PM
from reprobook.fusionai.broker import Broker, FleetCannotHoldModel
from reprobook.fusionai.churn import random_fleet, schedule
from reprobook.fusionai.dag import llama_dag, unit_costs
from reprobook.fusionai.llama import named_config
from reprobook.fusionai.scheduler import Job, device
from reprobook.fusionai.simbackend import SimPyBackend, simulate_pipeline


@pytest.fixture(scope="module")
def job() -> Job:
    return Job(unit_costs(llama_dag(named_config("llama2-7b"), 1024)), "train", m=4,
               recompute=True)


def test_simpy_makespan_equals_the_formula_exactly():
    rng = random.Random(7)
    for _ in range(300):
        K, m = rng.randint(1, 7), rng.randint(1, 10)
        t = [rng.randint(0, 10**6) for _ in range(K)]
        c = [rng.randint(0, 10**6) for _ in range(K - 1)] + [0]
        assert simulate_pipeline(t, c, m) == PM.pipeline_makespan(t, c, m)


def test_a_calm_run_is_the_formula_per_iteration(job):
    br = Broker.start(job, random_fleet(40, 3), replicas=2)
    be = SimPyBackend()
    tr = be.run(br, [], 5)
    per_iter = max(PM.pipeline_makespan([be.ticks(x) for x in p.t], [be.ticks(x) for x in p.c],
                                        job.m) for p in br.replicas)
    sync = be.ticks(be.sync_seconds(br))
    assert [round((r.end - r.start) / be.tick) for r in tr.iterations] == [per_iter + sync] * 5
    assert tr.aborted == 0 and tr.tokens == 5 * 2 * job.tokens_per_iteration


def test_quit_promotes_a_backup_and_every_unit_stays_covered_once(job):
    br = Broker.start(job, random_fleet(30, 1))
    victim = br.replicas[0].devices()[3]
    a = br.quit(victim, 10.0)
    assert a.kind == "promote" and a.device not in [d.name for d in br.pool]
    assert victim not in br.active() and br.replicas[0].coverage() == [1] * job.L
    assert br.replicas[0].feasible and a.restore_s > 0


def test_without_pool_a_quit_repartitions_over_the_survivors(job):
    br = Broker.start(job, random_fleet(30, 1), use_pool=False)
    assert br.pool == []
    n = len(br.active())
    a = br.quit(br.active()[0], 1.0)
    assert a.kind == "replan" and len(br.active()) <= n - 1
    assert br.replicas[0].coverage() == [1] * job.L


def test_fleet_that_can_no_longer_hold_the_model_names_the_device(job):
    br = Broker.start(job, random_fleet(30, 1), use_pool=False)
    with pytest.raises(FleetCannotHoldModel, match=r"after device '(dev\d+)' quit"):
        for name in list(br.active()):
            br.quit(name, 1.0)
    assert br.replicas == [] and br.stalled
    assert br.resume(2.0).kind == "none"
    for d in random_fleet(30, 9, prefix="new"):
        br.join(d, 3.0)
    assert br.resume(4.0).kind == "resume" and br.replicas[0].coverage() == [1] * job.L


def test_join_goes_to_the_pool_and_rebalances_at_the_boundary(job):
    slow = [device(f"s{i}", "rtx3060", "cable-100M") for i in range(24)]
    br = Broker.start(job, slow)
    before = br.replicas[0].bottleneck
    fast = [device(f"f{i}", "rtx4090", "lan-10G") for i in range(8)]
    for d in fast:
        assert br.join(d, 5.0).kind == "pool"
    assert br.replicas[0].bottleneck == before  # nothing changes mid-iteration
    a = br.boundary(6.0)
    assert a.kind == "rebalance" and br.replicas[0].bottleneck < before
    assert any(n.startswith("f") for n in br.active())
    assert br.boundary(7.0).kind == "none"


def test_heartbeats_expire_after_the_timeout(job):
    br = Broker.start(job, random_fleet(20, 2), heartbeat_s=1.0, timeout_s=3.0)
    for n in br.active():
        br.heartbeat(n, 10.0)
    quiet = br.active()[1]
    for n in br.active():
        if n != quiet:
            br.heartbeat(n, 13.5)
    assert quiet in br.expired(13.5) and br.active()[0] not in br.expired(13.5)
    assert br.detection_time(10.4, phase=0.0) == 13.0


def test_churn_runs_are_deterministic_and_the_pool_helps(job):
    fleet = random_fleet(40, 4)
    ev = schedule(fleet, 3e4, 1 / 3600, 40 / 3600, seed=5, bw_rate=40 / 3600)
    runs = [SimPyBackend().run(Broker.start(job, fleet, replicas=2, use_pool=p), ev, 30)
            for p in (True, True, False)]
    assert [r.end for r in runs[0].iterations] == [r.end for r in runs[1].iterations]
    assert runs[0].events_processed == runs[1].events_processed
    assert any(a.kind == "promote" for _, a in runs[0].actions)
    assert not any(a.kind == "promote" for _, a in runs[2].actions)


def test_schedule_is_seeded_and_rejects_bad_rates():
    fleet = random_fleet(10, 0)
    assert schedule(fleet, 1e4, 1e-3, 1e-3, 1) == schedule(fleet, 1e4, 1e-3, 1e-3, 1)
    assert schedule(fleet, 1e4, 1e-3, 1e-3, 1) != schedule(fleet, 1e4, 1e-3, 1e-3, 2)
    with pytest.raises(ValueError, match="quit_rate"):
        schedule(fleet, 1e4, -1.0, 0.0, 1)


def test_bandwidth_change_reaches_the_plan(job):
    br = Broker.start(job, random_fleet(24, 6))
    name = br.active()[0]
    br.set_bandwidth(name, 1e6, 1.0)
    s = br.replicas[0].stages[0]
    assert s.device.bandwidth == 1e6 and br.dirty
    with pytest.raises(ValueError, match=f"device '{name}': bandwidth"):
        br.set_bandwidth(name, -5.0, 2.0)


def test_ray_scenario_providers_hold_the_model_in_pairs_not_alone():
    """The Ray churn scenario depends on it: one survivor cannot hold the model, two can."""
    from reprobook.fusionai.churnstudy import RayScenario
    from reprobook.fusionai.scheduler import InfeasibleError, plan

    sc = RayScenario()
    job, devs = sc.job(), sc.devices()
    with pytest.raises(InfeasibleError):
        plan(job, devs[:1])
    p = plan(job, devs[:2])
    assert p.coverage() == [1] * job.L and all(s.fits for s in p.stages)
    assert sc.broker(True).replicas[0].feasible  # the equal 3-stage start fits memory too
