"""The chapter's claims on the authors' tables: every null comes out 'not reproduced'."""

from __future__ import annotations

import pytest

from reprobook.core import claims as core
from reprobook.fabric import claims, experiments
from reprobook.fabric import reproduce as R


class Run:
    """The claim-recording half of ``core.session.Run`` (without seeding torch)."""

    def __init__(self) -> None:
        self.rows: list[core.Claim] = []

    def claim(self, **kw):
        self.rows.append(core.evaluate(chapter="fabric", profile="ci-tiny", **kw))
        return self.rows[-1]

    def sanity(self, **kw):
        self.rows.append(core.check(chapter="fabric", profile="ci-tiny", **kw))
        return self.rows[-1]

    def claims(self):
        return self.rows


@pytest.fixture
def run():
    return Run()


def _verdicts(run):
    return {c.id: (c.verdict, c.null_verdict) for c in run.claims() if c.kind == "claim"}


def test_observations_on_the_tables(run, tables):
    out = claims.record_observations(run, tables, experiments.measured_capacity(tables))
    v = _verdicts(run)
    assert v["linear-scaling-cores"][0] == "reproduced"
    assert out["core_ratio_cluster1"] == pytest.approx(1478 / 770)
    assert v["raft-scales-with-osns"][0] == "reproduced"
    assert v["client-communication-significant"][0] == "reproduced"
    assert all(nv == "not reproduced" for _, nv in v.values())


def test_mape_claims(run, tables, predictions):
    claims.record_mape(run, predictions)
    v = _verdicts(run)
    for t in (1, 3, 4):
        assert v[f"mape-table{t}"][0] == "reproduced"
    assert v["mape-validate"][0] == "not reproduced"
    assert all(nv == "not reproduced" for _, nv in v.values())


def test_reproduction_sanity(run, tables):
    check = R.reproduction_check(tables)
    claims.record_reproduction(run, check, 0.335427, 4e-5, slip_group=(1, 2))
    rows = {c.id: c.verdict for c in run.claims() if c.kind == "sanity"}
    assert rows["example-cluster1-c1-lambda209"] == "holds"
    assert rows["model-columns-reproduced"] == "holds"
    assert rows["mm1-columns-reproduced"] == "holds"


def test_waiting_signature(run, tables, predictions):
    sweep = __import__("pandas").DataFrame({
        "BatchSize": [1, 20, 50], "DES waiting (s)": [0.0, 0.087, 0.225],
        "waiting se": [0.0, 0.001, 0.002], "DES T_r (s)": [0.15, 0.24, 0.37],
        "waiting share of T_r": [0.0, 0.36, 0.61]})
    claims.record_block_waiting(run, sweep, tables, predictions)
    v = _verdicts(run)
    assert v["waiting-visible-in-measurements"] == ("reproduced", "not reproduced")
    assert v["block-waiting-dominates"] == ("reproduced", "not reproduced")
    assert v["batchsize-20-cuts-waiting"] == ("reproduced", "not reproduced")
