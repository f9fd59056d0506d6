"""A small GPT (byte-level) and the real text it is trained on.

Text: the Python Language Reference help topics shipped with CPython (``pydoc_data.topics``,
~0.46 M characters of English technical prose, PSF licence), encoded as UTF-8 bytes (vocabulary
256), 90 % for training. Batches are a pure function of (seed, step, rank): the data cursor is the
step, so restoring the step restores the position in the data exactly.

Model: GPT-2-style decoder (pre-LayerNorm blocks of causal self-attention and a GELU MLP, learned
positions, dropout), sized by :class:`GPTConfig`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from reprobook.core.seeds import derive_seed

from .config import GPTConfig




class Block(nn.Module):
    """A pre-norm transformer block: causal self-attention and an MLP, each with a residual."""
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.mlp = nn.Sequential(nn.Linear(c.d_model, 4 * c.d_model), nn.GELU(), nn.Linear(4 * c.d_model, c.d_model))
        self.drop = nn.Dropout(c.dropout)
        self.n_head, self.p = c.n_head, c.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block on a batch of sequences."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.p if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.mlp(self.ln2(x)))


class GPT(nn.Module):
    """A small decoder-only byte-level language model (the chapter's training job)."""
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.config = c
        self.tok = nn.Embedding(c.vocab, c.d_model)
        self.pos = nn.Embedding(c.seq_len, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.ln = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab, bias=False)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * c.n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, std=std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits, or the mean cross-entropy against ``targets`` when given."""
        t = idx.shape[1]
        x = self.drop(self.tok(idx) + self.pos(torch.arange(t, device=idx.device)))
        for blk in self.blocks:
            x = blk(x)
        logits = self.head(self.ln(x))
        if targets is None:
            return logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def n_params(model: nn.Module) -> int:
    """Trainable parameters of a model."""
    return sum(p.numel() for p in model.parameters())


@lru_cache(maxsize=1)
def corpus() -> np.ndarray:
    """The training text as uint8 bytes (topics in sorted order, joined by blank lines)."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def split(name: str) -> np.ndarray:
    """The text split into training bytes (the corpus every rank reads from)."""
    data = corpus()
    cut = int(0.9 * len(data))
    if name == "train":
        return data[:cut]
    if name == "val":
        return data[cut:]
    raise ValueError(f"unknown split {name!r}; expected 'train' or 'val'")


def batch(step: int, rank: int, batch_size: int, seq_len: int, seed: int,
          data: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank ``rank``'s batch at ``step``: ``batch_size`` random windows (inputs, next-byte targets)."""
    data = split("train") if data is None else data
    rng = np.random.default_rng(derive_seed(seed, "batch", step, rank))
    starts = rng.integers(0, len(data) - seq_len - 1, size=batch_size)
    win = np.stack([data[s:s + seq_len + 1] for s in starts]).astype(np.int64)
    t = torch.from_numpy(win)
    return t[:, :-1].contiguous(), t[:, 1:].contiguous()
