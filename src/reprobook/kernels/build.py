"""Building the compositing extensions (ARCHITECTURE §7).

- :func:`load` compiles (first use) and imports the C++ extension (``csrc/composite_cpu.cpp``) or
  the CUDA one (``csrc/composite_cuda.cu`` + ``csrc/composite_cuda_bind.cpp``) with
  ``torch.utils.cpp_extension.load`` (ninja), printing one line when it does.
- :func:`cuda_home` / :func:`nvcc` find a CUDA toolkit: ``$CUDA_HOME``, the toolkit of the
  ``nvcc`` on ``PATH``, ``/usr/local/cuda``, or PyPI's ``nvidia-cuda-nvcc`` wheels installed
  beside torch (``site-packages/nvidia/cu13`` or ``nvidia/cuda_nvcc``).
- :func:`compile_cuda_object` compiles the CUDA kernels to an object file without a GPU
  (compile-only: it proves that the ``.cu`` builds against this torch, where no GPU is at hand).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

CSRC = Path(__file__).parent / "csrc"
CPU_SOURCES = (CSRC / "composite_cpu.cpp",)
CUDA_SOURCES = (CSRC / "composite_cuda_bind.cpp", CSRC / "composite_cuda.cu")


class KernelBuildError(RuntimeError):
    """A kernel that could not be compiled or loaded here."""


# torch.utils.cpp_extension logs "No CUDA runtime is found, using CUDA_HOME=..." at import on every
# machine without a GPU; the CPU kernel does not need CUDA, and :func:`cuda_home` finds the toolkit
# itself when the CUDA kernel is built.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def build_dir() -> Path:
    """Where extensions are built: one folder per torch version and Python environment (the book's
    environments each compile their own copy, so they never rebuild each other's)."""
    root = os.environ.get("REPROBOOK_KERNEL_DIR")
    env = hashlib.sha256(sys.prefix.encode()).hexdigest()[:8]
    d = Path(root) if root else (Path.home() / ".cache" / "reprobook" / "torch_extensions"
                                 / f"torch-{torch.__version__}-env-{env}")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _is_toolkit(d: Path) -> bool:
    return (d / "bin" / "nvcc").is_file() and (d / "include" / "cuda_runtime.h").is_file()


def cuda_home() -> Path | None:
    """A CUDA toolkit folder (``bin/nvcc`` and ``include/cuda_runtime.h``), or None."""
    cands = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")]
    which = shutil.which("nvcc")
    if which:
        cands.append(str(Path(which).resolve().parent.parent))
    cands.append("/usr/local/cuda")
    site = Path(torch.__file__).resolve().parent.parent / "nvidia"
    cands += [str(site / "cu13"), str(site / "cuda_nvcc")]
    for c in cands:
        if c and _is_toolkit(Path(c)):
            return Path(c)
    return None


def nvcc() -> Path | None:
    home = cuda_home()
    return home / "bin" / "nvcc" if home else None


@lru_cache(maxsize=None)
def load(kind: str = "cpp", verbose: bool = False) -> Any:
    """Build (first time) and import the ``kind`` ("cpp" or "cuda") extension."""
    from torch.utils import cpp_extension

    if kind == "cpp":
        name, sources = "reprobook_composite_cpu_v2", CPU_SOURCES
        # -fopenmp-simd: the `omp simd` loops without linking a second OpenMP runtime (the rays
        # are split over torch's own thread pool); -fno-trapping-math lets GCC if-convert the
        # polynomial exp's range checks inside those loops (nothing here reads FP exceptions)
        extra: dict[str, Any] = {"extra_cflags": ["-O3", "-fopenmp-simd", "-fno-math-errno",
                                                  "-fno-trapping-math"]}
    elif kind == "cuda":
        home = cuda_home()
        if not torch.cuda.is_available() or home is None:
            raise KernelBuildError("the CUDA kernel needs a CUDA device and a CUDA toolkit (nvcc)")
        cpp_extension.CUDA_HOME = str(home)  # the module resolved it at import, maybe wrongly
        name, sources = "reprobook_composite_cuda_v2", CUDA_SOURCES
        extra = {"extra_cflags": ["-O3"], "extra_cuda_cflags": ["-O3"]}
    else:
        raise ValueError(f"unknown kernel kind {kind!r}; expected 'cpp' or 'cuda'")
    d = build_dir() / name
    d.mkdir(parents=True, exist_ok=True)
    print(f"reprobook.kernels: building/loading the {kind} compositing kernel in {d} "
          f"(first build takes about a minute)", file=sys.stderr, flush=True)
    try:
        return cpp_extension.load(name=name, sources=[str(s) for s in sources],
                                  build_directory=str(d), verbose=verbose, **extra)
    except Exception as e:  # compiler missing, ninja missing, a build error
        raise KernelBuildError(f"building the {kind} compositing kernel failed: {e}") from e


def compile_cuda_object(out_dir: Path, arch: str = "sm_90") -> Path:
    """Compile ``csrc/composite_cuda.cu`` to an object file with nvcc (no GPU needed); returns
    its path. Raises KernelBuildError with nvcc's message when it does not compile."""
    from torch.utils import cpp_extension

    exe = nvcc()
    if exe is None:
        raise KernelBuildError("no CUDA toolkit found (nvcc); see reprobook.kernels.build.cuda_home")
    home = exe.parent.parent
    out = Path(out_dir) / "composite_cuda.o"
    incs = [*cpp_extension.include_paths("cpu"), str(home / "include"),
            sysconfig.get_paths()["include"]]
    abi = int(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", True))
    cmd = [str(exe), "-c", str(CSRC / "composite_cuda.cu"), "-o", str(out), "-std=c++20",
           "-O3", f"-arch={arch}", "-Xcompiler", "-fPIC", f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
           *cpp_extension.COMMON_NVCC_FLAGS, *[f"-I{i}" for i in incs]]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise KernelBuildError(f"nvcc failed ({' '.join(cmd[:4])} ...):\n{res.stderr[-3000:]}")
    return out
