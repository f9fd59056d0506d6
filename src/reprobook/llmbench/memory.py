"""The analytical memory model of LLM training and inference (pure functions, bytes).

The paper (Sec. 3-4) measures peak memory of Llama-2 7B/13B/70B under ZeRO-2/3, offload,
recomputation, FlashAttention and (Q)LoRA; this module predicts it, split into the parts that
users of the existing estimators cannot see separately:

* **parameters** (:func:`param_count`): exact, for a transformers ``LlamaConfig`` incl. GQA;
* **model states** (:func:`model_states`): parameters, gradients and optimizer state per GPU under
  ZeRO stage 0-3 (Rajbhandari et al. 2020, Sec. 5.1: ``(2+2+K)P``, ``4P + KP/N``,
  ``2P + (2+K)P/N``, ``(2+2+K)P/N`` with ``K = 12`` for mixed-precision Adam), optimizer offload
  (Ren et al. 2021, ZeRO-Offload) — and DeepSpeed's own estimator accounting as a switch
  (:func:`deepspeed_model_states`);
* **activations** (:func:`activation_terms`): every tensor the Hugging Face Llama implementation
  saves for backward, per layer, for eager attention, SDPA / FlashAttention and full
  recomputation, in the dtypes the code really uses (RMSNorm upcasts to fp32, eager softmax
  is computed in fp32), plus the logits and the loss;
* **KV cache** per token (:func:`kv_cache_bytes_per_token`);
* **overhead** outside the tensors: CUDA context and the caching allocator (:func:`overhead`).

``T = b s`` is the number of tokens in a micro-batch, ``e`` the bytes of the model's dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Dims
from .constants import ALLOCATOR_FRACTION, CUDA_CONTEXT_BYTES, NF4_BITS_PER_PARAM, ZERO_K

ATTENTIONS = ("eager", "sdpa", "flash")
STAGES = (0, 1, 2, 3)

# ---------------------------------------------------------------------------------- parameters


def param_parts(m: Dims) -> dict[str, int]:
    """Parameters per part of ``LlamaForCausalLM`` (q/k/v/o, gate/up/down, norms, embeddings)."""
    qo = 2 * m.h * m.a * m.d + (m.a * m.d + m.h if m.attention_bias else 0)
    kv = 2 * m.h * m.g * m.d + (2 * m.g * m.d if m.attention_bias else 0)
    mlp = 3 * m.h * m.i + (2 * m.i + m.h if m.mlp_bias else 0)
    return {"embedding": m.V * m.h, "attention": m.L * (qo + kv), "mlp": m.L * mlp,
            "norms": m.L * 2 * m.h + m.h, "lm_head": 0 if m.tie else m.V * m.h}


def param_count(m: Dims) -> int:
    """Exact number of parameters (Llama-2-7B: 6,738,415,616)."""
    return sum(param_parts(m).values())


def layer_params(m: Dims) -> int:
    """Parameters of one decoder layer."""
    p = param_parts(m)
    return (p["attention"] + p["mlp"]) // m.L + 2 * m.h


def largest_module_params(m: Dims) -> int:
    """The largest single module's own parameters (DeepSpeed's ``largest_layer_params``)."""
    return max(m.V * m.h, m.h * m.i + (m.i if m.mlp_bias else 0), m.h * m.a * m.d)


def matmul_params(m: Dims) -> int:
    """Parameters used in matrix products (all but the embedding lookup and the norm weights)."""
    p = param_parts(m)
    return p["attention"] + p["mlp"] + m.V * m.h  # the lm_head product, tied or not


# -------------------------------------------------------------------------------- model states


@dataclass(frozen=True)
class Recipe:
    """Bytes per parameter of the weights, the gradients and the optimizer state."""

    name: str
    param: float
    grad: float
    optim: float


#: Mixed-precision Adam (ZeRO's K = 12: fp32 master weights, momentum, variance): 16 bytes/param.
MIXED = Recipe("mixed-precision Adam (fp16/bf16 + fp32 master)", 2, 2, ZERO_K)
FP32 = Recipe("fp32 Adam", 4, 4, 8)
BF16 = Recipe("pure bf16 AdamW (no master copy)", 2, 2, 4)
RECIPES = {"mixed": MIXED, "fp32": FP32, "bf16": BF16}


def model_states(P: float, stage: int = 0, N: int = 1, recipe: Recipe = MIXED,
                 offload: bool = False, trainable: float | None = None,
                 frozen_bytes: float | None = None) -> dict[str, float]:
    """Per-GPU bytes of parameters, gradients and optimizer state (ZeRO paper, Sec. 5.1).

    ``stage`` 0 (plain data parallelism) to 3 over ``N`` data-parallel GPUs. ``offload`` moves the
    optimizer state and its fp32 gradients to the CPU (ZeRO-Offload); with ZeRO-3 it also moves
    the parameters (DeepSpeed's ``offload_param``), leaving none resident. ``trainable`` (LoRA)
    restricts gradients and optimizer state to the adapter; the frozen weights then cost
    ``frozen_bytes`` per parameter (the recipe's weight bytes, 0.516 for NF4).
    """
    if stage not in STAGES:
        raise ValueError(f"ZeRO stage must be one of {STAGES}, got {stage!r}")
    if N < 1:
        raise ValueError(f"the number of GPUs N must be >= 1, got {N!r}")
    Pt = P if trainable is None else trainable
    wb = recipe.param if frozen_bytes is None else frozen_bytes
    weights = (P - Pt) * wb + Pt * recipe.param
    grads, optim = Pt * recipe.grad, Pt * recipe.optim
    shard = {"weights": stage >= 3, "grads": stage >= 2, "optim": stage >= 1}
    out = {"params": weights / N if shard["weights"] else weights,
           "grads": grads / N if shard["grads"] else grads,
           "optimizer": optim / N if shard["optim"] else optim, "cpu": 0.0}
    if offload:  # ZeRO-Offload: optimizer step on the CPU, gradients streamed there (fp32)
        out["cpu"] = out["optimizer"] + Pt * 4 / (N if stage >= 2 else 1)
        out["optimizer"], out["grads"] = 0.0, 0.0
        if stage >= 3:
            out["cpu"] += out["params"]
            out["params"] = 0.0
    out["total"] = out["params"] + out["grads"] + out["optimizer"]
    return out


def deepspeed_model_states(P: int, stage: int, N: int, offload: bool = False,
                           largest_layer: int = 0) -> float:
    """DeepSpeed's own per-GPU estimate (``estimate_zero{2,3}_model_states_mem_needs``).

    Its accounting differs from the ZeRO paper's: 2 bytes of fp16 weights stay whole and 18
    bytes (16-bit and fp32 gradients, fp32 weights, momentum, variance) are partitioned; ZeRO-3
    keeps ``4 x`` the largest module; with offload only the fp16 weights (ZeRO-2) or the largest
    module (ZeRO-3) stay on the GPU. It has no stage 0 or 1.
    """
    if stage == 2:
        return float(2 * P if offload else 2 * P + int(18 * P / N))
    if stage == 3:
        return float(4 * largest_layer if offload else 4 * largest_layer + int(18 * P / N))
    raise ValueError(f"DeepSpeed's estimators exist for ZeRO-2 and ZeRO-3, not stage {stage!r}")


def lora_params(m: Dims, r: int, targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj",
                "o_proj", "gate_proj", "up_proj", "down_proj")) -> int:
    """Trainable LoRA parameters ``r (d_in + d_out)`` summed over the adapted projections."""
    io = {"q_proj": (m.h, m.a * m.d), "k_proj": (m.h, m.g * m.d), "v_proj": (m.h, m.g * m.d),
          "o_proj": (m.a * m.d, m.h), "gate_proj": (m.h, m.i), "up_proj": (m.h, m.i),
          "down_proj": (m.i, m.h)}
    bad = set(targets) - set(io)
    if bad:
        raise ValueError(f"unknown LoRA target(s) {sorted(bad)}; known: {sorted(io)}")
    return m.L * sum(r * (io[t][0] + io[t][1]) for t in targets)


def nf4_bytes_per_param() -> float:
    """Bytes per frozen weight in QLoRA's NF4 with double quantisation (Dettmers et al. 2023)."""
    return NF4_BITS_PER_PARAM / 8


# --------------------------------------------------------------------------------- activations


def activation_terms(m: Dims, b: int, s: int, attn: str = "sdpa", e: int = 2) -> dict[str, int]:
    """Bytes one decoder layer of the HF Llama saves for backward, term by term.

    Per RMSNorm: its input upcast to fp32 (``4Th``; in fp32 the input itself), the normalised
    tensor and the weighted output (``2 e Th``) and ``rsqrt`` (``4T``). Attention: the rotated
    q and k, v (``e T (a + 2g) d``; eager repeats k and v to ``a`` heads), the attention output
    (``e T a d``); eager adds the fp32 softmax ``4 b a s^2`` and, below fp32, its cast copy; SDPA /
    flash add the fp32 log-sum-exp ``4 b a s``. MLP: gate, SiLU(gate), up and their product
    (``4 e T i``). In 16-bit elements that is Korthikanti et al.'s ``10sbh + 4sbi (+ a s^2 b)``
    pattern with the upcast norms costing extra.
    """
    if attn not in ATTENTIONS:
        raise ValueError(f"attention {attn!r} is not one of {ATTENTIONS}")
    _positive(b=b, s=s, e=e)
    T = b * s
    kv_heads = m.a if attn == "eager" else m.g
    terms = {"rms (fp32 input, normed, weighted) x2": 2 * (4 * T * m.h + 2 * e * T * m.h),
             "rms rsqrt x2": 2 * 4 * T,
             "q, k, v after rope": e * T * (m.a + 2 * kv_heads) * m.d,
             "attention output": e * T * m.a * m.d,
             "mlp gate, act, up, product": 4 * e * T * m.i}
    if attn == "eager":
        terms["softmax (fp32)"] = 4 * b * m.a * s * s
        if e != 4:
            terms["softmax cast"] = e * b * m.a * s * s
    else:
        terms["log-sum-exp (fp32)"] = 4 * b * m.a * s
    return terms


def layer_activation_bytes(m: Dims, b: int, s: int, attn: str = "sdpa", e: int = 2) -> int:
    """Bytes one decoder layer saves for backward (sum of :func:`activation_terms`)."""
    return sum(activation_terms(m, b, s, attn, e).values())


def head_terms(m: Dims, b: int, s: int, e: int = 2) -> dict[str, int]:
    """Saved bytes outside the decoder layers: token ids, final norm, loss (the logits)."""
    T = b * s
    # transformers pads the labels by one and slices them; with b = 1 the slice is already
    # contiguous, so the padded storage (s + 1 ids) is what the loss keeps
    labels = 8 * (s + 1) if b == 1 else 8 * T
    return {"token ids (int64)": 8 * T, "final rms": 4 * T * m.h + 2 * e * T * m.h + 4 * T,
            "log-softmax of the logits (fp32)": 4 * T * m.V, "shifted labels (int64)": labels,
            "loss weight": 4}


def saved_activation_bytes(m: Dims, b: int, s: int, attn: str = "sdpa", e: int = 2,
                           recompute: bool = False) -> int:
    """Everything autograd holds for backward after one forward pass with the loss.

    Without recomputation: ``L`` layers (:func:`activation_terms`), the rotary ``cos``/``sin``
    (``2 e s d``, shared by all layers) and :func:`head_terms`. With full recomputation (every
    decoder layer checkpointed) a layer keeps only its input, ``e T h`` (the paper's "2sbh" in
    16 bit); the layer's activations are rebuilt one layer at a time in the backward pass.
    """
    head = sum(head_terms(m, b, s, e).values())
    if recompute:
        return m.L * e * b * s * m.h + head
    return m.L * layer_activation_bytes(m, b, s, attn, e) + 2 * e * s * m.d + head


def logits_bytes(m: Dims, b: int, s: int, e: int = 2) -> int:
    """The logits the forward returns (``e T V``); the loss saves a fp32 log-softmax besides."""
    return e * b * s * m.V


def kv_cache_bytes_per_token(m: Dims, e: int = 2) -> int:
    """KV cache per token: keys and values of ``g`` heads in every layer, ``2 L g d e``
    (Llama-2-7B in fp16: 0.5 MiB)."""
    return 2 * m.L * m.g * m.d * e


def overhead(tensor_peak: float, context: float = CUDA_CONTEXT_BYTES,
             fraction: float = ALLOCATOR_FRACTION) -> float:
    """Memory outside the live tensors: the CUDA context plus the allocator's reserved slack."""
    return context + fraction * tensor_peak


# ---------------------------------------------------------------------------------- peak memory


@dataclass(frozen=True)
class Technique:
    """A training configuration of the paper's grid."""

    name: str
    attn: str = "sdpa"
    recompute: bool = False
    stage: int = 0
    offload: bool = False
    lora_r: int = 0
    nf4: bool = False


def peak_training_memory(m: Dims, t: Technique, b: int, s: int, N: int = 1,
                         recipe: Recipe = MIXED, e: int = 2, context: float = CUDA_CONTEXT_BYTES,
                         fraction: float = ALLOCATOR_FRACTION) -> dict[str, float]:
    """Predicted per-GPU peak of one training step, split into its parts (bytes).

    The peak is reached at the start of the backward pass: model states, the saved activations
    and the loss's gradient (fp32 ``4 T V``, plus its cast to 16-bit logits); with recomputation
    one layer's activations are live again. LoRA freezes the base weights (NF4 for QLoRA) and trains
    ``r (d_in + d_out)`` per projection. Overhead: :func:`overhead`.
    """
    P = param_count(m)
    trainable = lora_params(m, t.lora_r) if t.lora_r else None
    frozen = nf4_bytes_per_param() if t.nf4 else None
    st = model_states(P, t.stage, N, recipe, t.offload, trainable, frozen)
    if t.stage == 3 and t.offload:  # fetched modules only (DeepSpeed: 4 x the largest module)
        st["params"] = 4.0 * largest_module_params(m)
        st["total"] = st["params"] + st["grads"] + st["optimizer"]
    act = saved_activation_bytes(m, b, s, t.attn, e, t.recompute)
    live = layer_activation_bytes(m, b, s, t.attn, e) if t.recompute else 0
    loss_grad = 4 * b * s * m.V + (logits_bytes(m, b, s, e) if e != 4 else 0)
    transient = loss_grad + live
    tensors = st["total"] + act + transient
    return {"params": st["params"], "grads": st["grads"], "optimizer": st["optimizer"],
            "activations": act, "loss gradient and recompute": transient,
            "overhead": overhead(tensors, context, fraction),
            "total": tensors + overhead(tensors, context, fraction), "cpu": st["cpu"]}


def fits(total_bytes: float, card_bytes: float) -> bool:
    """Whether a predicted per-GPU peak fits a card of ``card_bytes``."""
    return total_bytes <= card_bytes


def _positive(**kw: int) -> None:
    for k, v in kw.items():
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{k} must be a positive integer, got {v!r}")
