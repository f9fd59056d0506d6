"""Dissecting the runtime of LLM training, fine-tuning and serving (Zhang et al., arXiv:2311.03687).

- :mod:`.constants` — GPU specifications, Llama-2 sizes, ZeRO and QLoRA numbers, with sources.
- :mod:`.config` — transformers ``LlamaConfig`` builders and the formulas' dimensions.
- :mod:`.memory` — the analytical memory model (parameters, ZeRO states, activations, KV cache).
- :mod:`.flops` — the FLOPs and throughput model (6PT + attention, recomputation, MFU, decode).
- :mod:`.models` — random-weight Llama models per technique (SDPA/eager/flash, recompute, LoRA).
- :mod:`.measure` — saved-tensor, KV-cache, FLOP-counter and RSS measurements.
- :mod:`.harness` — the Lightning harness: step time, tokens/s, peak memory per technique.
- :mod:`.breakdown` — torch.profiler step breakdown into the paper's module categories.
- :mod:`.collectives` — all-reduce / all-gather / reduce-scatter bus bandwidth, alpha-beta fit.
- :mod:`.scale` — the paper's scale: Lightning's DeepSpeed strategy, vLLM serving (GPU paths).
- :mod:`.study` — the tables the notebooks show; :mod:`.plots` — figures; :mod:`.claims`.
"""
