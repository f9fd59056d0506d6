"""Fine-tuning with Lightning and evaluation (the paper's fine-tuning experiments, at laptop scale).

:class:`Finetuner` wraps a Hugging Face classifier prepared by :func:`.methods.prepare`;
:class:`TweetData` tokenises with dynamic padding. :func:`run` fine-tunes one (method, seed) and
returns accuracy, F1, the per-example correctness on the test set, step time, trainable
parameters and memory: the activations saved for backward (measured with
:class:`.memory.SavedTensorMeter` on a fixed batch, in float32 — under bf16 autocast the meter
would also count the bf16 copies of the weights that autocast keeps) and the training state —
the weights and the optimizer's moments measured from their tensors after training, plus one gradient per trainable
weight (a gradient has its weight's size and dtype).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from reprobook.core.seeds import seed_everything
from reprobook.core.logs import quiet_lightning

from .data import load_model
from .memory import measure_activation_bytes, tensor_bytes, trainable_parameters
from .lowrank import initial_a
from .methods import AdapterSpec, prepare


class TweetData(pl.LightningDataModule):
    def __init__(self, tokenizer: Any, train: pd.DataFrame, batch_size: int, max_len: int,
                 seed: int) -> None:
        super().__init__()
        self.tok, self.train, self.batch_size, self.max_len, self.seed = (
            tokenizer, train, batch_size, max_len, seed)

    def collate(self, rows: list[tuple]) -> dict[str, torch.Tensor]:
        """Rows are (text, label) or (text, text_pair, label); dynamic padding."""
        texts = [r[0] for r in rows]
        pairs = [r[1] for r in rows] if len(rows[0]) == 3 else None
        enc = self.tok(texts, pairs, padding=True, truncation=True, max_length=self.max_len,
                       return_tensors="pt")
        enc["labels"] = torch.tensor([r[-1] for r in rows])
        return dict(enc)

    @staticmethod
    def rows(df: pd.DataFrame) -> list[tuple]:
        cols = ["text", "text_pair", "label"] if "text_pair" in df else ["text", "label"]
        return list(zip(*(df[c] for c in cols)))

    def train_dataloader(self) -> DataLoader:
        rows = self.rows(self.train)
        return DataLoader(rows, batch_size=self.batch_size, shuffle=True, collate_fn=self.collate,
                          generator=torch.Generator().manual_seed(self.seed))


class Finetuner(pl.LightningModule):
    def __init__(self, model: torch.nn.Module,
                 optimizer_fn: Callable[[torch.nn.Module], torch.optim.Optimizer]) -> None:
        super().__init__()
        self.model = model
        self.optimizer_fn = optimizer_fn
        self.losses: list[float] = []

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.model(**batch).loss
        self.losses.append(float(loss.detach()))
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_fn(self.model)


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: TweetData, test: pd.DataFrame,
             batch_size: int = 64, precision: str = "32-true") -> dict[str, Any]:
    """Accuracy, F1 (positive class) and the per-example correctness (0/1, in ``test``'s order)
    on ``test``. Examples are batched by length (less padding). ``precision`` is Lightning's:
    with ``"bf16-mixed"`` the forward passes run under bf16 autocast, as in training."""
    model.eval()
    rows = data.rows(test)
    order = sorted(range(len(rows)), key=lambda i: len(str(rows[i][0])))
    device = next(model.parameters()).device
    pred = np.empty(len(rows), dtype=np.int64)
    bf16 = precision.startswith("bf16")
    for i in range(0, len(rows), batch_size):
        idx = order[i:i + batch_size]
        batch = data.collate([rows[j] for j in idx])
        batch.pop("labels")
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
        pred[idx] = logits.float().argmax(-1).cpu().numpy()
    y = test["label"].to_numpy()
    tp = int(((pred == 1) & (y == 1)).sum())
    fp, fn = int(((pred == 1) & (y == 0)).sum()), int(((pred == 0) & (y == 1)).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    correct = (pred == y).astype(np.int8)
    return {"accuracy": float(correct.mean()), "f1": f1, "correct": correct}


@dataclass(frozen=True)
class RunConfig:
    steps: int = 24
    batch_size: int = 16
    max_len: int = 40
    lr_full: float = 1e-4  # full fine-tuning
    lr_adapter: float = 5e-3  # LoRA, LoRA-FA and the head-only control alike
    model_name: str = "minilm"  # or a hub name, e.g. "roberta-base" (gpu-1x)
    accelerator: str = "cpu"  # Lightning accelerator: "cpu" or "gpu"
    precision: str = "32-true"  # Lightning precision: "bf16-mixed" is bf16 autocast


def run(method: str, seed: int, spec: AdapterSpec, cfg: RunConfig, train: pd.DataFrame,
        test: pd.DataFrame, capture_a0: bool = False) -> dict[str, Any]:
    """Fine-tune ``method`` with ``seed``; metrics as described in the module docstring.

    With ``capture_a0`` the result also holds ``a0``, every adapted layer's A before training.
    """
    seed_everything(seed)
    tok, model = load_model(seed=seed, name=cfg.model_name)
    lr = cfg.lr_full if method == "full" else cfg.lr_adapter
    model, optimizer_fn = prepare(model, method, spec, lr)
    a0 = initial_a(model) if capture_a0 else None
    data = TweetData(tok, train, cfg.batch_size, cfg.max_len, seed)
    probe = data.collate(data.rows(train.iloc[: cfg.batch_size]))
    model.train()
    activations = measure_activation_bytes(model, probe)  # float32, outside autocast
    module = Finetuner(model, optimizer_fn)
    with quiet_lightning():
        trainer = pl.Trainer(max_steps=cfg.steps, accelerator=cfg.accelerator, devices=1,
                             logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, deterministic=True,
                             precision=cfg.precision)
        t0 = time.perf_counter()
        trainer.fit(module, data)
        wall = time.perf_counter() - t0
    n_train = trainable_parameters(model)
    weights = tensor_bytes(model.parameters())
    grads = tensor_bytes(p for p in model.parameters() if p.requires_grad)
    moments = tensor_bytes(v for opt in trainer.optimizers for st in opt.state.values()
                           for v in st.values() if isinstance(v, torch.Tensor))
    state = weights + grads + moments
    return {"method": method, "seed": seed, "r": spec.r,
            **evaluate(model, data, test, precision=cfg.precision),
            "final_loss": float(np.mean(module.losses[-5:])), "step_s": wall / cfg.steps,
            "trainable": n_train, "activation_bytes": activations, "state_bytes": state,
            "model": model, **({"a0": a0} if capture_a0 else {})}
