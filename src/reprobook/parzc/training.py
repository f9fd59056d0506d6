"""Training ParZC's predictor with Lightning (ParZC Sec. 3.3-3.4; official ``runner_parzc_hpo.py``).

Targets are the training architectures' accuracies z-scored with the training set's mean and
standard deviation. The loss is

    L = -tau_hat(p, y)                       (``loss="diffkendall"``, Eq. 7)
      | MSE(p, y)                            (``loss="mse"``, the baseline)
      | -tau_hat(p, y) + MSE(p, y)           (``loss="diffkendall+mse"``)
      + beta * KL(q(W) || p(W)) / N_train    (Bayes-by-Backprop, only if beta > 0)

with Adam (lr 1e-4, weight decay 1e-3), a cosine schedule over the epochs and batches of 10
(official settings; smaller profiles may raise the learning rate, stated in the notebook).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import lightning.pytorch as L
import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from reprobook.core.logs import quiet_lightning

from . import constants as K
from .diffkendall import diff_kendall
from .mabn import MABN, MABNConfig, mc_predict

LOSSES = ("diffkendall", "mse", "diffkendall+mse")


@dataclass(frozen=True)
class TrainConfig:
    loss: str = "diffkendall"
    a: float = K.DIFFKENDALL_A_PAPER
    form: str = "paper"  # DiffKendall: "paper" (tanh) or "code" (sigmoid, both orderings)
    lr: float = K.LR
    weight_decay: float = K.WEIGHT_DECAY
    batch_size: int = K.BATCH_SIZE
    epochs: int = K.EPOCHS[0]
    beta: float = 0.0  # weight of the KL term (0: the official code, no prior)
    prior_sigma: float = 1.0
    mc_samples: int = 20

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; known: {LOSSES}")


class ParZCModule(L.LightningModule):
    """The MABN predictor and its ranking loss as a LightningModule."""

    def __init__(self, model_cfg: MABNConfig, cfg: TrainConfig, n_train: int) -> None:
        super().__init__()
        self.model = MABN(model_cfg)
        self.cfg = cfg
        self.n_train = n_train
        self.losses: list[float] = []
        self._epoch: list[float] = []

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)

    def objective(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c = self.cfg
        loss = torch.zeros((), dtype=p.dtype, device=p.device)
        if "diffkendall" in c.loss:
            loss = loss - diff_kendall(p, y, a=c.a, form=c.form)
        if "mse" in c.loss:
            loss = loss + F.mse_loss(p, y)
        if c.beta > 0:
            loss = loss + c.beta * self.model.kl(c.prior_sigma) / self.n_train
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _i: int) -> torch.Tensor:
        z, y = batch
        loss = self.objective(self.model(z), y)
        self._epoch.append(float(loss.detach()))
        return loss

    def on_train_epoch_end(self) -> None:
        if self._epoch:
            self.losses.append(float(np.mean(self._epoch)))
        self._epoch = []

    def configure_optimizers(self):  # type: ignore[override]
        opt = torch.optim.Adam(self.parameters(), lr=self.cfg.lr,
                               weight_decay=self.cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.cfg.epochs))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


@dataclass
class Fitted:
    """A trained predictor with the target scaling of its training set."""

    module: ParZCModule
    y_mean: float
    y_std: float

    def predict(self, z: np.ndarray, samples: int | None = None, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
        """Monte-Carlo mean and std of the (z-scored) predicted accuracy of each row of ``z``."""
        n = self.module.cfg.mc_samples if samples is None else samples
        dev = next(self.module.parameters()).device
        mean, std = mc_predict(self.module.model, torch.as_tensor(z, dtype=torch.float32,
                                                                  device=dev), n, seed)
        return mean.cpu().numpy().astype(np.float64), std.cpu().numpy().astype(np.float64)


def fit(z: np.ndarray, acc: np.ndarray, model_cfg: MABNConfig, cfg: TrainConfig, seed: int,
        device: str = "cpu") -> Fitted:
    """Train a predictor on features ``z`` [N, D] and accuracies ``acc`` [N] (seeded)."""
    if len(z) != len(acc) or len(z) < 2:
        raise ValueError(f"fit needs >= 2 rows and one accuracy per row, got {len(z)} rows and "
                         f"{len(acc)} accuracies")
    L.seed_everything(seed, workers=False, verbose=False)
    mu, sd = float(np.mean(acc)), float(np.std(acc)) or 1.0
    y = torch.as_tensor((np.asarray(acc) - mu) / sd, dtype=torch.float32)
    x = torch.as_tensor(np.asarray(z), dtype=torch.float32)
    bs = min(cfg.batch_size, len(y))
    drop_last = len(y) % bs == 1  # a batch of one has no pair to rank
    loader = DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True, drop_last=drop_last,
                        generator=torch.Generator().manual_seed(seed))
    module = ParZCModule(replace(model_cfg, in_dim=x.shape[1]), cfg, len(y))
    accel = "gpu" if device.startswith("cuda") else "cpu"
    with quiet_lightning():
        trainer = L.Trainer(max_epochs=cfg.epochs, accelerator=accel, devices=1, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, deterministic=True)
        trainer.fit(module, loader)
    return Fitted(module, mu, sd)
