"""The BurstGPT chapter's claims (ARCHITECTURE §4), one function per group, each with its null.

Statistics come from libraries (:mod:`.fitting`): powerlaw's likelihood ratio for Zipf against a
log-normal, Wilks' test for Gamma against its Exponential special case, Vuong's test for Gamma
against Weibull, scipy's parametric-bootstrap KS test for goodness of fit, and a paired t-test over
seeds for the serving experiment.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from reprobook.core.claims import (AtLeast, AtMost, CloseTo, FitNotRejected, LikelihoodRatio,
                                   Null, PairedTest, Within, decidable)

from . import constants as K

NO_EVIDENCE = Null({"R": 0.0, "p": 1.0}, "no evidence either way (log-likelihood ratio 0)")
SOURCE_LENGTHS = "paper: request/response length analysis; official generator (Zipf)"
SOURCE_ARRIVALS = "paper: burstiness analysis (Gamma arrival model)"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def record_lengths(run: Any, zipf: dict[str, dict[str, float]]) -> None:
    """Request lengths follow a Zipf law: per real trace, Zipf against a log-normal (both MLE)."""
    for name, z in zipf.items():
        run.claim(id=f"zipf-request-lengths-{_slug(name)}",
                  claim=f"Request lengths follow a Zipf law rather than a log-normal ({name})",
                  source=SOURCE_LENGTHS, paper_value="Zipf (exponent 1.1 in the generator)",
                  measured={"R": z["R"], "p": z["p"]},
                  criterion=LikelihoodRatio(favoured="Zipf"), null=NO_EVIDENCE,
                  measured_text=f"normalised LLR R = {z['R']:.1f} (p = {z['p']:.2g}; > 0 favours "
                                f"Zipf); Zipf exponent {z['alpha']:.2f}")


def record_failures(run: Any, burst: pd.DataFrame | None) -> None:
    """The failure share of BurstGPT_1 is a count over the released file: a sanity check of the
    loader against the paper's count, recorded only when the file is present."""
    if burst is None:
        return
    rate = float(burst["failed"].mean())
    run.sanity(id="burstgpt1-failure-rate",
               check="BurstGPT_1's share of failed requests (response tokens = 0) as the paper counts",
               measured=rate, criterion=Within(K.BURSTGPT1_FAILURE_RATE, 0.01),
               measured_text=f"{rate:.3%} of {len(burst):,} (paper: 1.78 %)",
               source="paper: failure analysis")


def record_arrivals(run: Any, tests: pd.DataFrame) -> None:
    """Per series: Poisson rejected, Gamma over Exponential, Gamma adequate, Gamma over Weibull.

    ``tests`` has one row per series with ``series``, ``exp_p``, ``gamma_p`` (bootstrap KS
    p-values), ``lr_R``, ``lr_p`` (Wilks), ``vuong_R``, ``vuong_p``, ``n``.
    """
    for r in tests.itertuples(index=False):
        s = _slug(r.series)
        run.claim(id=f"poisson-rejected-{s}",
                  claim=f"Inter-arrival times are not Exponential: arrivals are not Poisson ({r.series})",
                  source=SOURCE_ARRIVALS, paper_value="not Poisson",
                  measured=r.exp_p, criterion=AtMost(0.05, unit="(KS bootstrap p-value)"),
                  null=Null(0.5, "Poisson arrivals: the p-value is uniform on (0, 1), median 0.5"),
                  measured_text=f"p = {r.exp_p:.3g} over {r.n:,} gaps")
        run.claim(id=f"gamma-beats-exponential-{s}",
                  claim=f"Gamma describes the gaps better than Exponential ({r.series})",
                  source=SOURCE_ARRIVALS, paper_value="Gamma, shape < 1",
                  measured={"R": r.lr_R, "p": r.lr_p},
                  criterion=LikelihoodRatio(favoured="Gamma"), null=NO_EVIDENCE,
                  measured_text=f"ll(Gamma) - ll(Exp) = {r.lr_R:.1f} (Wilks p = {r.lr_p:.2g})")
        run.claim(id=f"gamma-fits-{s}",
                  claim=f"A Gamma distribution fits the gaps (not rejected by a KS test) ({r.series})",
                  source=SOURCE_ARRIVALS, paper_value="Gamma model of arrivals",
                  measured=r.gamma_p, criterion=FitNotRejected(0.05),
                  null=Null(0.0, "gaps that are not Gamma: the test rejects, p = 0"),
                  measured_text=f"p = {r.gamma_p:.3g} over {r.n:,} gaps (smallest possible: 0.01)")
        run.claim(id=f"gamma-beats-weibull-{s}",
                  claim=f"Gamma describes the gaps better than Weibull ({r.series})",
                  source=SOURCE_ARRIVALS, paper_value="Gamma chosen as the model",
                  measured={"R": r.vuong_R, "p": r.vuong_p},
                  criterion=LikelihoodRatio(favoured="Gamma"), null=NO_EVIDENCE,
                  measured_text=f"ll(Gamma) - ll(Weibull) = {r.vuong_R:.1f} "
                                f"(Vuong p = {r.vuong_p:.2g})")


def record_burstiness(run: Any, persist: dict[str, bool], poisson: dict[str, bool],
                      text: str) -> None:
    """Burstiness persists across window sizes: dispersion > 2 at every window size, against
    Poisson processes with the same rates and spans (measured in the same run)."""
    n, k, k0 = len(persist), sum(persist.values()), sum(poisson.values())
    null = Null(k0, "Poisson arrivals at the same rates (simulated here)")
    crit = decidable(AtLeast(n, partial=1, unit=f"of {n} series"), null)
    run.claim(id="burstiness-persists",
              claim="Burstiness persists across window sizes (dispersion > 2 at every size)",
              source="paper: burstiness analysis", paper_value="bursty at short and long scales",
              measured=k, criterion=crit, null=null, measured_text=text)


def record_generator(run: Any, cmp: pd.DataFrame, window_s: float) -> None:
    """The per-window Gamma generator reproduces each service's dispersion at ``window_s``.

    ``cmp`` has one row per (service, seed) with ``dispersion real``, ``dispersion generated`` and
    ``dispersion poisson`` at that window. The tolerance is the spread of the generated dispersion
    over seeds (a predictive check: z = 2 standard deviations); the null is a Poisson generator.
    """
    for service, g in cmp.groupby("service", sort=False):
        real = float(g["dispersion real"].iloc[0])
        gen = g["dispersion generated"].to_numpy(dtype=float)
        sd = float(gen.std(ddof=1)) if gen.size > 1 else float("nan")
        null = Null(float(g["dispersion poisson"].mean()),
                    "a Poisson generator at the same windowed rates")
        crit = decidable(CloseTo(real, z=2.0, se=sd), null)
        run.claim(id=f"generator-burstiness-{_slug(service)}",
                  claim=f"A per-window Gamma generator reproduces the {window_s / 60:g}-minute "
                        f"dispersion of the Azure {service} service",
                  source="paper: workload generator",
                  paper_value="generator reproduces the trace's patterns (qualitative)",
                  measured=float(gen.mean()), criterion=crit, null=null,
                  measured_text=f"generated {gen.mean():.2f} +- {sd:.2f} (sd over {gen.size} seeds) "
                                f"vs real {real:.2f}")


def record_serving(run: Any, summary: pd.DataFrame, bursty: str, rate: float,
                   paired: Any) -> None:
    """At equal mean rate, bursty arrivals raise p99 TTFT and the KV-cache peak over Poisson;
    ``paired(summary, metric, method)`` gives the per-seed differences."""
    d_ttft = paired(summary, "ttft_p99", bursty)
    d_kv = paired(summary, "kv_peak", bursty)
    zero = Null([0.0] * len(d_ttft), "arrivals that do not matter: no paired difference")
    run.claim(id="bursts-raise-tail-latency",
              claim=f"At equal mean rate ({rate:g} req/s) bursty arrivals ({bursty}) raise p99 "
                    f"TTFT over Poisson",
              source="paper: serving evaluation with vLLM",
              paper_value="bursts raise latency and failures (qualitative)",
              measured=d_ttft, criterion=PairedTest(), null=zero)
    run.claim(id="bursts-raise-kv-pressure",
              claim=f"... and raise the KV-cache peak ({bursty} vs Poisson)",
              source="paper: serving evaluation with vLLM",
              paper_value="bursts fill the KV cache (qualitative)",
              measured=d_kv, criterion=PairedTest(), null=zero)

