from __future__ import annotations

import json

import pytest

from reprobook.core import claims as C
from reprobook.core.claims import AtLeast, AtMost, Equals, NotTestable, PairedBetter, Verdict, Within

R, P, N, T = (Verdict.REPRODUCED, Verdict.PARTIALLY, Verdict.NOT_REPRODUCED, Verdict.NOT_TESTABLE)


@pytest.mark.parametrize("crit,measured,verdict", [
    (AtLeast(0.9), 0.95, R), (AtLeast(0.9), 0.9, R), (AtLeast(0.9, partial=0.5), 0.6, P),
    (AtLeast(0.9, partial=0.5), 0.4, N), (AtLeast(0.9), 0.89, N),
    (AtMost(0.25), 0.2, R), (AtMost(0.25, partial=0.5), 0.3, P), (AtMost(0.25), 0.3, N),
    (Within(4.0, 0.1), 4.3, R), (Within(4.0, 0.1, 0.5), 5.5, P), (Within(4.0, 0.1, 0.5), 7.0, N),
    (Within(-2.0, 0.1), -2.1, R),
    (Equals(True), True, R), (Equals(True), False, N), (Equals("gamma"), "gamma", R),
    (NotTestable("needs 8 GPUs (gpu-8x)"), None, T),
])
def test_criteria_on_known_values(crit, measured, verdict):
    assert crit.judge(measured) is verdict


@pytest.mark.parametrize("diffs,verdict", [
    ([0.5, 0.2, 0.1], R),      # wins on all seeds
    ([0.5, 0.2, -0.1], R),     # 2 of 3 and mean > 0
    ([2.0, -0.5, -0.6], P),    # 1 of 3 wins (mean > 0 but too few wins)
    ([0.1, -0.5, -0.6], P),    # 1 of 3 wins
    ([-0.1, -0.2, 0.0], N),    # ties do not count as wins
])
def test_paired_better_needs_wins_and_mean(diffs, verdict):
    assert PairedBetter(min_wins=2).judge(diffs) is verdict


def test_paired_better_margin_and_text():
    crit = PairedBetter(min_wins=2, margin=0.3)
    assert crit.judge([0.5, 0.2, 0.4]) is R  # 2 wins > 0.3, mean 0.367 > 0.3
    assert crit.judge([0.35, 0.2, 0.25]) is P
    assert crit.format([0.5, 0.2, 0.4]) == "mean diff +0.3667 (> 0.3 on 2/3 seeds)"


@pytest.mark.parametrize("bad", [[1.0], []])
def test_paired_better_refuses_a_single_seed(bad):
    with pytest.raises(ValueError, match=">= 2 paired seeds"):
        PairedBetter(min_wins=1).judge(bad)


def test_criterion_text_names_its_unit():
    assert AtLeast(2, partial=1, unit="of 2 traces").describe() == \
        "reproduced if >= 2 of 2 traces; partially if >= 1 of 2 traces"
    assert AtMost(0.25).describe() == "reproduced if <= 0.25"


def test_numeric_criteria_refuse_non_numbers():
    with pytest.raises(TypeError):
        AtLeast(1).judge("high")
    with pytest.raises(TypeError):
        AtMost(1).judge(True)


def test_evaluate_records_criterion_text_and_not_transcribed():
    c = C.evaluate(id="x", claim="FedImpro beats FedAvg", source="Table 1", paper_value="",
                   measured=[0.1, 0.2], criterion=PairedBetter(min_wins=2), chapter="ch",
                   profile="cpu-smoke")
    assert c.verdict == "reproduced" and c.paper_value == C.NOT_TRANSCRIBED
    assert c.criterion.startswith("paired over seeds")
    with pytest.raises(ValueError):
        C.evaluate(id="", claim="c", source="s", paper_value=1, measured=1, criterion=AtLeast(0),
                   chapter="ch", profile="p")


def test_save_merges_by_id_and_is_deterministic(tmp_path):
    path = tmp_path / "claims.json"
    mk = lambda i, m: C.evaluate(id=i, claim="c", source="s", paper_value=1.0, measured=m,  # noqa: E731
                                 criterion=AtLeast(1.0), chapter="ch", profile="p")
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
                   criterion=AtMost(0.25), chapter="ch", profile="cpu-smoke")
    df = C.to_frame([c])
    assert list(df.columns) == ["claim (paper, section/figure)", "paper's value", "this run",
                                "criterion", "verdict"]
    assert df.iloc[0]["this run"] == "0.2 [cpu-smoke]"
    assert df.iloc[0]["claim (paper, section/figure)"] == "c (Fig. 2)"
