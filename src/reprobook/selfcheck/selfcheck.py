"""Determinism self-check (ARCHITECTURE §6) and a small compute benchmark.

``train_digest(seed, steps)`` trains a small MLP with Lightning on seeded synthetic data and
returns the sha256 of the final parameters' bytes together with the loss curve. Two calls with the
same seed must give identical digests; a different seed must give a different one (otherwise the
check could not fail). ``matmul_agreement`` compares torch's float64 matmul with NumPy's.
``matmul_throughput`` times float32 matmuls (a benchmark: its numbers go to timings, not claims).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from reprobook.core.seeds import seed_everything
from reprobook.core.logs import quiet_lightning


@dataclass(frozen=True)
class TrainResult:
    digest: str
    losses: list[float]


def synthetic_regression(seed: int, n: int = 512, d: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """y = sin(X w / sqrt(d)) + 0.1 noise, from a generator seeded with ``seed`` (synthetic data)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, 1, generator=g)
    y = torch.sin(x @ w / d**0.5) + 0.1 * torch.randn(n, 1, generator=g)
    return x, y


def state_digest(module: nn.Module) -> str:
    """sha256 over the module's parameters and buffers, in state-dict order."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def train_digest(seed: int, steps: int, width: int = 64, device: str = "cpu",
                 batch_size: int = 64) -> TrainResult:
    """Train an MLP for ``steps`` Adam steps with Lightning; return the digest and losses."""
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    seed_everything(seed)
    x, y = synthetic_regression(seed)
    losses: list[float] = []

    class MLP(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(x.shape[1], width), nn.Tanh(),
                                     nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))

        def training_step(self, batch, batch_idx):  # noqa: ANN001
            xb, yb = batch
            loss = nn.functional.mse_loss(self.net(xb), yb)
            losses.append(float(loss.detach()))
            return loss

        def configure_optimizers(self):  # noqa: ANN201
            return torch.optim.Adam(self.parameters(), lr=3e-3)

    model = MLP()
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    accelerator = "gpu" if device.startswith("cuda") else "cpu"
    with quiet_lightning():
        trainer = pl.Trainer(max_steps=steps, accelerator=accelerator, devices=1, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, deterministic=True)
        trainer.fit(model, loader)
    return TrainResult(digest=state_digest(model.cpu()), losses=losses)


def matmul_agreement(seed: int, n: int = 256) -> float:
    """Max |torch - numpy| of a float64 matmul of two seeded n x n matrices."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    ours = (torch.from_numpy(a) @ torch.from_numpy(b)).numpy()
    return float(np.max(np.abs(ours - a @ b)))


def matmul_throughput(sizes: list[int], device: str = "cpu", repeats: int = 3) -> list[dict]:
    """Best-of-``repeats`` GFLOP/s of float32 n x n matmuls (2 n^3 flops each)."""
    out = []
    dev = torch.device(device)
    for n in sizes:
        a = torch.randn(n, n, device=dev)
        b = torch.randn(n, n, device=dev)
        a @ b  # warm-up
        best = float("inf")
        for _ in range(repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            a @ b
            if dev.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        out.append({"n": n, "seconds": best, "gflops": 2 * n**3 / best / 1e9})
    return out
