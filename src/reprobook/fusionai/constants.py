"""Every number this chapter takes from the paper or a spec sheet, with its source.

Units are SI throughout the chapter: FLOP/s, bytes, bytes/s, seconds. GPU compute is the *dense*
FP16 tensor-core rate with FP32 accumulation (what mixed-precision training uses); sparsity
figures from the data sheets are halved to their dense value.
"""

from __future__ import annotations

from dataclasses import dataclass

TERA, GIGA = 1e12, 1e9
GB = 1e9  # decimal gigabytes, as on the data sheets
GBPS = 1e9 / 8  # one gigabit per second in bytes per second


@dataclass(frozen=True)
class GPUSpec:
    """One GPU model: dense FP16 tensor FLOP/s, memory bytes, memory bandwidth, and the source."""

    key: str
    name: str
    flops: float  # dense FP16 tensor FLOP/s (FP32 accumulate)
    memory: float  # bytes
    mem_bw: float  # bytes/s
    source: str


GPUS: dict[str, GPUSpec] = {g.key: g for g in [
    GPUSpec("rtx3060", "RTX 3060 12GB", 25.5 * TERA, 12 * GB, 360 * GIGA,
            "derived, not on a data sheet: 112 tensor cores x 1.777 GHz x 128 FP16 FMA/clock "
            "(GA102 whitepaper rate per 3rd-gen GeForce tensor core), halved for FP32 "
            "accumulate as on every GeForce Ampere part; 12 GB, 360 GB/s (NVIDIA product page)"),
    GPUSpec("rtx3080", "RTX 3080 10GB", 59.5 * TERA, 10 * GB, 760 * GIGA,
            "NVIDIA Ampere GA102 GPU Architecture whitepaper (2020), RTX 3080: peak FP16 "
            "tensor TFLOPS with FP32 accumulate 59.5 (119 with sparsity); 10 GB GDDR6X, 760 GB/s"),
    GPUSpec("rtx3090", "RTX 3090 24GB", 71.0 * TERA, 24 * GB, 936 * GIGA,
            "NVIDIA Ampere GA102 GPU Architecture whitepaper (2020), RTX 3090: peak FP16 "
            "tensor TFLOPS with FP32 accumulate 71 (142 with sparsity); 24 GB GDDR6X, 936 GB/s"),
    GPUSpec("rtx4090", "RTX 4090 24GB", 165.2 * TERA, 24 * GB, 1008 * GIGA,
            "NVIDIA Ada GPU Architecture whitepaper (2022), RTX 4090: peak FP16 tensor TFLOPS "
            "with FP32 accumulate 165.2 (330.4 with sparsity); 24 GB GDDR6X, 1008 GB/s"),
    GPUSpec("a100", "A100 SXM 80GB", 312.0 * TERA, 80 * GB, 2039 * GIGA,
            "NVIDIA A100 Tensor Core GPU data sheet: FP16 tensor 312 TFLOPS (624 with "
            "sparsity); 80 GB HBM2e, 2,039 GB/s"),
    GPUSpec("h100_sxm", "H100 SXM 80GB", 989.4 * TERA, 80 * GB, 3350 * GIGA,
            "NVIDIA H100 Tensor Core GPU data sheet: FP16 tensor 1,979 TFLOPS with sparsity "
            "(989.4 dense); 80 GB HBM3, 3.35 TB/s"),
    GPUSpec("h100_pcie", "H100 PCIe 80GB", 756.0 * TERA, 80 * GB, 2000 * GIGA,
            "NVIDIA H100 Tensor Core GPU data sheet: FP16 tensor 1,513 TFLOPS with sparsity "
            "(756 dense); 80 GB HBM2e, 2 TB/s"),
]}

#: Links inside one 4-GPU server (bytes/s per direction, latency in s).
NVLINK_H100_SXM = 450 * GIGA  # NVLink 4: 900 GB/s total = 450 GB/s each way (H100 data sheet)
NVLINK_BRIDGE_H100_PCIE = 300 * GIGA  # NVLink bridge: 600 GB/s total (H100 data sheet)
INTRA_NODE_LATENCY = 5e-6  # a few microseconds per NVLink/NCCL hop (order of magnitude)

#: The paper's headline (abstract and its performance analysis): "50 RTX 3080 GPUs can achieve
#: throughputs comparable to those of 4 H100 GPUs". An analysis, not a measured run ("we envision").
PAPER_FLEET_GPU, PAPER_FLEET_N = "rtx3080", 50
PAPER_BASELINE_GPU, PAPER_BASELINE_N = "h100_pcie", 4
PAPER_HEADLINE = "50 x RTX 3080 reach throughput comparable to 4 x H100"
PAPER_HEADLINE_SOURCE = "arXiv:2309.01172, abstract and performance analysis"
#: The brief's rough check of the headline: peak compute 50 x 59.5 / (4 x 756) = 0.98.
PAPER_PEAK_RATIO = 50 * 59.5 / (4 * 756)

#: Mixed-precision Adam keeps 16 bytes of model state per parameter: FP16 weights and gradients
#: (2 + 2) plus FP32 master weights, momentum and variance (4 + 4 + 4). ZeRO, Rajbhandari et al.,
#: SC 2020, section 3.1.
ADAM_STATE_BYTES = 16
FP16_BYTES = 2

#: FLOPs of one training step per forward FLOP: forward (1) + backward (2); with full activation
#: recomputation one more forward (Narayanan et al., SC 2021, section 5.1). 2 P b s forward FLOPs
#: make the brief's t_k = 6 P_k b s / (eta F_k).
TRAIN_FACTOR, TRAIN_FACTOR_RECOMPUTE, INFER_FACTOR = 3, 4, 1

#: Default model-FLOPs utilisation eta and memory-bandwidth efficiency of a kernel that streams
#: weights (assumptions of this chapter, the same for every GPU unless a notebook says otherwise).
ETA = 0.5
ETA_MEM = 0.8

#: Access links of consumer peers: (bytes/s, one-way latency s). Assumptions of this chapter.
LINK_CLASSES: dict[str, tuple[float, float]] = {
    "lan-10G": (10 * GBPS, 0.5e-3),
    "fibre-1G": (1 * GBPS, 10e-3),
    "cable-100M": (0.1 * GBPS, 25e-3),
}

#: Llama 2 architectures (Touvron et al., arXiv:2307.09288, Table 1 and the released
#: config.json files): vocabulary, hidden size h, layers, attention heads, key/value heads (GQA),
#: feed-forward width. The 80-layer 70B model is the scheduler's benchmark.
LLAMA2: dict[str, dict[str, int]] = {
    "llama2-7b": dict(vocab_size=32000, hidden=4096, n_layers=32, n_heads=32, n_kv_heads=32,
                      ffn=11008),
    "llama2-13b": dict(vocab_size=32000, hidden=5120, n_layers=40, n_heads=40, n_kv_heads=40,
                       ffn=13824),
    "llama2-70b": dict(vocab_size=32000, hidden=8192, n_layers=80, n_heads=64, n_kv_heads=8,
                       ffn=28672),
}
