"""The FedImpro chapter's GPU path in the book's gpu-smoke run (ARCHITECTURE §7).

One check: FedImpro rounds of the paper's model (ResNet-18, CIFAR stem, split after layer2) on
synthetic CIFAR-shaped data (no download), through the same :func:`run_federation` the gpu-1x
profile runs — round 1 builds the shared distribution, round 2 trains on real plus sampled
features (timed: the round of a 1,000-round run), round 3 adds the batched
gradient-dissimilarity pass. It returns what it measured: seconds per round, training images per
second, the projected hours of one 1,000-round run, the seconds of one dissimilarity pass and the
peak GPU memory (accuracy on random data is meaningless and not reported).
``tiny=True`` (the unit tests, on the CPU) shrinks clients, images and batch.
"""

from __future__ import annotations

import time

import torch

from .data import ImageData
from .federation import FedConfig, run_federation
from .methods import ImproConfig
from .model import resnet18_cifar
from .partition import dirichlet_partition


def synthetic_cifar(n_train: int, n_test: int, side: int, seed: int = 0) -> ImageData:
    """Random CIFAR-shaped images (3 x side x side) with a class-dependent mean, 10 classes."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n_train + n_test) % 10
    shift = torch.randn(10, 3, 1, 1, generator=g)
    x = torch.randn(len(y), 3, side, side, generator=g) + shift[y]
    return ImageData("synthetic-cifar", x[:n_train], y[:n_train], x[n_train:], y[n_train:], 10)


def fedimpro_resnet18_round(device: str, tiny: bool) -> dict:
    """FedImpro rounds of ResNet-18 (split after layer2) on synthetic CIFAR-shaped data."""
    clients, per_client, side, batch = (2, 8, 8, 8) if tiny else (10, 500, 32, 128)
    data = synthetic_cifar(clients * per_client, 16 if tiny else 1000, side)
    parts = dirichlet_partition(data.y_train.numpy(), clients, 0.5, seed=0,
                                min_size=2 if tiny else 10)
    cfg = FedConfig(method="fedimpro", rounds=3, clients_per_round=clients if tiny else 5,
                    batch_size=batch, lr=0.1, augment=not tiny, measure_every=3,
                    measure_batch=batch, impro=ImproConfig())
    stamps: list[float] = []
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    res = run_federation(data, parts, cfg, lambda: resnet18_cifar(10, 3, (3, side, side)),
                         seed=0, device=device, on_round=lambda r, row: stamps.append(
                             time.perf_counter()))
    if res.dist is None or not bool(res.dist.known.any()):
        raise RuntimeError("the shared feature distribution was not built in round 1")
    row = res.history[-1]
    if "gd_high_impro" not in row:
        raise RuntimeError("round 2 did not measure FedImpro's gradient dissimilarity")
    round2 = stamps[1] - stamps[0]
    trained = sum(len(parts[m]) for m in range(clients)) * cfg.clients_per_round / clients
    out = {"device": device, "clients per round": cfg.clients_per_round, "batch": batch,
           "image side": side, "s per round (FedImpro, with eval)": round(round2, 3),
           "train images/s": round(trained / max(round2, 1e-9), 1),
           "h per 1000 rounds (projected)": round(1000 * round2 / 3600, 2),
           "s gd pass (3 objectives, all clients)": round(stamps[2] - stamps[1] - round2, 3),
           "gd_high_real": row["gd_high_real"], "gd_high_impro": row["gd_high_impro"]}
    if cuda:
        out["peak GPU memory (MB)"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


CHECKS = [fedimpro_resnet18_round]
