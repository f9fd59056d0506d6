"""Every number this chapter quotes from the paper or its measurement setup, with its source.

Papers: C. Wang, X. Chu, "Stochastic Performance Analysis of Phase Decomposition in Hyperledger
Fabric", arXiv:2309.09547 (v1), and the revised manuscript "Client-Driven Performance Model of
Hyperledger Fabric Blockchain via Phase Decomposition"
(github.com/Canhui/Hyperledger_Fabric_Phase_Bench).
Tables: the eight appendix tables of github.com/Canhui/FabricDistBench (README at commit 06e24157),
reached through ``data/manifests/fabric-phase-tables.yaml``.
"""

from __future__ import annotations

# --- the workload and the alpha-beta communication model (revised manuscript, Table II) ---------
M_KB = 3.0  # transaction size m, KB ("i.e., 3 KB")
ALPHA_S = 0.010  # constant communication overhead alpha = 10 ms "in a cluster" (Table II)
# The appendix tables compute effective bandwidths as lambda * size_KB * 8 / 1024 / T_comm (Mbps)
# with no alpha: their model columns are reproduced with alpha = 0 (notebook 2 shows both).
KB_TO_MBIT = 8.0 / 1024.0
# Message sizes per phase as the tables use them (README formulas under each table):
EXEC_MSG_KB = 2 * M_KB  # execute: proposal out + endorsement back, "lambda*2*3kB*8/1024/T_comm"
C2L_MSG_KB = M_KB  # order, client -> OSN leader, "lambda*3kB*8/1024/T_c2l"
L2F_MSG_KB = M_KB  # order, leader -> each of k-1 followers, "lambda*3*8*(k-1)/1024/T_l2f"
VAL_MSG_KB = M_KB  # validate, ordering service -> committing peer, "lambda*3kB*8/1024/T_comm"

# --- block cutting (Section 6 setup; Tables 3-8 captions) ----------------------------------------
BATCH_TIMEOUT_S = 1.0
BATCH_SIZE = {3: 20, 4: 50, 5: 2, 6: 5}  # order tables -> BatchSize
VALIDATE_BATCH_SIZES = {7: (20, 50), 8: (2, 5)}

# --- hardware (revised manuscript Table III; Tables 7-8 captions) --------------------------------
CLUSTERS = {
    "cluster1": {"cpu": "Intel i7 3.4 GHz, 4 cores", "memory_gb": 8, "disk": "HDD", "iops": 63,
                 "network_gbps": 1},
    "cluster2": {"cpu": "Intel Xeon Platinum 8269CY 3.2 GHz, 8 vCPU", "memory_gb": 16,
                 "disk": "SSD", "iops": 1490, "network_gbps": 10},
}
# Per-table service rates (tables; README text under Tables 1-8)
MU = {1: 780.0, 2: 470.0, 3: 190.0, 4: 370.0, 5: 850.0, 6: 1500.0}
MU_VALIDATE = {(7, 20): 85.0, (7, 50): 185.0, (8, 2): 180.0, (8, 5): 1490.0}

# --- the tables: what each one holds -------------------------------------------------------------
TABLE_PHASE = {1: "execute", 2: "execute", 3: "order", 4: "order", 5: "order", 6: "order",
               7: "validate", 8: "validate"}
TABLE_CLUSTER = {1: "cluster1", 2: "cluster2", 3: "cluster1", 4: "cluster1", 5: "cluster2",
                 6: "cluster2", 7: "cluster1", 8: "cluster2"}
N_TABLE_ROWS = 117

# --- the paper's headline numbers (what the claims compare against) -------------------------------
# Mean absolute percentage error of the model and of the M/M/1 baseline, as stated for the local
# cluster (the values equal the MAPE of the tables' own columns: Table 1, Table 3, Table 4).
PAPER_MAPE = {
    1: {"model": 8.5, "mm1": 8.6, "what": "execute, cluster 1"},
    3: {"model": 5.7, "mm1": 21.9, "what": "order, BatchSize 20, cluster 1"},
    4: {"model": 7.3, "mm1": 30.3,
        "what": "order, BatchSize 50, cluster 1 (M/M/1 without waiting)"},
}
# The validate tables' model columns are empty at commit 06e24157 (the transcribed CSV); the later
# README of github.com/Canhui/Hyperledger_Fabric_Phase_Bench fills them (Tables 7-8, "Our T^v"
# and "M/M/1 T^v"), in the CSV's row order: BatchSize 20 (2 rows), 50 (3), 2 (3), 5 (5).
PAPER_VALIDATE_MODEL = (0.5437, 0.9538, 0.1550, 0.2585, 0.3421, 0.0601, 0.0690, 0.1283, 0.0262,
                        0.0301, 0.0497, 0.0706, 0.0791)
PAPER_VALIDATE_MM1 = (0.5475, 0.9611, 0.1542, 0.2578, 0.3420, 0.0595, 0.0685, 0.1289, 0.0262,
                      0.0301, 0.0496, 0.0706, 0.0791)
# Worked example (Table 1 text): cluster 1, c = 1, lambda = 209 tps.
EXAMPLE_EXEC = {"table": 1, "c": 1, "lam": 209.0, "T_meas": 0.2852, "T_comm": 0.2837,
                "T_q": 0.0002, "beta_avg": 29.3380, "T_model": 0.3354}
# Waiting-time reduction (revised manuscript Section V.E; Tables 3-4): lambda = 109, k = 3.
EXAMPLE_WAIT = {"lam": 109.0, "k": 3, "wait_bs50": 0.2294, "T_r_bs50": 0.3824,
                "wait_bs20": 0.0917, "T_r_bs20": 0.4332}
# The paper's three observations (abstract) and the revised manuscript's fourth.
OBSERVATIONS = (
    "endorsing-peer throughput grows linearly with the number of CPU cores",
    "Raft ordering scales with the number of ordering service nodes",
    "communication latency between the client and the services is significant",
    "block waiting time dominates the order phase under an unfit BatchSize",
)
