"""Measurements that check the analytical models against the real Hugging Face implementation.

* :class:`SavedTensors` counts what autograd keeps for backward (``saved_tensors_hooks``): each
  storage once, parameters and buffers excluded, only tensors still alive when read;
* :func:`kv_cache_bytes` sums the keys and values of a real ``DynamicCache``;
* :func:`counted_flops` runs ``torch.utils.flop_counter.FlopCounterMode`` over a training step;
* :func:`reset_peak_rss` / :func:`peak_rss` read the process's resident-set high-water mark
  (Linux ``/proc/self/clear_refs`` and ``VmHWM``): on the CPU the analogue of the authors'
  "total - free" peak, allocator slack included.

(The LoRA-FA chapter has a saved-tensor meter of its own for adapter layers; this one serves the
whole-model Llama formulas of :mod:`.memory`.)
"""

from __future__ import annotations

import ctypes
import gc
import re
import weakref
from typing import Any, Iterable

import torch


class SavedTensors:
    """Bytes autograd saves for backward inside the ``with`` block (read :attr:`bytes` while the
    forward's output, and so the graph, is alive)."""

    def __init__(self, exclude: Iterable[torch.Tensor] = ()) -> None:
        self._excluded = {t.untyped_storage().data_ptr() for t in exclude}
        self._packed: list[tuple[Any, int, int]] = []
        self._ctx: Any = None

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        if st.data_ptr() not in self._excluded:
            self._packed.append((weakref.ref(t), st.data_ptr(), st.nbytes()))
        return t

    @property
    def bytes(self) -> int:
        alive = {ptr: n for ref, ptr, n in self._packed if ref() is not None}
        return sum(alive.values())

    def __enter__(self) -> "SavedTensors":
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def saved_activation_bytes(model: torch.nn.Module, ids: torch.Tensor) -> int:
    """Saved-for-backward bytes of one training forward pass with the loss (labels = ids)."""
    with SavedTensors([*model.parameters(), *model.buffers()]) as meter:
        out = model(input_ids=ids, labels=ids)
    n = meter.bytes
    del out
    return n


def kv_cache_bytes(model: torch.nn.Module, ids: torch.Tensor) -> int:
    """Bytes of the keys and values in the cache after a prefill of ``ids`` (no grad)."""
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True)
    cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    if cache is None:
        raise RuntimeError("the model returned no KV cache (use_cache=True ignored?)")
    total = 0
    for layer in cache.layers:
        for t in (layer.keys, layer.values):
            total += t.numel() * t.element_size()
    return total


def counted_flops(model: torch.nn.Module, ids: torch.Tensor) -> int:
    """FLOPs of forward + backward as ``FlopCounterMode`` counts them (matrix products only)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


# ------------------------------------------------------------------------------------- CPU RSS


def _status(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            m = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    except OSError:
        return None
    return int(m.group(1)) * 1024 if m else None


def trim() -> None:
    """Collect garbage and return free heap pages to the OS (glibc ``malloc_trim``)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss() -> int | None:
    """Resident set size of this process in bytes (None off Linux)."""
    return _status("VmRSS")


def reset_peak_rss() -> bool:
    """Reset the RSS high-water mark to the current RSS; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> int | None:
    """The RSS high-water mark (bytes) since the last :func:`reset_peak_rss`."""
    return _status("VmHWM")
