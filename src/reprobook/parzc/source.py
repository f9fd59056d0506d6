"""Where a notebook's benchmark table comes from (one switch for all four notebooks).

- ``benchmark="shipped"``: the table in ``data/shipped/parzc/`` (cpu-smoke), its sha256 and
  columns verified against the YAML beside it;
- ``benchmark="build"``: generated with the notebook's parameters (ci-tiny: a tiny one;
  cpu-full: a larger one; gpu-1x: CIFAR-10 at a larger width), cached by their hash;
- ``nb201_file`` set: the real NAS-Bench-201 accuracies with this chapter's proxies
  (:mod:`.nb201_real`; gpu-1x when the user has the file).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from reprobook.core.paths import cache_root

from .benchmark import GenConfig, build, load_shipped
from .tables import read_table, write_table

SOURCES = ("shipped", "build")


@dataclass(frozen=True)
class BenchConfig:
    """The benchmark parameters every notebook of the chapter declares."""

    benchmark: str = "shipped"
    n_archs: int = GenConfig.n_archs
    epochs: int = GenConfig.epochs
    dataset: str = GenConfig.dataset
    channels: int = GenConfig.channels
    n_cells: int = GenConfig.n_cells
    reduction: str = GenConfig.reduction
    cifar_limit: int | None = None
    nb201_file: str = ""

    def __post_init__(self) -> None:
        if self.benchmark not in SOURCES:
            raise ValueError(f"unknown benchmark source {self.benchmark!r}; known: {SOURCES}")

    def gen(self) -> GenConfig:
        return GenConfig(dataset=self.dataset, n_archs=self.n_archs, epochs=self.epochs,
                         channels=self.channels, n_cells=self.n_cells, reduction=self.reduction,
                         cifar_limit=self.cifar_limit)


def load_benchmark(cfg: BenchConfig, device: str = "cpu") -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table and a description of where it came from (printed by notebook 1)."""
    if cfg.nb201_file:
        from .benchmark import columns
        from .nb201_real import build_real, open_api, real_config

        gen = real_config(cfg.n_archs, cifar_limit=cfg.cifar_limit)
        path = cache_root() / "parzc" / f"nb201-real-{gen.key()}.csv.gz"
        if path.is_file():
            return read_table(path, columns(gen)), {"source": "NAS-Bench-201 (cached)",
                                                    "generation": gen.as_dict()}
        df = build_real(open_api(cfg.nb201_file), gen, device)
        write_table(df, path)
        return df, {"source": f"NAS-Bench-201 ({cfg.nb201_file})", "generation": gen.as_dict()}
    if cfg.benchmark == "shipped":
        df, meta = load_shipped()
        return df, {"source": "shipped table (sha256 verified)", **meta}
    gen = cfg.gen()
    return build(gen, device=device), {"source": "built by this run (cached by its parameters)",
                                      "generation": gen.as_dict()}


def generation_of(info: dict[str, Any]) -> GenConfig:
    """The :class:`GenConfig` that produced a loaded table (from its YAML or its build)."""
    from .benchmark import config_from_meta

    return config_from_meta(info)


def live_rebuild(df: pd.DataFrame, info: dict[str, Any], k: int, device: str = "cpu"
                 ) -> pd.DataFrame | None:
    """Rebuild ``k`` rows of the table live (no cache) with its own generation parameters, at
    evenly spaced quantiles of the test accuracy, beside the stored values; ``None`` for the
    real NAS-Bench-201 (its ground truth is not this builder's)."""
    from . import space
    from .benchmark import evaluate_arch

    if k <= 0 or str(info.get("source", "")).startswith("NAS-Bench-201"):
        return None
    gen = generation_of(info)
    acc = df[[c for c in df.columns if c.startswith("test_acc_s")]].mean(axis=1).to_numpy()
    order = acc.argsort(kind="stable")
    rows = [int(order[round(q * (len(df) - 1))]) for q in
            ([0.5] if k == 1 else [i / (k - 1) for i in range(k)])]
    cols = [f"{m}_s{s}" for s in gen.seeds for m in ("val_acc", "test_acc")] + ["synflow@stem"]
    out = []
    for r in dict.fromkeys(rows):
        live = evaluate_arch(space.from_arch_str(df.arch.iloc[r]), gen, device)
        for c in cols:
            out.append({"arch": df.arch.iloc[r], "column": c, "table": float(df[c].iloc[r]),
                        "live": float(live[c])})
    res = pd.DataFrame(out)
    res["abs diff"] = (res.live - res.table).abs()
    return res


def n_test_of(info: dict[str, Any]) -> int:
    """How many test images each accuracy of the table was measured on."""
    from . import constants as K
    from .benchmark import split_for

    if str(info.get("source", "")).startswith("NAS-Bench-201"):
        return K.NB201_TEST_IMAGES
    return len(split_for(generation_of(info)).y_test)
