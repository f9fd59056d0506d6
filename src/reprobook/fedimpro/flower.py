"""FedImpro on a real federation: a Flower (``flwr`` >= 1.42, Message API) Strategy and ClientApp.

The strategy wraps :class:`reprobook.fedimpro.federation.Server` (FedAvg of the model weighted by
sample counts, FedNova's normalised averaging from the clients' step counts, FedImpro's shared H,
paper Eq. 7) and the ClientApp wraps
:func:`reprobook.fedimpro.federation.run_client`, so Flower runs exactly the algorithm the notebooks
run in-process. The run's setup (data, partition, model) and :class:`FedConfig` travel as JSON in the
train config; each client loads its own partition (``node_config["partition-id"]``).

Differences from the in-process loop, by design: Flower samples clients with its own random
generator (the in-process loop's seeded sampler cannot address Flower's node ids), so the two agree
when every client is sampled each round (``fraction_train=1``, as the equivalence test does).
SCAFFOLD needs per-client state across rounds and is not offered here.

Run it with :func:`simulate` (Flower's simulation engine, Ray) or deploy ``client_app`` and a
``ServerApp`` built by :func:`server_app` with ``flwr run``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from typing import Any, Iterable

import numpy as np
import torch

from reprobook.core.seeds import derive_seed

from .experiments import Setup, cached_data, partition_for
from .features import FeatureDistribution
from .federation import Broadcast, ClientResult, FedConfig, Server, run_client
from .methods import ImproConfig

for _k, _v in {"FLWR_TELEMETRY_ENABLED": "0", "RAY_USAGE_STATS_ENABLED": "0",
               "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0", "RAY_DEDUP_LOGS": "0"}.items():
    os.environ.setdefault(_k, _v)

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.serverapp import Grid, ServerApp  # noqa: E402
from flwr.serverapp.strategy import FedAvg  # noqa: E402

State = dict[str, torch.Tensor]


def to_record(state: State) -> ArrayRecord:
    return ArrayRecord({k: Array(np.ascontiguousarray(v.detach().cpu().numpy())) for k, v in state.items()})


def from_record(record: ArrayRecord) -> State:
    return {k: torch.from_numpy(np.array(a.numpy())) for k, a in record.items()}


def dist_to_record(d: FeatureDistribution) -> ArrayRecord:
    out = {"mu": d.mu, "var": d.var}
    if d.seen is not None:
        out["seen"] = d.seen.to(torch.uint8)
    return to_record(out)


def dist_from_record(record: ArrayRecord) -> FeatureDistribution:
    s = from_record(record)
    return FeatureDistribution(s["mu"], s["var"], s["seen"].bool() if "seen" in s else None)


def encode_run(setup: Setup, cfg: FedConfig, seed: int) -> str:
    return json.dumps({"setup": asdict(setup), "config": cfg.to_dict(), "seed": seed})


def decode_run(text: str) -> tuple[Setup, FedConfig, int]:
    d = json.loads(text)
    conf = dict(d["config"])
    conf["impro"] = ImproConfig(**conf["impro"])
    return Setup(**d["setup"]), FedConfig(**conf), int(d["seed"])


client_app = ClientApp()


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    """One client's round: local training from the broadcast model (and H) on its partition."""
    pid = int(context.node_config["partition-id"])
    conf = msg.content["config"]
    setup, cfg, seed = decode_run(str(conf["run"]))
    torch.set_num_threads(1)
    data = cached_data(setup.dataset, setup.side)
    part = partition_for(setup, seed)[pid]
    model = setup.model_fn(data)
    dist = dist_from_record(msg.content["dist"]) if "dist" in msg.content else None
    bc = Broadcast(int(conf["server-round"]), from_record(msg.content["arrays"]), None, dist)
    idx = torch.as_tensor(part)
    res = run_client(model, bc, data.x_train[idx], data.y_train[idx], cfg, seed=seed, client=pid,
                     n_classes=data.n_classes)
    content = RecordDict({"arrays": to_record(res.model),
                          "metrics": MetricRecord({"num-examples": res.n, "partition-id": pid,
                                                   "train-loss": res.loss, "steps": res.steps})})
    if res.dist is not None:
        content["dist"] = dist_to_record(res.dist)
    return Message(content=content, reply_to=msg)


class FedImproStrategy(FedAvg):
    """Flower's FedAvg strategy with the book's server step (:class:`Server`): FedAvg, FedProx,
    FedNova and FedImpro (its shared feature distribution travels beside the model)."""

    def __init__(self, server: Server, **kwargs: Any):
        super().__init__(**kwargs)
        self.server = server
        self.history: list[dict[str, float]] = []

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        messages = list(super().configure_train(server_round, arrays, config, grid))
        if self.server.dist is not None:
            record = dist_to_record(self.server.dist)
            for m in messages:
                m.content["dist"] = record
        return messages

    def aggregate_train(self, server_round: int, replies: Iterable[Message]
                        ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        failed = [m for m in replies if m.has_error()]
        if failed or len(replies) < self.min_train_nodes:
            raise RuntimeError(f"round {server_round}: {len(replies)} replies (need "
                               f"{self.min_train_nodes}); errors: {[m.error.reason for m in failed]}")
        results = []
        for m in replies:
            met = m.content["metrics"]
            results.append(ClientResult(
                client=int(met["partition-id"]), n=int(met["num-examples"]),
                model=from_record(m.content["arrays"]), loss=float(met["train-loss"]),
                steps=int(met["steps"]),
                dist=dist_from_record(m.content["dist"]) if "dist" in m.content else None))
        row = self.server.aggregate(results)
        self.history.append({"round": server_round, "weight_divergence": row["weight_divergence"]})
        loss = float(np.average([r.loss for r in results], weights=[r.n for r in results]))
        return to_record(self.server.model_state), MetricRecord({"train-loss": loss})


def server_app(setup: Setup, cfg: FedConfig, seed: int, out: dict[str, Any],
               fraction_train: float = 1.0) -> ServerApp:
    """A ServerApp running ``cfg.rounds`` rounds; the final state and H are put in ``out``."""
    if cfg.method == "scaffold":
        raise ValueError("SCAFFOLD keeps per-client control variates across rounds; the Flower "
                         "strategy offers fedavg, fedprox, fednova and fedimpro")
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        data = cached_data(setup.dataset, setup.side)
        torch.manual_seed(derive_seed(seed, "init"))  # the same initial model as run_federation
        model = setup.model_fn(data)
        server = Server(model, cfg, setup.n_clients)
        strategy = FedImproStrategy(server, fraction_train=fraction_train, fraction_evaluate=0.0,
                                    min_train_nodes=max(1, int(fraction_train * setup.n_clients)),
                                    min_available_nodes=setup.n_clients)
        strategy.start(grid=grid, initial_arrays=to_record(server.model_state), num_rounds=cfg.rounds,
                       train_config=ConfigRecord({"run": encode_run(setup, cfg, seed)}))
        out["state"] = {k: v.clone() for k, v in server.model_state.items()}
        out["dist"] = server.dist
        out["history"] = strategy.history

    return app


def simulate(setup: Setup, cfg: FedConfig, seed: int, *, fraction_train: float = 1.0,
             num_cpus: int = 2, quiet: bool = True) -> dict[str, Any]:
    """Run the federation through Flower's simulation engine; returns the final global state."""
    from flwr.simulation import run_simulation

    if quiet:
        logging.getLogger("flwr").setLevel(logging.ERROR)
    out: dict[str, Any] = {}
    run_simulation(server_app=server_app(setup, cfg, seed, out, fraction_train), client_app=client_app,
                   num_supernodes=setup.n_clients,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"num_cpus": num_cpus, "num_gpus": 0,
                                                 "include_dashboard": False,
                                                 "logging_level": "ERROR", "log_to_driver": not quiet}})
    if "state" not in out:
        raise RuntimeError("the Flower simulation ended without a final model (see the log above)")
    return out
