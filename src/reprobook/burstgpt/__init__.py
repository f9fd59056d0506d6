"""BurstGPT (Wang et al., arXiv:2401.17644): real LLM serving workloads and burstiness.

- :mod:`.traces` — loaders for the BurstGPT trace (v1 and v3 schemas) and the Azure LLM inference
  trace 2023, into one schema.
- :mod:`.analysis` — periodicity, burstiness across windows, lengths, failures.
- :mod:`.fitting` — inter-arrival fits (Gamma, Weibull, Exponential) and the Zipf fit of lengths.
- :mod:`.generator` — the workload generator (Gamma arrivals, piecewise, replay, lengths).
- :mod:`.synthetic` — a synthetic BurstGPT-like trace from the paper's model (labelled synthetic).
- :mod:`.simulator` — a discrete-event vLLM-style server with a roofline latency model.
- :mod:`.constants` — numbers from the paper, its code and hardware spec sheets, with sources.
"""
