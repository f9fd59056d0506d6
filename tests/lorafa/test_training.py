from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch

from reprobook.core.errors import DataError
from reprobook.lorafa import data, lowrank
from reprobook.lorafa.methods import AdapterSpec, freeze_lora_a, prepare

from .test_memory import batch, tiny_bert


def train_steps(model, optimizer, probe, steps: int = 5) -> None:
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(**probe).loss.backward()
        optimizer.step()


@pytest.mark.parametrize("method", ["lorafa", "lorafa-v2"])
def test_a_never_changes_and_delta_w_stays_in_span_a(method):
    base = tiny_bert(3, 32, 2, 64)
    model, opt_fn = prepare(copy.deepcopy(base), method, AdapterSpec(r=4, alpha=8), 1e-2)
    a0 = lowrank.initial_a(model)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_A" in n}
    train_steps(model, opt_fn(model), batch(3, 4, 12))
    for n, p in model.named_parameters():
        if "lora_A" in n:
            assert torch.equal(p, before[n])
    res = lowrank.span_residuals(model, a0)
    assert (res["delta_w_norm"] > 0).all()  # B moved
    assert res["residual"].max() < 1e-6 and res["a_changed"].max() == 0


def test_lora_leaves_span_of_initial_a():
    model, opt_fn = prepare(tiny_bert(4, 32, 2, 64), "lora", AdapterSpec(r=4, alpha=8), 1e-2)
    a0 = lowrank.initial_a(model)
    train_steps(model, opt_fn(model), batch(4, 4, 12), steps=10)
    assert lowrank.span_residuals(model, a0)["residual"].max() > 1e-3


def test_trainable_counts_follow_the_table():
    spec = AdapterSpec(r=4, alpha=8, targets=("query",), head=())
    counts = {}
    for method in ("lora", "lorafa"):
        m, _ = prepare(tiny_bert(5, 32, 2, 64), method, spec, 1e-3)
        counts[method] = sum(p.numel() for p in m.parameters() if p.requires_grad)
    assert counts["lora"] == 2 * 4 * (32 + 32)  # r (d + o) per layer, 2 layers
    assert counts["lorafa"] == 2 * 4 * 32  # r o per layer


def test_freeze_needs_lora():
    with pytest.raises(ValueError, match="apply LoRA first"):
        freeze_lora_a(torch.nn.Linear(2, 2))


def write_csv(tmp_path, text: str):
    p = tmp_path / "tweets.csv"
    p.write_text(text, encoding="latin-1")
    return p


@pytest.mark.parametrize("text,match", [
    ("label,text\npositive,hi\n", r"missing column\(s\) \['sentiment'\]"),
    ("sentiment,text\nhappy,hi\n", "unknown label"),
    ("sentiment,text\npositive,\n", "without text or label"),
])
def test_malformed_label_files(tmp_path, text, match):
    with pytest.raises(DataError, match=match) as e:
        data.load_tweets(write_csv(tmp_path, text))
    assert "tweets.csv" in str(e.value)


def test_split_is_balanced_disjoint_and_checked():
    df = pd.DataFrame({"sentiment": ["positive"] * 30 + ["negative"] * 30 + ["neutral"] * 5,
                       "text": [f"t{i}" for i in range(65)]})
    train, test = data.binary_split(df, 20, 10, seed=0)
    assert train["label"].sum() == 10 and test["label"].sum() == 5
    assert not set(train["text"]) & set(test["text"])
    with pytest.raises(DataError, match="empty split"):
        data.binary_split(df, 0, 10, seed=0)
    with pytest.raises(DataError, match="only 30 'negative'"):
        data.binary_split(df, 50, 20, seed=0)


def test_shipped_tweets_and_model_load_offline():
    df = data.load_tweets()
    assert len(df) == 38_158
    assert df["sentiment"].value_counts().to_dict() == {"negative": 16186, "neutral": 15018,
                                                        "positive": 6954}
    tok, model = data.load_model(seed=0)
    _, again = data.load_model(seed=0)
    assert torch.equal(model.classifier.weight, again.classifier.weight)
    assert model.config.hidden_size == 384 and tok("hello")["input_ids"][0] == tok.cls_token_id


def test_hub_model_and_glue_offline_give_clear_errors(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match="'roberta-base' is neither in the local Hugging Face cache"):
        data.load_model(name="roberta-base")
    with pytest.raises(DataError, match="GLUE 'sst2' needs a download"):
        data.load_task("glue-sst2", 10, 10, 0)
    with pytest.raises(DataError, match="not one of the binary tasks"):
        data.load_task("glue-mnli", 10, 10, 0)
    with pytest.raises(DataError, match="unknown dataset"):
        data.load_task("imdb", 10, 10, 0)


def test_pair_rows_are_tokenised_as_pairs():
    from reprobook.lorafa.train import TweetData

    tok, _ = data.load_model(seed=0)
    df = pd.DataFrame({"text": ["a question"], "text_pair": ["an answer"], "label": [1]})
    batch = TweetData(tok, df, 4, 32, 0).collate(TweetData.rows(df))
    assert batch["labels"].tolist() == [1]
    assert int((batch["input_ids"][0] == tok.sep_token_id).sum()) == 2  # [CLS] a [SEP] b [SEP]
