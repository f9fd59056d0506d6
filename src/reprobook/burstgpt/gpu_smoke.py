"""The BurstGPT chapter's GPU smoke check (ARCHITECTURE §7): a real vLLM server, a short burst.

Starts ``vllm serve`` on dummy weights of Llama-2-7B's architecture (no download), sends a burst of
Gamma(k = 0.1) arrivals with lengths from the official generator's Zipf law, and returns what the
client measured. vLLM lives in its own environment: ``$REPROBOOK_VLLM_PYTHON`` or
``.venv-vllm/bin/python`` (``make vllm-env`` creates it on a GPU machine); without it the check is
skipped with that reason.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np

from reprobook.core.gpusmoke import Skip
from reprobook.core.paths import cache_root, repo_root

from . import generator, vllm_client
from .constants import GENERATOR_MAX_TOKENS
from .simulator import ServerConfig

SPEC = vllm_client.VLLMServerSpec  # the tests put a stand-in server here


def vllm_python() -> str:
    """The interpreter of the vLLM environment, or Skip."""
    env = os.environ.get("REPROBOOK_VLLM_PYTHON")
    path = Path(env) if env else repo_root() / ".venv-vllm" / "bin" / "python"
    if not path.is_file():
        raise Skip(f"no vLLM environment at {path} (`make vllm-env` creates it on a GPU machine, "
                   f"or set REPROBOOK_VLLM_PYTHON)")
    return str(path)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vllm_burst(device: str, tiny: bool) -> dict:
    """vLLM on dummy Llama-2-7B weights serves a burst of Gamma(0.1) arrivals (TTFT, failures)."""
    python = vllm_python()
    rng = np.random.default_rng(0)
    rate, seconds = (4.0, 3.0) if tiny else (8.0, 10.0)
    t = generator.gamma_arrivals(rate, 0.1, seconds, rng)
    cap = 64 if tiny else GENERATOR_MAX_TOKENS
    w = generator.Workload("burst", t, generator.zipf_lengths(t.size, rng, max_tokens=cap),
                           generator.zipf_lengths(t.size, rng, max_tokens=cap))
    work = cache_root() / "burstgpt-gpu-smoke"
    spec = SPEC(vllm_client.write_model_dir(work / "model"), python=python, port=_port(),
                config=ServerConfig(), extra_args=("--enforce-eager",))
    with vllm_client.serve(spec, startup_timeout_s=600, log=work / "vllm-server.log"):
        r = vllm_client.run_workload(w, spec.base_url, timeout_s=120.0, poll_s=0.25)
    s = r.summary()
    return {"requests": int(s["requests"]), "completed": int(s["completed"]),
            "ttft_p50_s": s["ttft_p50"], "ttft_p99_s": s["ttft_p99"], "tpot_p50_s": s["tpot_p50"],
            "kv_peak": s["kv_peak"], "tokens": int(r.requests["generated"].sum())}


CHECKS = [vllm_burst]
