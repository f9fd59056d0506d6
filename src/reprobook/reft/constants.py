"""Numbers quoted from the paper (arXiv:2310.12670 v1), each with where it comes from."""

#: Abstract: "over 14x faster parameter saving compared to state-of-the-art asynchronous
#: checkpointing methods" (their testbed).
PAPER_SAVE_SPEEDUP = 14.0
PAPER_SAVE_SPEEDUP_SOURCE = "paper: abstract (v1)"

#: The default emulated bandwidth of the persistent storage the baselines write to: an NFS-like
#: shared file system (an assumption of this chapter, not a number from the paper).
DEFAULT_STORAGE_MBPS = 200.0

#: The emulated network bandwidth per node of the parity exchange (an assumption of this chapter: a
#: 100 Gb/s data-centre link, below the 200 Gb/s InfiniBand of large training clusters).
DEFAULT_NETWORK_GBPS = 100.0

#: "Little overhead": a REFT snapshot after every step should cost under a tenth of an iteration
#: (this chapter's threshold, not the paper's: the paper gives no number; the snapshot copy and
#: parity run on spare cores on a cluster, here they share two cores with the trainers).
OVERHEAD_THRESHOLD_PCT = 10.0
