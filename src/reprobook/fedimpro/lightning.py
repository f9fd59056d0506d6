"""A client's local training as a LightningModule (the same objective as ``run_client``).

:class:`LocalObjective` computes the method's per-batch loss (FedAvg / FedProx / FedImpro; SCAFFOLD's
correction in ``on_after_backward``) and updates FedImpro's estimator; :func:`lightning_client_update`
trains it with a Lightning ``Trainer`` for E epochs over the client's data in the order
``run_client`` uses, so both give the same local model (tested). The fast in-process loop is what
the notebooks run; this module is the entry point for users who train clients with Lightning.
"""

from __future__ import annotations

from typing import Iterator

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Sampler, TensorDataset

from reprobook.core.logs import quiet_lightning

from .features import FeatureDistribution, FeatureEstimator
from .federation import Broadcast, FedConfig, State, client_generator
from .methods import fedimpro_loss, prox_term
from .model import SplitModel


class PermutationBatches(Sampler[list[int]]):
    """Batches of a fresh ``randperm`` per epoch from a shared generator (as ``run_client``)."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator):
        self.n, self.batch_size, self.generator = n, batch_size, generator

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.n, generator=self.generator)
        for i in range(0, self.n, self.batch_size):
            yield order[i:i + self.batch_size].tolist()

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)


class LocalObjective(pl.LightningModule):
    def __init__(self, model: SplitModel, bc: Broadcast, cfg: FedConfig, generator: torch.Generator,
                 n_classes: int, control: State | None = None):
        super().__init__()
        self.model = model
        self.bc, self.cfg, self.generator, self.control = bc, cfg, generator, control
        self.anchor = ({k: v.detach().clone() for k, v in model.named_parameters()}
                       if cfg.method == "fedprox" else None)
        self.use_dist = (cfg.method == "fedimpro" and bc.dist is not None
                         and bool(bc.dist.known.any()) and bc.round > cfg.impro.warmup_rounds)
        self.estimator = None
        if cfg.method == "fedimpro":
            init = (bc.dist if bc.dist is not None
                    else FeatureDistribution.unknown(n_classes, model.feature_dim))
            self.estimator = FeatureEstimator(init, cfg.impro.est_momentum, cfg.impro.code_compat)
        self.steps = 0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        if self.cfg.method == "fedimpro":
            loss, h = fedimpro_loss(self.model, x, y, self.bc.dist if self.use_dist else None,
                                    self.cfg.impro, self.bc.round, self.generator)
            self.estimator.update(h, y)  # type: ignore[union-attr]
        else:
            loss = F.cross_entropy(self.model(x), y)
            if self.anchor is not None:
                loss = loss + prox_term(self.model, self.anchor, self.cfg.prox_mu)
        self.steps += 1
        return loss

    def on_after_backward(self) -> None:
        if self.cfg.method == "scaffold":
            assert self.bc.control is not None and self.control is not None
            for k, p in self.model.named_parameters():
                p.grad.add_(self.bc.control[k] - self.control[k])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.model.parameters(), lr=self.cfg.lr, momentum=self.cfg.momentum,
                               weight_decay=self.cfg.weight_decay)


def lightning_client_update(model: SplitModel, bc: Broadcast, x: torch.Tensor, y: torch.Tensor,
                            cfg: FedConfig, *, seed: int, client: int, n_classes: int,
                            control: State | None = None) -> tuple[State, FeatureDistribution | None]:
    """Train one client with a Lightning Trainer; returns (local state, FedImpro's upload)."""
    model.load_state_dict(bc.model)
    model.train()
    gen = client_generator(seed, bc.round, client)
    module = LocalObjective(model, bc, cfg, gen, n_classes, control)
    loader = DataLoader(TensorDataset(x, y), batch_sampler=PermutationBatches(len(y), cfg.batch_size, gen))
    with quiet_lightning():
        trainer = pl.Trainer(max_epochs=cfg.epochs, accelerator="cpu", devices=1, logger=False,
                             enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(module, loader)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return state, (module.estimator.distribution() if module.estimator is not None else None)
