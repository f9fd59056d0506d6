"""The federated loop: determinism, the Lightning objective and the Flower federation."""

from __future__ import annotations

import pytest
import torch

from reprobook.core.errors import DataError, DataUnavailable
from reprobook.fedimpro import data as fd
from reprobook.fedimpro.experiments import Setup, cached_data, partition_for
from reprobook.fedimpro.features import FeatureDistribution
from reprobook.fedimpro.federation import FedConfig, Server, run_client, run_federation, sample_clients
from reprobook.fedimpro.lightning import lightning_client_update

SETUP = Setup(n_clients=4, width=4, hidden=16)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_mnist5k_is_stratified_and_standardised():
    d = cached_data("mnist5k", 14)
    assert d.x_train.shape == (4000, 1, 14, 14) and d.x_test.shape == (1000, 1, 14, 14)
    assert torch.bincount(d.y_test).tolist() == [100] * 10
    assert abs(float(d.x_train.mean())) < 1e-4 and abs(float(d.x_train.std()) - 1) < 1e-3


def test_paper_datasets_fail_offline_with_what_to_download(monkeypatch, tmp_path):
    monkeypatch.setenv("REPROBOOK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("REPROBOOK_DATA_MIRROR", raising=False)
    with pytest.raises(DataUnavailable, match="cifar-10-python.tar.gz"):
        fd.load("cifar10")
    with pytest.raises(DataUnavailable, match="train_32x32.mat"):
        fd.load("svhn")


def test_corrupt_cifar_file_is_a_checksum_error(monkeypatch, tmp_path):
    monkeypatch.setenv("REPROBOOK_CACHE_DIR", str(tmp_path))
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "cifar-10-python.tar.gz").write_bytes(b"x" * 170498071)
    with pytest.raises(DataError, match="sha256"):
        fd.load("cifar10")
    with pytest.raises(ValueError, match="unknown dataset"):
        fd.load("imagenet")


def test_client_sampling_is_seeded_and_distinct():
    a = sample_clients(0, 3, 10, 5)
    assert a == sample_clients(0, 3, 10, 5) and len(set(a)) == 5
    with pytest.raises(ValueError, match="exceeds"):
        sample_clients(0, 1, 4, 5)


@pytest.mark.parametrize("method", ["fedavg", "fedprox", "scaffold", "fednova", "fedimpro"])
def test_run_is_deterministic(method):
    d = cached_data("mnist5k", 14)
    parts = partition_for(SETUP, 0)
    cfg = FedConfig(method=method, rounds=3, clients_per_round=2, lr=0.05)
    a = run_federation(d, parts, cfg, lambda: SETUP.model_fn(d), seed=1)
    b = run_federation(d, parts, cfg, lambda: SETUP.model_fn(d), seed=1)
    assert [h["test_acc"] for h in a.history] == [h["test_acc"] for h in b.history]
    assert all(torch.equal(a.final_state[k], b.final_state[k]) for k in a.final_state)


@pytest.mark.parametrize("method", ["fedavg", "fedprox", "scaffold", "fednova", "fedimpro"])
def test_lightning_objective_gives_the_same_local_model(method):
    d = cached_data("mnist5k", 14)
    part = torch.as_tensor(partition_for(SETUP, 0)[0])
    x, y = d.x_train[part], d.y_train[part]
    cfg = FedConfig(method=method, rounds=3, lr=0.1, epochs=2)
    torch.manual_seed(0)
    model = SETUP.model_fn(d)
    bc = Server(model, cfg, 4).broadcast()
    g = torch.Generator().manual_seed(5)
    control = None
    if method == "scaffold":
        control = {k: 0.01 * torch.randn(v.shape, generator=g) for k, v in model.named_parameters()}
        bc.control = {k: 0.01 * torch.randn(v.shape, generator=g) for k, v in model.named_parameters()}
    if method == "fedimpro":
        bc.round = 3
        bc.dist = FeatureDistribution(torch.rand(10, model.feature_dim, generator=g),
                                      torch.rand(10, model.feature_dim, generator=g))
    ref = run_client(model, bc, x, y, cfg, seed=0, client=0, n_classes=10, control=control)
    state, dist = lightning_client_update(model, bc, x, y, cfg, seed=0, client=0, n_classes=10,
                                          control=control)
    for k in state:
        torch.testing.assert_close(state[k], ref.model[k], rtol=0, atol=1e-6)
    if method == "fedimpro":
        torch.testing.assert_close(dist.mu, ref.dist.mu, rtol=0, atol=1e-6)


def test_flower_client_and_strategy_run_fednova_as_the_in_process_loop():
    """Flower's ClientApp function and the strategy's aggregation, driven without the simulation
    engine: FedNova's step counts travel in the reply and the normalised average matches."""
    import time

    from flwr.app import ConfigRecord, Context, Message, Metadata, RecordDict

    from reprobook.fedimpro import flower

    cfg = FedConfig(method="fednova", rounds=2, clients_per_round=SETUP.n_clients, lr=0.1)
    d = cached_data("mnist5k", 14)
    torch.manual_seed(flower.derive_seed(0, "init"))
    server = Server(SETUP.model_fn(d), cfg, SETUP.n_clients)
    strategy = flower.FedImproStrategy(server, fraction_train=1.0, min_train_nodes=SETUP.n_clients)
    run = flower.encode_run(SETUP, cfg, 0)
    for r in (1, 2):
        replies = []
        for pid in range(SETUP.n_clients):
            meta = Metadata(run_id=1, message_id=f"{r}-{pid}", src_node_id=0, dst_node_id=pid + 1,
                            reply_to_message_id="", group_id=str(r), created_at=time.time(),
                            ttl=3600.0, message_type="train")
            msg = Message(content=RecordDict({"arrays": flower.to_record(server.model_state),
                                              "config": ConfigRecord({"run": run,
                                                                      "server-round": r})}),
                          metadata=meta)
            ctx = Context(run_id=1, node_id=pid + 1, node_config={"partition-id": pid},
                          state=RecordDict(), run_config={})
            replies.append(flower.train(msg, ctx))
        assert {int(m.content["metrics"]["steps"]) for m in replies} != {0}
        strategy.aggregate_train(r, replies)
    ref = run_federation(d, partition_for(SETUP, 0), cfg, lambda: SETUP.model_fn(d), seed=0)
    for k, v in ref.final_state.items():
        torch.testing.assert_close(server.model_state[k], v, rtol=0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fedimpro"])
def test_flower_simulation_matches_the_in_process_loop(method):
    from reprobook.fedimpro import flower

    cfg = FedConfig(method=method, rounds=2, clients_per_round=SETUP.n_clients, lr=0.1)
    out = flower.simulate(SETUP, cfg, seed=0)
    d = cached_data("mnist5k", 14)
    ref = run_federation(d, partition_for(SETUP, 0), cfg, lambda: SETUP.model_fn(d), seed=0)
    for k, v in ref.final_state.items():
        torch.testing.assert_close(out["state"][k], v, rtol=0, atol=1e-5)
    if method == "fedimpro":
        torch.testing.assert_close(out["dist"].mu, ref.dist.mu, rtol=0, atol=1e-5)
        torch.testing.assert_close(out["dist"].var, ref.dist.var, rtol=0, atol=1e-5)
        assert torch.equal(out["dist"].seen, ref.dist.seen)
    assert [h["round"] for h in out["history"]] == [1, 2]


def test_random_crop_flip_is_a_shifted_or_mirrored_copy():
    """Every augmented image is one of the (2 pad + 1)^2 crops of the zero-padded image, flipped
    or not; and the same generator seed gives the same batch."""
    x = torch.randn(6, 3, 8, 8)
    out = fd.random_crop_flip(x, torch.Generator().manual_seed(3), pad=2)
    again = fd.random_crop_flip(x, torch.Generator().manual_seed(3), pad=2)
    assert torch.equal(out, again) and out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):
        candidates = [c for dy in range(5) for dx in range(5)
                      for c in (padded[i, :, dy:dy + 8, dx:dx + 8], padded[i, :, dy:dy + 8, dx:dx + 8].flip(-1))]
        assert any(torch.equal(out[i], c) for c in candidates)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", ["fedavg", "scaffold", "fednova", "fedimpro"])
def test_cuda_run_follows_the_cpu_run(method):
    """The device path sees the same batches as the CPU (CPU generators), so FedAvg and SCAFFOLD
    agree up to float rounding; FedImpro draws its features on the device, so only its accuracy
    is compared loosely."""
    data = cached_data("mnist5k", 14)
    parts = partition_for(SETUP, 0)
    cfg = FedConfig(method=method, rounds=2, clients_per_round=4, batch_size=64)
    cpu = run_federation(data, parts, cfg, lambda: SETUP.model_fn(data), seed=0)
    gpu = run_federation(data, parts, cfg, lambda: SETUP.model_fn(data), seed=0, device="cuda")
    assert all(v.device.type == "cpu" for v in gpu.final_state.values())
    if method == "fedimpro":
        assert abs(cpu.history[-1]["test_acc"] - gpu.history[-1]["test_acc"]) < 0.1
    else:
        for k, v in cpu.final_state.items():
            torch.testing.assert_close(gpu.final_state[k], v, rtol=1e-3, atol=1e-4)
