"""Llama model sizes: a transformers ``LlamaConfig`` and the dimensions the formulas use.

Notation (used by :mod:`.memory` and :mod:`.flops`): ``h`` hidden size, ``i`` MLP intermediate
size, ``L`` layers, ``a`` attention heads, ``g`` key/value heads (grouped-query attention, GQA;
``g = a`` is multi-head attention), ``d`` head dimension (``h / a`` unless set), ``V`` vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .constants import LLAMA2, LlamaSize


class ConfigError(ValueError):
    """A model configuration that no Llama can have (the message names the value)."""


@dataclass(frozen=True)
class Dims:
    """The sizes of a Llama decoder that the memory and FLOPs formulas need."""

    h: int
    i: int
    L: int
    a: int
    g: int
    d: int
    V: int
    tie: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    name: str = "llama"

    def __post_init__(self) -> None:
        validate(self.h, self.i, self.L, self.a, self.g, self.V, self.d, where=self.name)


def validate(h: int, i: int, L: int, a: int, g: int, V: int, d: int | None = None,
             where: str = "config") -> None:
    """Raise :class:`ConfigError` for sizes no Llama can have."""
    for key, v in (("hidden_size", h), ("intermediate_size", i), ("num_hidden_layers", L),
                   ("num_attention_heads", a), ("num_key_value_heads", g), ("vocab_size", V)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ConfigError(f"{where}: {key} must be a positive integer, got {v!r}")
    if d is None and h % a:
        raise ConfigError(f"{where}: hidden_size {h} is not divisible by num_attention_heads {a} "
                          f"(head_dim would be {h / a:g})")
    if d is not None and (not isinstance(d, int) or d <= 0):
        raise ConfigError(f"{where}: head_dim must be a positive integer, got {d!r}")
    if a % g:
        raise ConfigError(f"{where}: num_attention_heads {a} is not a multiple of "
                          f"num_key_value_heads {g} (grouped-query attention needs a = k * g)")
    if (d or h // a) % 2:
        raise ConfigError(f"{where}: head_dim {d or h // a} is odd; rotary embeddings need it even")


def dims_of(cfg: Any) -> Dims:
    """:class:`Dims` of a transformers ``LlamaConfig`` (validated)."""
    a = cfg.num_attention_heads
    g = getattr(cfg, "num_key_value_heads", None) or a
    d = getattr(cfg, "head_dim", None)
    if d is None:
        validate(cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, a, g,
                 cfg.vocab_size, where=getattr(cfg, "name_or_path", "") or "LlamaConfig")
        d = cfg.hidden_size // a
    return Dims(h=cfg.hidden_size, i=cfg.intermediate_size, L=cfg.num_hidden_layers, a=a, g=g,
                d=d, V=cfg.vocab_size, tie=bool(getattr(cfg, "tie_word_embeddings", False)),
                attention_bias=bool(getattr(cfg, "attention_bias", False)),
                mlp_bias=bool(getattr(cfg, "mlp_bias", False)),
                name=getattr(cfg, "name_or_path", "") or "llama")


def llama_config(hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int | None = None,
                 vocab: int = 32_000, max_positions: int = 4096, attn: str = "sdpa",
                 name: str = "llama") -> Any:
    """A transformers ``LlamaConfig`` (random-weight models are built from it; no download).

    Inconsistent sizes raise :class:`ConfigError` before transformers sees them.
    """
    from transformers import LlamaConfig

    g = heads if kv_heads is None else kv_heads
    validate(hidden, intermediate, layers, heads, g, vocab, where=name)
    cfg = LlamaConfig(hidden_size=hidden, intermediate_size=intermediate,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=g,
                      vocab_size=vocab, max_position_embeddings=max_positions,
                      tie_word_embeddings=False, use_cache=False)
    cfg._attn_implementation = attn
    cfg.name_or_path = name
    return cfg


def llama2_config(size: str | LlamaSize, attn: str = "sdpa") -> Any:
    """The config of Llama-2 7B / 13B / 70B (``"7b"``, ``"13b"``, ``"70b"``)."""
    s = LLAMA2[size.lower()] if isinstance(size, str) else size
    return llama_config(s.hidden, s.intermediate, s.layers, s.heads, s.kv_heads, s.vocab,
                        attn=attn, name=s.name)


def small_config(hidden: int = 256, layers: int = 2, heads: int = 8, kv_heads: int | None = None,
                 vocab: int = 4096, intermediate: int | None = None, attn: str = "sdpa") -> Any:
    """A CPU-sized Llama: Llama-2's proportions (intermediate = 8/3 h rounded up to 8)."""
    i = intermediate or -(-(8 * hidden // 3) // 8) * 8
    return llama_config(hidden, i, layers, heads, kv_heads, vocab, max_positions=4096,
                        attn=attn, name=f"llama-h{hidden}-L{layers}")
