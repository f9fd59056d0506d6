"""FusionAI (Tang et al., arXiv:2309.01172): decentralised training and serving of LLMs on many
consumer GPUs — the performance model, the model DAG and IR, the hardware-aware scheduler, the
broker with a backup pool, and two execution backends (SimPy, Ray).

Modules: ``constants`` (GPU data sheets, the paper's headline), ``llama`` (a small Llama),
``dag`` (operation graph, costs per pipeline unit), ``ir`` (JSON IR and torch executor),
``perfmodel`` (stage times, makespan, all-reduce, 1F1B memory), ``scheduler`` (DP partition,
equal-layer baseline), ``oracle`` (enumeration, integer programs), ``headline`` (3080s vs H100s),
``broker`` (backup pool, heartbeats), ``churn`` (replayable churn), ``backend`` (the shared
interface), ``simbackend`` (SimPy), ``raybackend`` (Ray actors), ``study`` and ``churnstudy``
(what the notebooks run), ``plots``, ``claims``.
"""
