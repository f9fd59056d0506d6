"""ParZC: parametric zero-cost proxies for efficient NAS (Dong et al., arXiv:2402.02105).

Modules: ``space`` (NAS-Bench-201 cells), ``network`` (the macro network), ``data``,
``proxies`` (node-wise zero-cost proxies), ``benchmark`` / ``tables`` / ``source`` (the mini
NAS-Bench-201), ``nb201_real`` (the real benchmark file), ``features``, ``mabn``, ``diffkendall``,
``training`` (Lightning), ``evaluation``, ``motivation``, ``search``, ``plots``, ``claims``,
``constants``, ``gpu_smoke``.
"""
