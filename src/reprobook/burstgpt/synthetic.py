"""A synthetic BurstGPT-like trace (labelled *synthetic* wherever shown).

Built from the paper's description of its trace, for figures whose real input (BurstGPT, 121
days) cannot be downloaded here: conversation traffic with "highs during working hours and lows at
night" and fewer requests at weekends; API traffic aperiodic and bursty (Gamma shape 0.25, the
official generator's value, with a random rate per hour); ChatGPT:GPT-4 and API:Conversation mixes
from the counts of BurstGPT_1 (brief); lengths from the official generator's Zipf(1.1) capped at
1024. The periodic profile is an *input* here: the synthetic trace illustrates the analyses and
cannot confirm any claim about BurstGPT.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .constants import GENERATOR_GAMMA_SHAPE
from .generator import gamma_arrivals, zipf_lengths
from .traces import COLUMNS

# Shares in BurstGPT_1 without failures (brief): ChatGPT 1,189,167 / GPT-4 215,127;
# API 1,258,587 / Conversation 145,707.
SHARE_GPT4 = 215_127 / 1_404_294
SHARE_CONVERSATION = 145_707 / 1_404_294


def _conversation_profile(hour: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Relative rate by hour: low 2-8 h, peaks near 10-11 h and 15-16 h; weekends at 40 %."""
    day = (np.exp(-0.5 * ((hour - 10.5) / 1.8) ** 2) + 0.9 * np.exp(-0.5 * ((hour - 15.5) / 2.0) ** 2)
           + 0.35 * np.exp(-0.5 * ((hour - 21.0) / 1.5) ** 2) + 0.05)
    return day * np.where(weekday >= 5, 0.4, 1.0)


def synthetic_trace(days: int, mean_rate: float, rng: np.random.Generator,
                    day0_weekday: int = 0) -> pd.DataFrame:
    """``days`` days at ``mean_rate`` requests/s overall, in the schema of :mod:`.traces`."""
    if days < 1 or mean_rate <= 0:
        raise ValueError("days must be >= 1 and mean_rate > 0")
    hours = np.arange(days * 24)
    hod, weekday = hours % 24, (hours // 24 + day0_weekday) % 7
    conv_profile = _conversation_profile(hod.astype(float), weekday)
    conv_rate = mean_rate * SHARE_CONVERSATION * conv_profile / conv_profile.mean()
    api_rate = mean_rate * (1 - SHARE_CONVERSATION) * rng.lognormal(0.0, 0.8, size=hours.size)
    api_rate *= mean_rate * (1 - SHARE_CONVERSATION) / api_rate.mean()
    parts = []
    for log_type, rates, shape in (("Conversation", conv_rate, 1.0),
                                   ("API", api_rate, GENERATOR_GAMMA_SHAPE)):
        for h, r in zip(hours, rates):
            if r > 0:
                t = gamma_arrivals(r, shape, 3600.0, rng, start=h * 3600.0)
                parts.append(pd.DataFrame({"time": t, "log_type": log_type}))
    df = pd.concat(parts, ignore_index=True).sort_values("time", ignore_index=True)
    n = len(df)
    df["model"] = np.where(rng.random(n) < SHARE_GPT4, "GPT-4", "ChatGPT")
    df["request_tokens"] = zipf_lengths(n, rng)
    df["response_tokens"] = zipf_lengths(n, rng)
    df["failed"] = False
    df = df[COLUMNS]
    df.attrs.update(source="synthetic BurstGPT-like", path=None, synthetic=True, start=None)
    return df
