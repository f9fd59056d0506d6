"""Pilots of the mini NAS-Bench-201: how reproducible is its ground truth under each setting?

A benchmark can only test ranking claims if its own ranking reproduces: trained again with
another seed, the architectures should come out in nearly the same order. The *noise ceiling*
is that agreement, Kendall's tau between the test accuracies of training seed 0 and seed 1
(the same seeds for every architecture, as in NAS-Bench-201). A pilot trains a small stratified
sample of cells (:func:`reprobook.parzc.benchmark.sample_architectures`) under two seeds in each
setting of :data:`PILOTS` and reports, per setting:

- the ceiling on test accuracy, on validation accuracy, on the cross-entropy (a continuous
  ground truth) and on the pooled validation + test split (twice the evaluation images);
- the noise decomposition of :func:`reprobook.parzc.evaluation.noise_parts` (architecture
  spread, one run's noise, the part of it a finite test set explains);
- the mean accuracy per number of live convolutions (does the cell matter at all?) and the
  CPU seconds per training run (what a table of this setting costs).

``python -m reprobook.parzc.diagnosis --archs 48`` reruns the pilots behind the chapter's choice
of setting (about 25 minutes on one core); the chapter's page quotes their output.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import pandas as pd

from reprobook.core.progress import Progress

from . import space
from .benchmark import GenConfig, sample_architectures, split_for, train_once
from .evaluation import noise_parts, tau

#: The settings the chapter's choice was made from: key -> (description, GenConfig overrides).
#: "A" is the setting of the chapter's first table; "G" the shipped one (the GenConfig defaults).
PILOTS: dict[str, tuple[str, dict[str, Any]]] = {
    "A": ("8x8 digits, NB201 blocks, 2 epochs (first table)",
          dict(dataset="digits", reduction="resblock", epochs=2)),
    "D": ("8x8 digits, NB201 blocks, 6 epochs", dict(dataset="digits", reduction="resblock",
                                                     epochs=6)),
    "B": ("8x8 digits, pool, 2 epochs", dict(dataset="digits", reduction="pool", epochs=2)),
    "C": ("8x8 digits, pool, 6 epochs", dict(dataset="digits", reduction="pool", epochs=6)),
    "F": ("8x8 digits, pool, N = 2, 6 epochs", dict(dataset="digits", reduction="pool",
                                                    epochs=6, n_cells=2)),
    "I": ("MNIST 14x14, NB201 blocks, 2 epochs", dict(dataset="mnist", reduction="resblock",
                                                      epochs=2)),
    "J": ("MNIST 14x14, pool, 2 epochs, unique strata", dict(dataset="mnist", reduction="pool",
                                                             epochs=2, strata="unique")),
    "G": ("MNIST 14x14, pool, 2 epochs (shipped)", dict(dataset="mnist", reduction="pool",
                                                        epochs=2)),
    "H": ("MNIST 14x14, pool, 3 epochs", dict(dataset="mnist", reduction="pool", epochs=3)),
}
PILOT_SAMPLE_SEED = 12345  # not the shipped table's sample seed (0)


def check_pilots(names: list[str] | tuple[str, ...]) -> list[str]:
    bad = [n for n in names if n not in PILOTS]
    if bad:
        raise ValueError(f"unknown pilot {bad[0]!r}; known: {list(PILOTS)}")
    return list(names)


def _seed_pair(rows: list[dict[str, float]], key: str) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([r[f"{key}_s0"] for r in rows]), np.array([r[f"{key}_s1"] for r in rows]))


def summarise(rows: list[dict[str, float]], n_test: int) -> dict[str, Any]:
    """The pilot's numbers from its rows (per architecture: n_convs and the seeds' metrics)."""
    out: dict[str, Any] = {}
    for m in ("test_acc", "val_acc", "test_loss"):
        out[f"tau {m}"] = tau(*_seed_pair(rows, m))
    va0, va1 = _seed_pair(rows, "val_acc")
    te0, te1 = _seed_pair(rows, "test_acc")
    out["tau val+test acc"] = tau(va0 + te0, va1 + te1)
    frame = pd.DataFrame({"test_acc_s0": te0, "test_acc_s1": te1})
    parts = noise_parts(frame, n_test)
    out.update({k: parts[k] for k in ("sd_between", "sd_seed", "sd_eval", "icc")})
    nc = np.array([r["n_convs"] for r in rows])
    acc = (te0 + te1) / 2
    out["acc by live convs"] = {int(k): round(float(acc[nc == k].mean()), 3)
                                for k in np.unique(nc)}
    return out


def run_pilot(overrides: dict[str, Any], n_archs: int, sample_seed: int = PILOT_SAMPLE_SEED,
              base: GenConfig | None = None, desc: str = "pilot") -> dict[str, Any]:
    """Train ``n_archs`` cells under both seeds in the setting ``base`` + ``overrides``."""
    cfg = dataclasses.replace(base or GenConfig(), **overrides)
    cells = sample_architectures(n_archs, sample_seed, cfg.strata)
    rows, cpu = [], time.process_time()
    with Progress(len(cells), desc, unit="arch") as bar:
        for c in cells:
            row: dict[str, float] = {"n_convs": space.n_convs(c)}
            for s in cfg.seeds:
                row.update(train_once(c, cfg, s))
            rows.append(row)
            bar.update()
    out = {"archs": n_archs, "s per run": (time.process_time() - cpu) / (2 * n_archs)}
    out.update(summarise(rows, len(split_for(cfg).y_test)))
    return out


def run_pilots(names: list[str], n_archs: int, base: GenConfig | None = None,
               sample_seed: int = PILOT_SAMPLE_SEED) -> pd.DataFrame:
    """One row per pilot of :data:`PILOTS` (``base`` fixes what the pilots do not set)."""
    rows = []
    for name in check_pilots(names):
        label, overrides = PILOTS[name]
        rows.append({"pilot": name, "setting": label,
                     **run_pilot(overrides, n_archs, sample_seed, base, desc=f"pilot {name}")})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m reprobook.parzc.diagnosis",
                                 description="Pilots of the mini NAS-Bench-201's noise ceiling.")
    ap.add_argument("--archs", type=int, default=48)
    ap.add_argument("--pilots", nargs="*", default=list(PILOTS))
    args = ap.parse_args(argv)
    df = run_pilots(args.pilots, args.archs)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(df.round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
