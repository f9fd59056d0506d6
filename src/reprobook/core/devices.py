"""Device and precision selection from notebook parameters (ARCHITECTURE §7).

``device`` is ``"auto"`` (CUDA if present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``;
``precision`` is ``"auto"`` or one of Lightning's precision strings. ``"auto"`` is bf16-mixed where
bf16 matrix products run natively — a CUDA GPU with bf16 support, or a CPU with AVX-512 BF16 or AMX
(:func:`cpu_has_native_bf16`) — 16-mixed on an older GPU, and 32-true on any other CPU. On a CPU
without native bf16, PyTorch falls back to a scalar bf16 matrix product: measured 37x slower than
float32 on a 2-core AVX2 EPYC (a 384 x 1536 linear layer, forward + backward), so "auto" never picks
it there. The resolved precision is recorded with the run (``run.device.precision``).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Any

PRECISIONS = ("auto", "32-true", "16-mixed", "bf16-mixed", "64-true")


@dataclass(frozen=True)
class DeviceChoice:
    """The device a notebook computes on, and the precision it trains in."""

    device: str  # "cpu" or "cuda:N"
    precision: str  # a Lightning precision string
    name: str  # human-readable, e.g. "NVIDIA H100 80GB HBM3" or the CPU model

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def torch_device(self) -> Any:
        import torch

        return torch.device(self.device)


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AVX-512 BF16 or AMX tiles)."""
    import torch

    cpu = torch.cpu
    return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                or getattr(cpu, "_is_amx_tile_supported", lambda: False)())


def pick(device: str = "auto", precision: str = "auto") -> DeviceChoice:
    """Resolve ``device``/``precision``; asking for CUDA where there is none is an error."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
    has_cuda = torch.cuda.is_available()
    if device == "auto":
        device = "cuda:0" if has_cuda else "cpu"
    elif device == "cuda":
        device = "cuda:0"
    if device.startswith("cuda"):
        if not has_cuda:
            raise RuntimeError(f"device {device!r} requested but torch sees no CUDA device "
                               f"(torch {torch.__version__}, CUDA build {torch.version.cuda})")
        index = int(device.split(":", 1)[1])
        if index >= torch.cuda.device_count():
            raise RuntimeError(f"device {device!r} requested but only "
                               f"{torch.cuda.device_count()} CUDA device(s) exist")
        name = torch.cuda.get_device_name(index)
        if precision == "auto":
            precision = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    elif device == "cpu":
        name = cpu_model()
        if precision == "auto":
            precision = "bf16-mixed" if cpu_has_native_bf16() else "32-true"
    else:
        raise ValueError(f"device {device!r} is not 'auto', 'cpu', 'cuda' or 'cuda:N'")
    return DeviceChoice(device=device, precision=precision, name=name)


def describe_hardware() -> dict[str, Any]:
    """The machine: CPU model, cores, memory, and every CUDA device torch can see."""
    import psutil
    import torch

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cuda_available": torch.cuda.is_available(),
        "gpus": [],
    }
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            info["gpus"].append({"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1),
                                 "capability": f"{p.major}.{p.minor}"})
    return info
