"""Every number this chapter takes from elsewhere, with its source.

Paper: Y. Wang et al., "BurstGPT: A Real-world Workload Dataset to Optimize LLM Serving Systems",
arXiv:2401.17644. Official repository: github.com/HPMLL/BurstGPT (code MIT, data CC BY 4.0).
"""

from __future__ import annotations

from dataclasses import dataclass

# --- The official workload generator's parameters (HPMLL/BurstGPT, example generator code) -------
GENERATOR_ZIPF_EXPONENT = 1.1  # request-token Zipf exponent
GENERATOR_GAMMA_SHAPE = 0.25  # inter-arrival Gamma shape
GENERATOR_GAMMA_SCALE = 2.0  # inter-arrival Gamma scale (seconds)
GENERATOR_MAX_TOKENS = 1024  # cap on request and response lengths

# --- Third-party statistics of BurstGPT_1.csv (brief; for checking a loader when the file exists) --
BURSTGPT1_ROWS = 1_429_737
BURSTGPT1_FAILURES = 25_443  # Response tokens == 0
BURSTGPT1_FAILURE_RATE = BURSTGPT1_FAILURES / BURSTGPT1_ROWS  # 1.78 %
BURSTGPT1_BUSIEST_TO_QUIETEST_HOUR = 11.7

# --- The release file (GitHub release of HPMLL/BurstGPT; git-LFS oid = sha256 of the content) -----
BURSTGPT1_SHA256 = "4bb3783693d0a435686fbfc885615d2349bd067239079fa4b749f2e679e12122"
BURSTGPT1_BYTES = 52_283_111

# --- Hardware (vendor spec sheets) ------------------------------------------------------------


@dataclass(frozen=True)
class GPU:
    """Peak dense bf16/fp16 tensor throughput, HBM bandwidth and memory of one GPU."""

    name: str
    flops: float  # FLOP/s, dense bf16
    bandwidth: float  # bytes/s
    memory: float  # bytes
    source: str


A100_80GB = GPU("A100 80GB SXM", 312e12, 2.039e12, 80e9,
                "NVIDIA A100 datasheet: 312 TFLOPS bf16 dense, 2,039 GB/s HBM2e, 80 GB")
H100_80GB = GPU("H100 80GB SXM", 989e12, 3.35e12, 80e9,
                "NVIDIA H100 datasheet: 989 TFLOPS bf16 dense (1,979 with sparsity), 3.35 TB/s HBM3")

# --- Models (published configs) --------------------------------------------------------------


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only transformer's sizes, as the latency model needs them."""

    name: str
    params: float
    layers: int
    d_model: int
    kv_heads: int
    head_dim: int
    bytes_per_value: int  # 2 for fp16/bf16
    source: str

    @property
    def weight_bytes(self) -> float:
        return self.params * self.bytes_per_value

    @property
    def kv_bytes_per_token(self) -> int:
        """K and V for every layer: 2 * layers * kv_heads * head_dim * bytes."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.bytes_per_value


LLAMA2_7B = ModelConfig("Llama-2-7B", 6.74e9, 32, 4096, 32, 128, 2,
                        "Touvron et al. 2023, Llama 2, Table 1 / HF config.json")

LLAMA2_MAX_MODEL_LEN = 4096  # context length of Llama 2 (Touvron et al. 2023)

# --- vLLM defaults (vLLM engine arguments) ----------------------------------------------------
VLLM_BLOCK_SIZE = 16  # tokens per KV-cache block
VLLM_GPU_MEMORY_UTILIZATION = 0.9
VLLM_MAX_NUM_SEQS = 256
# The token budget of one iteration. vLLM V1 (chunked prefill, always on) defaults to 8192 for the
# OpenAI server on GPUs with >= 70 GiB (vLLM EngineArgs); the v0 scheduler without chunked prefill
# needs at least max_model_len. The book passes its value to a real server explicitly.
VLLM_V1_MAX_NUM_BATCHED_TOKENS = 8192
VLLM_V0_MAX_NUM_BATCHED_TOKENS = 4096
# vLLM versions whose `vllm serve` CLI the server command is built for (pyproject's `vllm` extra).
VLLM_VERSIONS = ">=0.12,<0.34"
