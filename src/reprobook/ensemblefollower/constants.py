"""Every constant of the EnsembleFollower chapter, with its source (ARCHITECTURE §1).

Only the abstracts of the paper (arXiv:2308.16008; IEEE TVT 74(9):13553-13567, 2025) could be read.
From them come: a high-level RL agent over low-level car-following models that either *selects*
one model or *weights* all of them, IDM and Gipps among the low-level models, a jerk-constrained
kinematic model, closed-loop hierarchical planning, evaluation on real driving data (HighD).
Every number below that is not marked "FollowNet" or "data" is a design choice of this book.
"""

from __future__ import annotations

# --- the paper ------------------------------------------------------------------------------------
PAPER = ("Xu Han, Xianda Chen, Meixin Zhu, Pinlong Cai, Jianshan Zhou, Xiaowen Chu. "
         "EnsembleFollower: A Hybrid Car-Following Framework Based On Reinforcement Learning "
         "and Hierarchical Planning. arXiv:2308.16008 (2023); IEEE TVT 74(9):13553-13567 (2025)")
ABSTRACT_ONLY = "only the paper's abstracts could be read"

# Spacing MSE [m^2] and collision rate [per mille of events] of the same group's FollowNet benchmark
# on HighD, as quoted in this chapter's brief (Chen et al., FollowNet, Scientific Data 2023).
# Context for orders of magnitude only: a different data set (HighD, motorway) from the one here.
FOLLOWNET_HIGHD_SPACING_MSE = {"GHR": 23.76, "IDM": 27.50, "NN": 24.06, "LSTM": 22.90,
                               "DDPG": 38.52}
FOLLOWNET_HIGHD_COLLISION_PER_MILLE = {"GHR": 0.0, "IDM": 0.0, "NN": 39.87, "LSTM": 3.72,
                                       "DDPG": 0.0}

# --- time and kinematics (this book; the brief's jerk-constrained model) -------------------------
DT = 0.1  # [s] simulation step: the 10 Hz of OpenACC and of FollowNet's downsampled HighD
A_MIN = -8.0  # [m/s^2] hardest braking the kinematic model allows (about 0.8 g)
A_MAX = 3.0  # [m/s^2] strongest acceleration; the human 99.9th percentile here is ~3.6 (data)
J_MAX = 3.0  # [m/s^3] jerk bound; the OpenACC human |jerk| 99.5th percentile is ~2.6 (data,
#              notebook 01 measures it), so a human exceeds it in well under 1% of steps
G = 9.81  # [m/s^2] one g: accelerations beyond it are rejected as unphysical (schema check)

# --- events (FollowNet-like extraction; this book) -----------------------------------------------
EVENT_S = 20.0  # [s] OpenACC segments are cut into windows of this length
MIN_EVENT_S = 15.0  # [s] shortest event kept (FollowNet's HighD rule: car-following >= 15 s)
MIN_MEAN_SPEED = 1.0  # [m/s] windows whose follower barely moves are standstill, not following
SPLIT = (0.70, 0.15, 0.15)  # train / validation / test share of events (the brief)
HIGHD_FPS = 25.0  # [Hz] HighD's frame rate (its recordingMeta says so per recording)

# --- physical ranges of the trace schema (this book) ----------------------------------------------
MAX_SPEED = 70.0  # [m/s] 252 km/h
MAX_GAP = 250.0  # [m] beyond this nobody is following anybody
DT_TOL = 1e-3  # [s] tolerance on the 0.1 s step before it counts as a gap in time

# --- the MDP (this book's design of the abstract's "high-level agent") ----------------------------
HISTORY = 10  # K: steps of (s, v, dv) in the observation (1 s at 10 Hz)
W_SPEED = 0.5  # w_v: weight of the relative speed error in the reward
W_JERK = 0.1  # w_j: weight of |jerk| / J_MAX in the reward
S_FLOOR = 2.0  # [m] floor of s_obs in the relative spacing error (standstill gaps are small)
V_FLOOR = 1.0  # [m/s] floor of v_obs in the relative speed error
LOGIT_BOUND = 4.0  # weighting mode: the Box action (logits) lies in [-4, 4]^M before the softmax
# observation scales (divide before feeding the policy)
S_SCALE, V_SCALE, DV_SCALE, A_SCALE = 20.0, 15.0, 3.0, 3.0

# --- closed-loop calibration bounds (this book; usual literature ranges) -------------------------
IDM_BOUNDS = {"a_max": (0.3, 4.0), "b": (0.5, 5.0), "v0": (5.0, 40.0), "T": (0.2, 3.0),
              "s0": (0.5, 6.0)}
IDM_DELTA = 4.0  # the acceleration exponent of IDM (Treiber et al. 2000)
GIPPS_BOUNDS = {"a": (0.3, 4.0), "b": (-6.0, -0.5), "V": (5.0, 40.0), "tau": (0.3, 2.0),
                "s0": (0.5, 6.0)}
# Uncalibrated textbook IDM (Treiber & Kesting, "Traffic Flow Dynamics", Table 11.2, city traffic)
IDM_DEFAULT = {"a_max": 1.0, "b": 1.5, "v0": 15.0, "T": 1.0, "s0": 2.0}

# --- safety metrics (this book; TTC threshold of the brief) ---------------------------------------
TTC_THRESHOLD = 4.0  # [s] share of steps with time-to-collision below this
