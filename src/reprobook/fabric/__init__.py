"""Hyperledger Fabric performance by phase decomposition (Wang & Chu, arXiv:2309.09547).

Modules: ``constants`` (the paper's numbers), ``queues`` (closed forms and approximations),
``model`` (the phase models, eqs. 1-7), ``tables`` (the authors' Tables 1-8 through the data
layer), ``reproduce`` (each table's model column from its inputs, baselines, MAPE), ``workload``,
``des`` (a SimPy simulation of execute-order-validate), ``records`` and ``logs`` (the measurement
schema: client timestamps t0..t4, Fabric orderer and peer logs), ``analysis`` (per-phase latencies
from records and logs, for real and simulated runs), ``experiments``, ``plots``, ``plots_sim``,
``claims``. ``harness/`` is the Node.js measurement program for a real Fabric network.
"""
