"""REFT: reliable and efficient in-memory fault tolerance of LLM pretraining (arXiv:2310.12670 v1).

Modules: ``state`` (a rank's shard as named tensors, packed into bytes), ``slots`` (shared-memory
snapshot slots with a checksummed header and a commit flag), ``coding`` (XOR and Reed-Solomon
erasure coding across nodes with rotating parity), ``smp`` (snapshot management processes),
``model`` (a small GPT on real text), ``trainer`` (DDP + ZeroRedundancyOptimizer with REFT
snapshots), ``cluster`` (the launcher, fault injection and recovery), ``baselines`` (torch.save,
DCP save/async_save, CheckFreq-style, under an emulated storage bandwidth), ``reliability``
(survival probability and lost work, closed forms and Monte-Carlo), ``plots``.
"""
