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
    assert df["sentiment"].value_counts().to_dict() == data.TWEET_COUNTS == {
        "negative": 16186, "neutral": 15018, "positive": 6954}
    tok, model = data.load_model(seed=0)
    _, again = data.load_model(seed=0)
    assert torch.equal(model.classifier.weight, again.classifier.weight)
    assert model.config.hidden_size == 384 and tok("hello")["input_ids"][0] == tok.cls_token_id


def test_hub_model_and_glue_offline_give_clear_errors(monkeypatch):
    import datasets
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # the libraries read the variables once, at import: without these the test waits on network
    # time-outs (about 45 s) before failing the same way
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match="'roberta-base' is neither in the local Hugging Face cache"):
        data.load_model(name="roberta-base")
    with pytest.raises(DataError, match="GLUE 'sst2' needs a download"):
        data.load_task("glue-sst2", 10, 10, 0)
    with pytest.raises(DataError, match="not one of the binary tasks"):
        data.load_glue("mnli", 10, 10, 0)
    with pytest.raises(DataError, match="unknown dataset 'glue-mnli'"):
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


def test_head_only_control_trains_only_the_classifier():
    model, opt_fn = prepare(tiny_bert(7, 32, 2, 64), "head", AdapterSpec(), 1e-2)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train_steps(model, opt_fn(model), batch(7, 4, 12), steps=3)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]) == (n not in trainable), n
    with pytest.raises(ValueError, match="nothing would be trained"):
        prepare(tiny_bert(7, 32, 2, 64), "head", AdapterSpec(head=("no_such_head",)), 1e-2)


def test_evaluate_returns_per_example_correctness_in_test_order():
    from reprobook.lorafa.train import TweetData, evaluate

    tok, model = data.load_model(seed=0)
    test = pd.DataFrame({"text": ["so happy today!!", "awful", "I hate mondays, really",
                                  "great game", "meh", "love it"], "label": [1, 0, 0, 1, 0, 1]})
    d = TweetData(tok, test, 4, 32, 0)
    got = evaluate(model, d, test, batch_size=4)
    with torch.no_grad():
        enc = d.collate(TweetData.rows(test))
        enc.pop("labels")
        pred = model(**enc).logits.argmax(-1).numpy()
    assert got["correct"].tolist() == (pred == test["label"].to_numpy()).astype(int).tolist()
    assert got["accuracy"] == pytest.approx(got["correct"].mean())


def test_finetune_rejects_unknown_variants():
    from reprobook.lorafa.experiments import finetune
    from reprobook.lorafa.train import RunConfig

    with pytest.raises(ValueError, match=r"unknown fine-tuning variant\(s\) \['lorafa-3r'\]"):
        finetune(["lora", "lorafa-3r"], [0], AdapterSpec(), RunConfig(), pd.DataFrame(),
                 pd.DataFrame())
