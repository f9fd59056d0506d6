"""Every number this chapter takes from elsewhere, with its source (ARCHITECTURE §1).

Paper: L. Zhang, X. Liu, Z. Li, X. Pan, P. Dong, R. Fan, R. Guo, X. Wang, Q. Luo, S. Shi, X. Chu,
"Dissecting the Runtime Performance of the Training, Fine-tuning, and Inference of Large Language
Models", arXiv:2311.03687. Authors' tooling: github.com/AaronZLT/llm-toolkit (Apache-2.0).

Peak FLOP/s are **dense** (no 2:4 sparsity) tensor-core throughput in bf16/fp16 with fp32
accumulation: the denominator of every MFU in this chapter.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 2**30
GB = 1e9


@dataclass(frozen=True)
class GPU:
    """One accelerator: dense 16-bit tensor throughput, memory bandwidth and capacity."""

    name: str
    flops: float  # FLOP/s, dense bf16/fp16 with fp32 accumulation
    bandwidth: float  # bytes/s, device memory
    memory: float  # bytes
    link: str  # what connects 8 of them in the paper's servers
    link_bandwidth: float  # bytes/s per direction per GPU
    source: str


A800 = GPU("A800 80GB", 312e12, 2.039e12, 80 * GB, "NVLink (400 GB/s)", 200e9,
           "NVIDIA A100 80GB SXM datasheet (A800 = A100 compute and HBM2e with NVLink cut to "
           "400 GB/s): 312 TFLOPS bf16 dense, 2,039 GB/s")
RTX4090 = GPU("RTX 4090", 165.2e12, 1008e9, 24 * GB, "PCIe 4.0 x16 (no P2P)", 32e9,
              "NVIDIA Ada Lovelace architecture whitepaper, Appendix A: 165.2 TFLOPS fp16/bf16 "
              "with fp32 accumulate dense (330.3 with sparsity), 1,008 GB/s GDDR6X, 24 GB")
RTX3090 = GPU("RTX 3090", 71e12, 936e9, 24 * GB, "PCIe 4.0 x16", 32e9,
              "NVIDIA Ampere GA102 whitepaper, Table 9: 71 TFLOPS fp16/bf16 with fp32 accumulate "
              "dense (142 with sparsity), 936 GB/s GDDR6X, 24 GB")
H100 = GPU("H100 80GB", 989.4e12, 3.35e12, 80 * GB, "NVLink 4 (900 GB/s)", 450e9,
           "NVIDIA H100 SXM5 datasheet: 989 TFLOPS bf16 dense (1,979 with sparsity), 3.35 TB/s "
           "HBM3, 80 GB")
GPUS = {"A800": A800, "RTX4090": RTX4090, "RTX3090": RTX3090, "H100": H100}
#: The memory of the two card classes the paper's findings are phrased for.
CARD_MEMORY = {"24 GB": 24 * GB, "80 GB": 80 * GB}


@dataclass(frozen=True)
class LlamaSize:
    """Sizes of a Llama-2 model (Touvron et al. 2023, Table 1; the released config.json files)."""

    name: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int = 32_000
    params: int = 0  # the exact count (the brief; checked against transformers on the meta device)


LLAMA2_7B = LlamaSize("Llama-2-7B", 4096, 11008, 32, 32, 32, params=6_738_415_616)
LLAMA2_13B = LlamaSize("Llama-2-13B", 5120, 13824, 40, 40, 40, params=13_015_864_320)
LLAMA2_70B = LlamaSize("Llama-2-70B", 8192, 28672, 80, 64, 8, params=68_976_648_192)
LLAMA2 = {"7b": LLAMA2_7B, "13b": LLAMA2_13B, "70b": LLAMA2_70B}

# --- The paper's measurement protocol (brief; the authors' StepInfoCallback) -------------------
WARMUP_STEPS = 3  # steps discarded before timing
MEASURED_STEPS = 5  # steps whose mean/median is reported
PAPER_SEQ_LENGTHS = (256, 512, 1024, 2048, 4096)  # input + output, 128+128 ... 2048+2048

# --- ZeRO (Rajbhandari et al. 2020, Sec. 5.1 and Figure 1) -------------------------------------
#: Mixed-precision Adam: 2 bytes fp16 parameters + 2 bytes fp16 gradients + K = 12 bytes of
#: optimizer state (fp32 master parameters, momentum, variance).
ZERO_K = 12
ZERO_EXAMPLE_PARAMS = 7.5e9  # the paper's Figure 1 example: 7.5B parameters, N_d = 64
ZERO_EXAMPLE_GPUS = 64
ZERO_EXAMPLE_GB = {0: 120.0, 1: 31.4, 2: 16.6, 3: 1.9}

# --- Overhead outside the tensors (assumptions, calibrated at the gpu profiles) ----------------
#: The authors' peak memory is total - free (torch.cuda.mem_get_info): it includes the CUDA
#: context (driver, cuBLAS/cuDNN handles and kernels), typically 0.3-0.6 GiB on Ampere/Hopper
#: with PyTorch; 0.5 GiB is this chapter's assumption, replaced by the measured value on a GPU.
CUDA_CONTEXT_BYTES = int(0.5 * GIB)
#: The caching allocator keeps freed blocks reserved; 5% of the tensor peak is this chapter's
#: assumption for that fragmentation (max_memory_reserved / max_memory_allocated on a GPU).
ALLOCATOR_FRACTION = 0.05

# --- QLoRA (Dettmers et al. 2023, Sec. 3 "Double Quantization") --------------------------------
NF4_BITS_PER_PARAM = 4.127  # 4-bit NF4 + double-quantised block constants (block 64, then 256)
