"""The federated loop: a server, clients, and the deterministic in-process simulation.

One round r (paper: FedAvg's protocol, FedImpro adds the shared H):
1. the server samples K of M clients (seeded) and broadcasts the global model (+ SCAFFOLD's c,
   + FedImpro's H);
2. each sampled client runs :func:`run_client` — E local epochs of SGD on its own data;
3. the server averages the models weighted by client sample counts (FedAvg; FedNova averages the
   updates normalised by each client's number of local steps, :func:`normalized_average`),
   updates c (SCAFFOLD) or H (FedImpro, :func:`reprobook.fedimpro.features.aggregate_distributions`).

:class:`Server` and :func:`run_client` are plain functions of tensors, so the same code runs here
(:func:`run_federation`) and inside Flower (:mod:`reprobook.fedimpro.flower`).

Devices: what travels between server and clients (model states, controls, H) stays on the CPU, as
on a real network; a client computes on the device of its data (``x``), a CUDA GPU under gpu-1x.
Every random draw that decides *which* data a step sees (client sampling, batch order) comes from
CPU generators, so the same seed picks the same batches on every device; FedImpro's feature
samples come from a generator on the compute device (the same one as the batch order on the CPU).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from reprobook.core.seeds import derive_seed

from . import metrics
from .data import ImageData, random_crop_flip
from .features import (FeatureDistribution, FeatureEstimator, add_upload_noise,
                       aggregate_distributions)
from .methods import METHODS, ImproConfig, fake_weight, fedimpro_loss, fednova_norm, prox_term
from .model import SplitModel

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class FedConfig:
    """One federated run. Paper defaults: SGD lr 0.1, momentum 0, weight decay 1e-4, B 128, E 1."""

    method: str = "fedimpro"
    rounds: int = 30
    clients_per_round: int = 5
    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.0
    weight_decay: float = 1e-4
    prox_mu: float = 0.1
    impro: ImproConfig = field(default_factory=ImproConfig)
    eval_every: int = 1
    measure_every: int = 0  # gradient dissimilarity over all clients every k rounds (0: never)
    measure_batch: int = 128  # mini-batch of the gradient-dissimilarity pass (bounded memory)
    augment: bool = False  # random crop + flip per batch (the CIFAR recipe; gpu-1x)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; expected one of {METHODS}")
        for name in ("rounds", "clients_per_round", "epochs", "batch_size", "eval_every",
                     "measure_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Broadcast:
    """What the server sends in round ``round``: model state, SCAFFOLD's c, FedImpro's H."""

    round: int
    model: State
    control: State | None = None
    dist: FeatureDistribution | None = None


@dataclass
class ClientResult:
    client: int
    n: int
    model: State
    control_delta: State | None = None
    dist: FeatureDistribution | None = None
    steps: int = 0
    loss: float = float("nan")


def weighted_average(states: list[State], weights: list[float]) -> State:
    """FedAvg: sum_m (n_m / n) w_m for every floating tensor; integer buffers from the first.
    (Ignores client order up to float rounding: accumulation is in float64.)"""
    if not states or len(states) != len(weights):
        raise ValueError(f"need one weight per state, got {len(states)} and {len(weights)}")
    total = float(sum(weights))
    if total <= 0:
        raise ValueError(f"weights must sum to > 0, got {weights}")
    out: State = {}
    for key in states[0]:
        if states[0][key].is_floating_point():
            acc = torch.zeros_like(states[0][key], dtype=torch.float64)
            for s, w in zip(states, weights):
                acc += (w / total) * s[key].double()
            out[key] = acc.to(states[0][key].dtype)
        else:
            out[key] = states[0][key].clone()
    return out


def normalized_average(global_state: State, states: list[State], weights: list[float],
                       steps: list[int], param_names: list[str], momentum: float = 0.0) -> State:
    """FedNova (Wang et al. 2020, Eq. 6-7): x <- x - tau_eff sum_i p_i (x - y_i) / ||a_i||_1, with
    p_i = n_i / n, ||a_i||_1 = :func:`fednova_norm` of client i's local steps and
    tau_eff = sum_i p_i ||a_i||_1, for the parameters; buffers (BatchNorm statistics) are averaged
    as in FedAvg. With equal step counts it is FedAvg."""
    if not states or not len(states) == len(weights) == len(steps):
        raise ValueError(f"need one weight and step count per state, got {len(states)} states, "
                         f"{len(weights)} weights, {len(steps)} step counts")
    out = weighted_average(states, weights)
    total = float(sum(weights))
    p = [w / total for w in weights]
    norms = [fednova_norm(int(t), momentum) for t in steps]
    tau_eff = sum(pi * a for pi, a in zip(p, norms))
    for key in param_names:
        x = global_state[key].double()
        d = sum(pi * (x - s[key].double()) / a for pi, s, a in zip(p, states, norms))
        out[key] = (x - tau_eff * d).to(global_state[key].dtype)
    return out


def client_generator(seed: int, round_: int, client: int) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, "client", round_, client))


def sample_generator(seed: int, round_: int, client: int, device: torch.device,
                     cpu_gen: torch.Generator) -> torch.Generator:
    """FedImpro's feature-sampling generator: ``cpu_gen`` itself on the CPU, a seeded generator
    on ``device`` otherwise (drawing on the device avoids a host-to-device copy per batch)."""
    if device.type == "cpu":
        return cpu_gen
    return torch.Generator(device=device).manual_seed(derive_seed(seed, "client-device", round_, client))


def to_cpu(state: State) -> State:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def run_client(model: SplitModel, bc: Broadcast, x: torch.Tensor, y: torch.Tensor, cfg: FedConfig,
               *, seed: int, client: int, n_classes: int, control: State | None = None) -> ClientResult:
    """E epochs of local SGD from the broadcast state (``model`` is overwritten); computes on the
    device of ``x`` (``model`` must live there), returns CPU tensors."""
    dev = x.device
    model.load_state_dict(bc.model)
    model.train()
    gen = client_generator(seed, bc.round, client)
    sgen = sample_generator(seed, bc.round, client, dev, gen)
    dist = bc.dist.to(dev) if bc.dist is not None else None
    correction = ({k: (bc.control[k] - control[k]).to(dev) for k in control}
                  if cfg.method == "scaffold" and bc.control is not None and control is not None else None)
    params = dict(model.named_parameters())
    opt = torch.optim.SGD(params.values(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    anchor = {k: v.detach().clone() for k, v in params.items()} if cfg.method == "fedprox" else None
    use_dist = (cfg.method == "fedimpro" and dist is not None and bool(dist.known.any())
                and bc.round > cfg.impro.warmup_rounds)
    estimator = None
    if cfg.method == "fedimpro":
        init = (dist if dist is not None
                else FeatureDistribution.unknown(n_classes, model.feature_dim, dev))
        estimator = FeatureEstimator(init, cfg.impro.est_momentum, cfg.impro.code_compat)
    steps, loss_sum = 0, torch.zeros((), dtype=torch.float64, device=dev)
    for _ in range(cfg.epochs):
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), cfg.batch_size):
            idx = order[start:start + cfg.batch_size].to(dev)
            xb, yb = x[idx], y[idx]
            if cfg.augment:
                xb = random_crop_flip(xb, gen)
            if cfg.method == "fedimpro":
                loss, h = fedimpro_loss(model, xb, yb, dist if use_dist else None, cfg.impro,
                                        bc.round, sgen)
                estimator.update(h, yb)  # type: ignore[union-attr]
            else:
                loss = F.cross_entropy(model(xb), yb)
                if anchor is not None:
                    loss = loss + prox_term(model, anchor, cfg.prox_mu)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if correction is not None:
                for k, p in params.items():
                    p.grad.add_(correction[k])
            opt.step()
            steps += 1
            loss_sum += loss.detach().double()
    state = to_cpu(model.state_dict())
    loss_sum = float(loss_sum)
    result = ClientResult(client=client, n=len(y), model=state, steps=steps, loss=loss_sum / max(steps, 1))
    if cfg.method == "scaffold":
        assert bc.control is not None and control is not None
        new_c = {k: control[k] - bc.control[k] + (bc.model[k] - state[k]) / (steps * cfg.lr)
                 for k in control}
        result.control_delta = {k: new_c[k] - control[k] for k in control}
    if estimator is not None:
        up = estimator.distribution().to("cpu")
        if cfg.impro.upload_noise > 0:
            up = add_upload_noise(up, cfg.impro.upload_noise,
                                  torch.Generator().manual_seed(derive_seed(seed, "noise", bc.round, client)))
        result.dist = up
    return result


def zero_control(model: SplitModel) -> State:
    return {k: torch.zeros_like(p, device="cpu") for k, p in model.named_parameters()}


class Server:
    """Holds the global model, SCAFFOLD's server control c and FedImpro's shared H."""

    def __init__(self, model: SplitModel, cfg: FedConfig, n_clients: int):
        self.cfg = cfg
        self.n_clients = n_clients
        self.model_state: State = to_cpu(model.state_dict())
        self.param_names = [k for k, _ in model.named_parameters()]
        self.control = zero_control(model) if cfg.method == "scaffold" else None
        self.dist: FeatureDistribution | None = None
        self.round = 0

    def broadcast(self) -> Broadcast:
        return Broadcast(self.round + 1, self.model_state, self.control, self.dist)

    def aggregate(self, results: list[ClientResult]) -> dict[str, float]:
        """Apply one round's client results; returns the round's divergence metrics."""
        self.round += 1
        results = sorted(results, key=lambda r: r.client)  # aggregation ignores arrival order
        weights = [float(r.n) for r in results]
        if self.cfg.method == "fednova":
            new_state = normalized_average(self.model_state, [r.model for r in results], weights,
                                           [r.steps for r in results], self.param_names,
                                           self.cfg.momentum)
        else:
            new_state = weighted_average([r.model for r in results], weights)
        div = metrics.weight_divergence(new_state, [r.model for r in results], self.param_names)
        layer = metrics.layerwise_divergence(new_state, [r.model for r in results], self.param_names)
        self.model_state = new_state
        if self.control is not None:
            k = len(results)
            for key in self.control:
                delta = sum(r.control_delta[key] for r in results) / k  # type: ignore[index]
                self.control[key] = self.control[key] + (k / self.n_clients) * delta
        if self.cfg.method == "fedimpro":
            self.dist = aggregate_distributions([r.dist for r in results], weights,  # type: ignore[misc]
                                                self.dist, momentum=self.cfg.impro.server_momentum,
                                                pooled=self.cfg.impro.pooled,
                                                presence=self.cfg.impro.presence_weights)
        out = {"weight_divergence": div}
        out.update({f"layer:{k}": v for k, v in layer.items()})
        return out


def sample_clients(seed: int, round_: int, n_clients: int, k: int) -> list[int]:
    """K distinct clients for round ``round_`` (seeded, independent of everything else)."""
    if k > n_clients:
        raise ValueError(f"clients_per_round ({k}) exceeds the number of clients ({n_clients})")
    rng = np.random.default_rng(derive_seed(seed, "sample", round_))
    return sorted(int(i) for i in rng.choice(n_clients, size=k, replace=False))


def measure(model: SplitModel, state: State, xs: list[torch.Tensor], ys: list[torch.Tensor],
            dist: FeatureDistribution | None, cfg: FedConfig, round_: int,
            seed: int) -> dict[str, float]:
    """The round's gradient dissimilarity (:func:`metrics.dissimilarity_row`): the real-data
    objective for every method; FedImpro's training loss and Thm 4.2's objective once H exists."""
    objectives = metrics.OBJECTIVES if cfg.method == "fedimpro" else ("real",)
    return metrics.dissimilarity_row(model, state, xs, ys, dist, objectives=objectives,
                                     ratio=cfg.impro.feature_ratio,
                                     fake_weight=fake_weight(cfg.impro, round_),
                                     batch_size=cfg.measure_batch, seed=seed)


@torch.no_grad()
def evaluate(model: SplitModel, state: State, x: torch.Tensor, y: torch.Tensor,
             batch: int = 1000) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``state`` on (x, y)."""
    model.load_state_dict(state)
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(y), batch):
        out = model(x[i:i + batch])
        loss += float(F.cross_entropy(out, y[i:i + batch], reduction="sum"))
        correct += int((out.argmax(1) == y[i:i + batch]).sum())
    model.train()
    return correct / len(y), loss / len(y)


@dataclass
class FedResult:
    config: FedConfig
    seed: int
    history: list[dict[str, float]]
    final_state: State
    dist: FeatureDistribution | None
    seconds: float


def run_federation(data: ImageData, parts: list[np.ndarray], cfg: FedConfig,
                   model_fn: Callable[[], SplitModel], *, seed: int, device: str = "cpu",
                   on_round: Callable[[int, dict[str, float]], None] | None = None) -> FedResult:
    """The in-process simulation: deterministic for a given (data, parts, cfg, seed, threads,
    device). The model is initialised on the CPU (the same weights on every device), then the
    clients' data, the test set and the model move to ``device``."""
    t0 = time.perf_counter()
    dev = torch.device(device)
    torch.manual_seed(derive_seed(seed, "init"))
    model = model_fn()
    server = Server(model, cfg, len(parts))
    model.to(dev)
    xs = [data.x_train[torch.as_tensor(p)].to(dev) for p in parts]
    ys = [data.y_train[torch.as_tensor(p)].to(dev) for p in parts]
    x_test, y_test = data.x_test.to(dev), data.y_test.to(dev)
    controls = {m: zero_control(model) for m in range(len(parts))} if cfg.method == "scaffold" else {}
    history: list[dict[str, float]] = []
    for r in range(1, cfg.rounds + 1):
        bc = server.broadcast()
        chosen = sample_clients(seed, r, len(parts), cfg.clients_per_round)
        results = []
        for m in chosen:
            res = run_client(model, bc, xs[m], ys[m], cfg, seed=seed, client=m,
                             n_classes=data.n_classes, control=controls.get(m))
            if res.control_delta is not None:
                controls[m] = {k: controls[m][k] + res.control_delta[k] for k in controls[m]}
            results.append(res)
        row: dict[str, float] = {"round": r, "train_loss": float(np.mean([x.loss for x in results]))}
        row.update(server.aggregate(results))
        if cfg.measure_every and (r % cfg.measure_every == 0 or r in (1, cfg.rounds)):
            row.update(measure(model, server.model_state, xs, ys, server.dist, cfg, r,
                               seed=derive_seed(seed, "gd", r)))
        if r % cfg.eval_every == 0 or r == cfg.rounds:
            row["test_acc"], row["test_loss"] = evaluate(model, server.model_state, x_test, y_test)
        history.append(row)
        if on_round is not None:
            on_round(r, row)
    return FedResult(cfg, seed, history, copy.deepcopy(server.model_state), server.dist,
                     time.perf_counter() - t0)
