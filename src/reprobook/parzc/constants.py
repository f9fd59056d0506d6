"""Every number this chapter takes from the paper, its official code or the literature.

Sources: ParZC, arXiv:2402.02105 (AAAI-25), Sec. 3-4; the official code github.com/pprp/PicoNAS
(``exps/nds/parzc.py``, ``piconas/predictor/pinat/pinat_model.py`` ``BaysianMLPMixer``,
``piconas/core/losses/diffkd.py``, ``exps/eval_rank/eval_predictor.py``,
``piconas/datasets/predictor/nb201_dataset.py``); NAS-Bench-201 (Dong & Yang, ICLR 2020).
"""

from __future__ import annotations

# --- the search space (NAS-Bench-201, Sec. 2) -----------------------------------------------
NB201_CELLS = 15_625  # 5 ops ^ 6 edges
NB201_UNIQUE = 6_466  # unique up to isomorphism (to_unique_str(consider_zero=True))
NB201_NO_PATH = 341  # cells with no input-output path
NB201_NODES = 98  # Conv2d/Linear nodes of the C=16, N=5 network (official zero-padding length)
NB201_C, NB201_N = 16, 5  # the benchmark's channels and cells per stage
NB201_TEST_IMAGES = 10_000  # CIFAR-10 test set (NAS-Bench-201 "ori-test")

# --- MABN (exps/nds/parzc.py BaysianMLPMixer; paper Sec. 3.2, Fig. 3) -----------------------
MABN_SEQ_LEN = 256  # Linear(in -> 256)
MABN_PATCH = 16  # 256 -> 16 tokens of 16 values
MABN_DIM = 512  # BayesianLinear(16 -> 512)
MABN_DEPTH = 4  # mixer blocks
MABN_EXPANSION = 4.0  # first feed-forward of each block
MABN_EXPANSION_TOKEN = 0.5  # second feed-forward of each block
RHO_INIT = -5.0  # BayesianLinear: rho initialised to -5, sigma = softplus(-5) ~ 0.0067
INPUT_PROXIES = ("grad_norm", "snip", "synflow")  # nb201_dataset.py: grad_norm || snip || synflow

# --- training (exps/eval_rank/eval_predictor.py and runner_parzc_hpo.py arguments) ----------
LR = 1e-4  # Adam
WEIGHT_DECAY = 1e-3
BATCH_SIZE = 10
EPOCHS = (100, 300)  # runner_parzc_hpo.py default 100, eval_predictor.py 300
DIFFKENDALL_A_CODE = 0.5  # diffkd.py: sigmoid(0.5 d) - sigmoid(-0.5 d) = tanh(0.25 d)
DIFFKENDALL_A_PAPER = 0.25  # tanh(a d) with the same per-pair slope as the code's a = 0.5
NB201_TRAIN_SPLITS = (78, 156, 469, 781, 1563)  # 0.5%, 1%, 3%, 5%, 10% of 15,625
NB101_TRAIN_SPLITS = (100, 172, 424, 4236)

# --- reference numbers (brief: official logs; Abdelfattah et al., ICLR 2021) ----------------
REF_TAU_NB201_78_MIXER = (0.60, 0.70)  # official logs, NB201 CIFAR-10, 78 archs, MLP-Mixer
REF_TAU_NB201_78_GRAPH = (0.73, 0.78)  # with the graph encoder (ParZCBMM)
REF_TAU_NB101_424 = (0.68, 0.80)
REF_SYNFLOW_SPEARMAN_NB201 = 0.82  # Abdelfattah et al. 2021, Table: NB201 CIFAR-10, synflow
