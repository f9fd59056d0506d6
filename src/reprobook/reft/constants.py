"""Numbers quoted from the paper (arXiv:2310.12670 v1), each with where it comes from."""

#: Abstract: "over 14x faster parameter saving compared to state-of-the-art asynchronous
#: checkpointing methods" (their testbed).
PAPER_SAVE_SPEEDUP = 14.0
PAPER_SAVE_SPEEDUP_SOURCE = "paper: abstract (v1)"

#: The default emulated bandwidth of the persistent storage the baselines write to: an NFS-like
#: shared file system (an assumption of this chapter, not a number from the paper).
DEFAULT_STORAGE_MBPS = 200.0
