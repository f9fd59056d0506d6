"""A small Llama (RMSNorm, rotary positions, grouped-query attention, SwiGLU), the model this
chapter turns into a DAG and an IR (paper: "abstracting ML procedures into DAGs" and
"intermediate representation"; the architecture is Llama 2's, Touvron et al. 2023).

Parameter names are those of Hugging Face ``transformers``' ``LlamaForCausalLM`` so that weights
move between the two by ``load_state_dict`` (the tests check the outputs agree).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .constants import LLAMA2


@dataclass(frozen=True)
class LlamaConfig:
    """Architecture of a Llama; ``head_dim = hidden / n_heads``."""

    vocab_size: int = 256
    hidden: int = 64
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int = 2
    ffn: int = 160
    rope_theta: float = 10000.0
    eps: float = 1e-5

    def __post_init__(self) -> None:
        for k in ("vocab_size", "hidden", "n_layers", "n_heads", "n_kv_heads", "ffn"):
            if int(getattr(self, k)) <= 0:
                raise ValueError(f"LlamaConfig.{k} must be positive, got {getattr(self, k)!r}")
        if self.hidden % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ValueError(f"hidden ({self.hidden}) must divide into n_heads ({self.n_heads}) "
                             f"and n_heads into n_kv_heads ({self.n_kv_heads})")

    @property
    def head_dim(self) -> int:
        return self.hidden // self.n_heads

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def named_config(name: str) -> LlamaConfig:
    """A Llama 2 architecture by name (``constants.LLAMA2``) or ``"tiny"``."""
    if name == "tiny":
        return LlamaConfig()
    if name not in LLAMA2:
        raise KeyError(f"unknown model {name!r}; known: tiny, {', '.join(LLAMA2)}")
    return LlamaConfig(**LLAMA2[name])


def rope_cos_sin(seq_len: int, head_dim: int, theta: float,
                 dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary tables (s, head_dim), Hugging Face's "rotate half" layout."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    pos = torch.arange(seq_len, dtype=torch.float32)
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class RMSNorm(nn.Module):
    """y = w * x / sqrt(mean(x^2) + eps)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        kv = cfg.n_kv_heads * cfg.head_dim
        self.cfg = cfg
        self.q_proj = nn.Linear(cfg.hidden, cfg.hidden, bias=False)
        self.k_proj = nn.Linear(cfg.hidden, kv, bias=False)
        self.v_proj = nn.Linear(cfg.hidden, kv, bias=False)
        self.o_proj = nn.Linear(cfg.hidden, cfg.hidden, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        c, (b, s, _) = self.cfg, x.shape
        q = self.q_proj(x).view(b, s, c.n_heads, c.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, s, c.n_kv_heads, c.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, s, c.n_kv_heads, c.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = c.n_heads // c.n_kv_heads
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(o.transpose(1, 2).reshape(b, s, c.hidden))


class MLP(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden, cfg.ffn, bias=False)
        self.up_proj = nn.Linear(cfg.hidden, cfg.ffn, bias=False)
        self.down_proj = nn.Linear(cfg.ffn, cfg.hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden, cfg.eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden, cfg.eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        h = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return h + self.mlp(self.post_attention_layernorm(h))


class Body(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.hidden, cfg.eps)


class Llama(nn.Module):
    """Causal language model: tokens (b, s) -> logits (b, s, vocab)."""

    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.model = Body(cfg)
        self.lm_head = nn.Linear(cfg.hidden, cfg.vocab_size, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        cos, sin = rope_cos_sin(tokens.shape[1], self.cfg.head_dim, self.cfg.rope_theta,
                                self.lm_head.weight.dtype)
        x = self.model.embed_tokens(tokens)
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.model.norm(x))


def build(cfg: LlamaConfig, seed: int, dtype: torch.dtype = torch.float32) -> Llama:
    """A Llama with seeded N(0, 0.02) weights (norms at one), as Llama's initialiser."""
    g = torch.Generator().manual_seed(seed)
    m = Llama(cfg)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return m.to(dtype)


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def n_params(cfg: LlamaConfig) -> int:
    """Closed-form parameter count (the DAG's total must equal it, and torch's)."""
    h, kv = cfg.hidden, cfg.n_kv_heads * cfg.head_dim
    block = 2 * h + 2 * h * h + 2 * h * kv + 3 * h * cfg.ffn
    return 2 * cfg.vocab_size * h + cfg.n_layers * block + h


def synthetic_tokens(cfg: LlamaConfig, n_seq: int, seq_len: int, seed: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """*Synthetic* data with learnable structure: each sequence counts up from a random start
    with a random stride (mod vocab), so the next token is predictable from the previous two.
    Returns (inputs, targets), targets shifted by one."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, cfg.vocab_size, (n_seq, 1), generator=g)
    stride = torch.randint(1, 8, (n_seq, 1), generator=g)
    seq = (start + stride * torch.arange(seq_len + 1)) % cfg.vocab_size
    return seq[:, :-1].contiguous(), seq[:, 1:].contiguous()


__all__ = ["LlamaConfig", "Llama", "build", "named_config", "lm_loss", "n_params",
           "rope_cos_sin", "rotate_half", "synthetic_tokens"]
