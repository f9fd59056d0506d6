from __future__ import annotations

import json

import pytest
from scipy import stats

from reprobook.core import claims as C
from reprobook.core.claims import (AtLeast, AtMost, ClaimError, CloseTo, Equals, FitNotRejected,
                                   LikelihoodRatio, NotTestable, Null, PairedTest, Verdict, Within)

R, P, N, T = (Verdict.REPRODUCED, Verdict.PARTIALLY, Verdict.NOT_REPRODUCED, Verdict.NOT_TESTABLE)
ZERO3 = Null([0.0, 0.0, 0.0], "no paired difference")


@pytest.mark.parametrize("crit,measured,verdict", [
    (AtLeast(0.9), 0.95, R), (AtLeast(0.9), 0.9, R), (AtLeast(0.9, partial=0.5), 0.6, P),
    (AtLeast(0.9, partial=0.5), 0.4, N), (AtLeast(0.9), 0.89, N),
    (AtMost(0.25), 0.2, R), (AtMost(0.25, partial=0.5), 0.3, P), (AtMost(0.25), 0.3, N),
    (Within(4.0, 0.1), 4.3, R), (Within(4.0, 0.1, 0.5), 5.5, P), (Within(4.0, 0.1, 0.5), 7.0, N),
    (Within(-2.0, 0.1), -2.1, R),
    (Equals(True), True, R), (Equals(True), False, N), (Equals("gamma"), "gamma", R),
    (NotTestable("needs 8 GPUs (gpu-8x)"), None, T),
    (CloseTo(0.25, z=2), [0.24, 0.26, 0.25], R), (CloseTo(0.25, z=2), [0.5, 0.51, 0.49], N),
    (CloseTo(1.0, z=2, se=0.1), 1.15, R), (CloseTo(1.0, z=1, partial_z=3, se=0.1), 1.25, P),
    (CloseTo(1.0, z=2, min_tol=0.05), [1.04, 1.04, 1.04], R),
    (FitNotRejected(), 0.3, R), (FitNotRejected(0.05, partial_alpha=0.01), 0.02, P),
    (FitNotRejected(), 0.001, N),
    (LikelihoodRatio(), {"R": 12.0, "p": 0.001}, R), (LikelihoodRatio(), {"R": 1.0, "p": 0.4}, P),
    (LikelihoodRatio(), {"R": -3.0, "p": 0.01}, N),
])
def test_criteria_on_known_values(crit, measured, verdict):
    assert crit.judge(measured) is verdict


@pytest.mark.parametrize("diffs,verdict", [
    ([0.5, 0.4, 0.45], R),        # consistent: significant
    ([0.5, 0.2, -0.1], P),        # positive on most seeds, not significant
    ([2.0, -0.5, -0.6], N),       # mean > 0 from one outlier: not a majority
    ([-0.1, -0.2, 0.0], N),
    ([0.0, 0.0, 0.0], N),         # the null
    ([0.3, 0.3, 0.3], R),         # zero spread, all above the margin
])
def test_paired_test_verdicts(diffs, verdict):
    assert PairedTest().judge(diffs) is verdict


def test_paired_stats_agree_with_scipy():
    d = [0.5, 0.2, 0.4, 0.1]
    s = C.paired_stats(d)
    ref = stats.ttest_1samp(d, 0.0, alternative="greater")
    assert s["p"] == pytest.approx(ref.pvalue) and s["mean"] == pytest.approx(0.3)
    lo, hi = stats.t.interval(0.95, 3, loc=0.3, scale=stats.sem(d))
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((lo, hi))
    text = PairedTest(margin=0.1).format(d)
    assert text.startswith("mean diff +0.3 (95% CI [") and "on 3/4 seeds" in text


@pytest.mark.parametrize("bad", [[1.0], []])
def test_paired_test_refuses_a_single_seed(bad):
    with pytest.raises(ValueError, match=">= 2 paired seeds"):
        PairedTest().judge(bad)


def test_criterion_text_names_its_unit():
    assert AtLeast(2, partial=1, unit="of 2 traces").describe() == \
        "reproduced if >= 2 of 2 traces; partially if >= 1 of 2 traces"
    assert AtMost(0.25).describe() == "reproduced if <= 0.25"


def test_numeric_criteria_refuse_non_numbers():
    with pytest.raises(TypeError):
        AtLeast(1).judge("high")
    with pytest.raises(TypeError):
        AtMost(1).judge(True)
    with pytest.raises(TypeError):
        LikelihoodRatio().judge(3.0)


@pytest.mark.parametrize("crit", [
    AtLeast(2, partial=1, unit="of 2"), AtMost(0.3), Within(1.0, 0.1, 0.2), Equals(True),
    NotTestable("no GPU"), CloseTo(0.25, z=3, se=0.01, min_tol=0.001), PairedTest(0.01, 0.2),
    FitNotRejected(0.05, 0.01), LikelihoodRatio(0.1, "Gamma")])
def test_every_criterion_round_trips_through_its_spec(crit):
    spec = json.loads(json.dumps(crit.spec()))
    assert C.criterion_from_spec(spec) == crit


def test_a_claim_that_passes_its_own_null_is_rejected_naming_it():
    with pytest.raises(ClaimError, match="claim 'lenient'.*judges the null.*'partially'"):
        C.evaluate(id="lenient", claim="c", source="s", paper_value=1, measured=1.0,
                   criterion=AtLeast(0.9, partial=0.0), null=Null(0.0, "no effect"),
                   chapter="ch", profile="p")
    with pytest.raises(ClaimError, match="must be a Null"):
        C.evaluate(id="x", claim="c", source="s", paper_value=1, measured=1.0,
                   criterion=AtLeast(0.9), null=0.0, chapter="ch", profile="p")  # type: ignore[arg-type]


def test_evaluate_records_null_criterion_and_not_transcribed():
    c = C.evaluate(id="x", claim="FedImpro beats FedAvg", source="Table 1", paper_value="",
                   measured=[0.1, 0.2, 0.15], criterion=PairedTest(), null=ZERO3, chapter="ch",
                   profile="cpu-smoke")
    assert c.kind == "claim" and c.paper_value == C.NOT_TRANSCRIBED
    assert c.verdict == "reproduced" and c.null_verdict == "not reproduced"
    assert c.criterion.startswith("paired over seeds") and c.criterion_spec["type"] == "PairedTest"
    with pytest.raises(ClaimError):
        C.evaluate(id="", claim="c", source="s", paper_value=1, measured=1, criterion=AtLeast(0),
                   null=Null(-1, "n"), chapter="ch", profile="p")


def test_sanity_checks_are_kept_apart():
    ok = C.check(id="id", check="x equals itself", measured=0.0, criterion=AtMost(1e-9),
                 chapter="ch", profile="p")
    bad = C.check(id="id2", check="y", measured=1.0, criterion=AtMost(1e-9), chapter="ch",
                  profile="p")
    claim = C.evaluate(id="a", claim="c", source="s", paper_value=1, measured=2.0,
                       criterion=AtLeast(1.0), null=Null(0.0, "n"), chapter="ch", profile="p")
    assert (ok.kind, ok.verdict, bad.verdict) == ("sanity", "holds", "fails")
    rows = [ok, bad, claim]
    assert list(C.to_frame(rows)["verdict"]) == ["reproduced"]
    assert list(C.sanity_frame(rows)["result"]) == ["holds", "fails"]


def test_verify_judges_stored_rows_again(tmp_path):
    path = tmp_path / "claims.json"
    c = C.evaluate(id="a", claim="c", source="s", paper_value=1, measured=[0.3, 0.2, 0.25],
                   criterion=PairedTest(), null=ZERO3, chapter="ch", profile="p")
    s = C.check(id="s", check="c", measured=0.0, criterion=AtMost(0.0), chapter="ch", profile="p")
    C.save(path, [c, s])
    assert C.verify(C.load(path)) == []
    doc = json.loads(path.read_text())
    doc["claims"][0]["verdict"] = "not reproduced"
    doc["claims"][0]["null_value"] = [1.0, 1.0, 1.0]
    doc["claims"][1]["verdict"] = "fails"
    path.write_text(json.dumps(doc))
    problems = C.verify(C.load(path))
    assert len(problems) == 3 and any("its null" in p for p in problems)


def test_save_merges_by_id_and_is_deterministic(tmp_path):
    path = tmp_path / "claims.json"
    mk = lambda i, m: C.evaluate(id=i, claim="c", source="s", paper_value=1.0, measured=m,  # noqa: E731
                                 criterion=AtLeast(1.0), null=Null(0.0, "n"), chapter="ch",
                                 profile="p")
    C.save(path, [mk("a", 0.5), mk("b", 2.0)])
    C.save(path, [mk("a", 1.5)])
    rows = C.load(path)
    assert [(r.id, r.verdict) for r in rows] == [("a", "reproduced"), ("b", "reproduced")]
    first = path.read_bytes()
    C.save(path, [mk("a", 1.5)])
    assert path.read_bytes() == first
    assert json.loads(first)["claims"][0]["measured"] == 1.5


def test_table_columns():
    c = C.evaluate(id="a", claim="c", source="Fig. 2", paper_value=0.25, measured=0.2,
                   criterion=AtMost(0.25), null=Null(1.0, "the baseline's ratio"),
                   chapter="ch", profile="cpu-smoke")
    df = C.to_frame([c])
    assert list(df.columns) == ["claim (paper, section/figure)", "paper's value", "this run",
                                "without the effect (null)", "criterion", "verdict"]
    assert df.iloc[0]["this run"] == "0.2 [cpu-smoke]"
    assert df.iloc[0]["claim (paper, section/figure)"] == "c (Fig. 2)"
    assert df.iloc[0]["without the effect (null)"] == "the baseline's ratio: 1 -> not reproduced"


def test_decidable_turns_an_undecidable_criterion_into_not_testable():
    crit = CloseTo(3.0, z=2, se=1.5)
    assert C.decidable(crit, Null(1.0, "a Poisson generator")).judge(3.1) is T  # 1 is within 2 SE
    narrow = CloseTo(3.0, z=2, se=0.5)
    assert C.decidable(narrow, Null(1.0, "a Poisson generator")) is narrow
    text = C.decidable(crit, Null(1.0, "a Poisson generator"), "more seeds at cpu-full").describe()
    assert "would also pass its null (a Poisson generator: 1)" in text and "cpu-full" in text
