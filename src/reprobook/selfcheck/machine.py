"""What the book ran on: hardware, software, threads (for the self-check notebook)."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import pandas as pd

from reprobook.core.devices import DeviceChoice, describe_hardware
from reprobook.core.provenance import PACKAGES


def machine_table(device: DeviceChoice) -> pd.DataFrame:
    """One row per fact about the machine and the chosen device."""
    import torch

    hw = describe_hardware()
    rows = [
        ("platform", platform.platform()),
        ("python", sys.version.split()[0]),
        ("CPU", hw["cpu"]),
        ("cores (usable / logical)", f"{hw['cores_usable']} / {hw['cores_logical']}"),
        ("memory", f"{hw['memory_gib']} GiB"),
        ("torch threads", str(torch.get_num_threads())),
        ("CUDA available to torch", str(hw["cuda_available"])),
        ("torch CUDA build", str(torch.version.cuda)),
    ]
    for i, g in enumerate(hw["gpus"]):
        rows.append((f"GPU {i}", f"{g['name']} ({g['memory_gib']} GiB, sm {g['capability']})"))
    rows += [("device chosen", f"{device.device} ({device.name})"),
             ("precision chosen", device.precision)]
    return pd.DataFrame(rows, columns=["what", "value"])


def package_table(packages: tuple[str, ...] = PACKAGES) -> pd.DataFrame:
    """Installed versions of the book's key packages in this kernel's environment."""
    rows = []
    for p in packages:
        try:
            rows.append((p, metadata.version(p)))
        except metadata.PackageNotFoundError:
            rows.append((p, "not installed"))
    return pd.DataFrame(rows, columns=["package", "version"])
