"""The chapter's claims on data with and without the paper's effects: the verdict follows the data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reprobook.burstgpt import claims, fitting
from reprobook.core import session


def verdicts(run) -> dict[str, str]:
    return {c.id: c.verdict for c in run.claims()}


def test_arrival_claims_follow_the_data(sandbox):
    sandbox("burstgpt")
    run = session.start("burstgpt", profile="tiny", seed=0, device="cpu", threads=1, style=False)
    rng = np.random.default_rng(0)
    gaps = {"bursty": rng.gamma(0.3, 1.0, 3000), "poisson": rng.exponential(1.0, 3000)}
    claims.record_arrivals(run, fitting.arrival_model_tests(gaps, n_mc=49, seed=0))
    v = verdicts(run)
    assert v["poisson-rejected-bursty"] == "reproduced"
    assert v["poisson-rejected-poisson"] == "not reproduced"
    assert v["gamma-beats-exponential-bursty"] == "reproduced"
    assert v["gamma-beats-exponential-poisson"] != "reproduced"
    assert v["gamma-fits-bursty"] == "reproduced"  # Gamma data pass the Gamma test


def test_serving_claims_are_paired_over_seeds(sandbox):
    sandbox("burstgpt")
    run = session.start("burstgpt", profile="tiny", seed=0, device="cpu", threads=1, style=False)
    rows = [{"arrivals": a, "seed": s, "ttft_p99": base + (2.0 if a == "Gamma k=0.1" else 0.0),
             "kv_peak": 0.5} for s, base in enumerate([1.0, 1.5, 0.7]) for a in
            ("Poisson", "Gamma k=0.1")]
    from reprobook.burstgpt.experiment import paired

    claims.record_serving(run, pd.DataFrame(rows), "Gamma k=0.1", 3.0, paired)
    v = verdicts(run)
    assert v["bursts-raise-tail-latency"] == "reproduced"
    assert v["bursts-raise-kv-pressure"] == "not reproduced"  # no difference: the null itself
