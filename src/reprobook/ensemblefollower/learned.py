"""Data-driven car-following models trained with Lightning: the MLP low-level model and the LSTM
baseline (FollowNet's "NN" and "LSTM"; their sizes are this book's design).

Both learn the observed acceleration ``a_t = (v_{t+1} - v_t) / dt`` open-loop (teacher forcing)
from the training events: the MLP from the current (s, v, dv), the LSTM from the last K samples of
(s, v, dv). Both are then *evaluated* in closed loop like every other model. The MLP is exported
to NumPy (:class:`.models.NumpyMLP`) so that the environment can call it at every step cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from reprobook.core.logs import quiet_lightning

from .constants import A_SCALE, HISTORY
from .models import NumpyMLP, features
from .schema import Event
from .simulate import Controller, windows


def samples(events: Sequence[Event], k: int = HISTORY) -> tuple[np.ndarray, np.ndarray]:
    """Windows (N, k, 3) of scaled (s, v, dv) ending at t, and the target a_t / A_SCALE (N,)."""
    xs, ys = [], []
    for e in events:
        f = features(e.s, e.v, e.v_lead)  # (n, 3)
        idx = np.arange(k - 1, len(e) - 1)
        xs.append(np.stack([f[i - k + 1:i + 1] for i in idx]))
        ys.append(e.a[idx] / A_SCALE)
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32)


class MLPNet(nn.Module):
    def __init__(self, hidden: int = 32, layers: int = 2) -> None:
        super().__init__()
        dims = [3] + [hidden] * layers
        mods: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            mods += [nn.Linear(a, b), nn.Tanh()]
        self.net = nn.Sequential(*mods, nn.Linear(dims[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, k, 3): uses the last sample
        return self.net(x[:, -1, :])[:, 0]


class LSTMNet(nn.Module):
    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1, :])[:, 0]


class Regressor(pl.LightningModule):
    def __init__(self, net: nn.Module, lr: float) -> None:
        super().__init__()
        self.net, self.lr = net, lr

    def training_step(self, batch: Any, _: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)


@dataclass
class Trained:
    """A trained network and its open-loop MSE of a / A_SCALE per epoch-end split."""

    kind: str
    net: nn.Module
    train_mse: float
    val_mse: float
    meta: dict[str, Any] = field(default_factory=dict)


def train(kind: str, train_events: Sequence[Event], val_events: Sequence[Event], seed: int,
          epochs: int = 10, hidden: int = 32, lr: float = 3e-3, batch_size: int = 256) -> Trained:
    """Train the MLP (``kind="MLP"``) or the LSTM (``"LSTM"``) with a Lightning Trainer."""
    if kind not in ("MLP", "LSTM"):
        raise ValueError(f"unknown learned model {kind!r}")
    torch.manual_seed(seed)
    net: nn.Module = MLPNet(hidden) if kind == "MLP" else LSTMNet(hidden)
    x, y = samples(train_events)
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                        batch_size=batch_size, shuffle=True, generator=gen)
    with quiet_lightning():
        trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0,
                             deterministic=True)
        trainer.fit(Regressor(net, lr), loader)
    net.eval()
    xv, yv = samples(val_events)
    with torch.no_grad():
        tr = float(nn.functional.mse_loss(net(torch.from_numpy(x)), torch.from_numpy(y)))
        va = float(nn.functional.mse_loss(net(torch.from_numpy(xv)), torch.from_numpy(yv)))
    return Trained(kind=kind, net=net, train_mse=tr, val_mse=va,
                   meta={"hidden": hidden, "epochs": epochs, "samples": len(y)})


def to_numpy_mlp(t: Trained) -> NumpyMLP:
    """Export a trained MLP's weights for :class:`.models.NumpyMLP`."""
    lin = [m for m in t.net.modules() if isinstance(m, nn.Linear)]
    return NumpyMLP(weights=tuple(m.weight.detach().numpy().astype(float) for m in lin),
                    biases=tuple(m.bias.detach().numpy().astype(float) for m in lin),
                    meta={"hidden": t.meta["hidden"], "open-loop MSE (val)": t.val_mse})


class NetController(Controller):
    """A torch sequence model acting alone in closed loop (the LSTM baseline)."""

    def __init__(self, net: nn.Module, name: str, k: int = HISTORY) -> None:
        self.net, self.name, self.k = net, name, k

    def command(self, t: int, s: np.ndarray, v: np.ndarray, v_lead: np.ndarray) -> np.ndarray:
        sw, vw, dvw = windows(t, s, v, v_lead, self.k)
        x = features(sw, vw, vw - dvw)  # (E, k, 3)
        with torch.no_grad():
            out = self.net(torch.from_numpy(x.astype(np.float32)))
        return out.numpy().astype(float) * A_SCALE
