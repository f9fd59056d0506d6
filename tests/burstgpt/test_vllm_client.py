"""The vLLM client and orchestration, against a stand-in server on loopback (no GPU here)."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("aiohttp")

from reprobook.burstgpt import generator as G  # noqa: E402
from reprobook.burstgpt import vllm_client as V  # noqa: E402
from reprobook.burstgpt.latency import LatencyModel  # noqa: E402
from reprobook.burstgpt.simulator import ServerConfig, simulate  # noqa: E402

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake_server(request):
    from aiohttp import web

    sys.path.insert(0, str(HERE))
    import fake_vllm

    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(fake_vllm.make_app(getattr(request, "param", None)))
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_run_workload_measures_every_request(fake_server):
    w = G.Workload("w", np.array([0.0, 0.05, 0.06, 0.3]), np.array([100, 2000, 10, 50]),
                   np.array([5, 3, 1, 20]))
    r = V.run_workload(w, fake_server, timeout_s=10, poll_s=0.05)
    req = r.requests
    assert not req["failed"].any()
    assert (req["generated"] == req["output"]).all()  # exactly the requested lengths
    assert (req["first_token"] >= req["arrival"]).all()
    assert (req["finish"] >= req["first_token"]).all()
    # the stand-in's prefill takes 1e-5 s per prompt token: the 2000-token prompt waits >= 20 ms
    assert req.loc[1, "first_token"] - req.loc[1, "arrival"] >= 0.02
    s = r.summary()
    assert s["completed"] == 4 and 0 <= s["kv_peak"] <= 1 and s["preemptions"] >= 0
    assert len(r.kv) >= 2


@pytest.mark.parametrize("fake_server", [2], indirect=True)
def test_a_truncated_stream_is_a_failure(fake_server):
    """A stream that stops before the final usage and [DONE] is not a completed request."""
    w = G.Workload("w", np.array([0.0, 0.01, 0.02]), np.array([10, 10, 10]), np.array([5, 3, 2]))
    r = V.run_workload(w, fake_server, timeout_s=10, poll_s=0.05)
    assert r.requests["failed"].tolist() == [True, True, False]
    assert r.requests["reason"].tolist() == ["truncated stream", "truncated stream", ""]
    assert r.requests["generated"].tolist() == [2, 2, 2]


def test_unreachable_server_counts_failures():
    w = G.Workload("w", np.array([0.0, 0.01]), np.array([10, 10]), np.array([2, 2]))
    r = V.run_workload(w, f"http://127.0.0.1:{free_port()}", timeout_s=2, poll_s=0.05)
    assert r.requests["failed"].all()
    assert set(r.requests["reason"]) <= {"ClientConnectorError", "ConnectionRefusedError",
                                         "OSError", "ClientOSError"}


class FakeSpec(V.VLLMServerSpec):
    """The real command line with the stand-in server in place of vLLM's module."""

    def command(self) -> list[str]:
        cmd = super().command()
        assert cmd[1:3] == ["-m", "vllm.entrypoints.cli.main"]
        return [sys.executable, str(HERE / "fake_vllm.py"), *cmd[3:]]


def test_serve_starts_waits_and_stops(tmp_path):
    spec = FakeSpec(model_dir=tmp_path, port=free_port())
    with V.serve(spec, startup_timeout_s=60, log=tmp_path / "server.log") as s:
        assert V._get(s.base_url + "/health") == "ok"
    with pytest.raises(OSError):
        V._get(spec.base_url + "/health", timeout=1)


def test_a_server_that_dies_is_reported(tmp_path):
    spec = FakeSpec(model_dir=tmp_path, port=free_port(), extra_args=("--fail",))
    with pytest.raises(RuntimeError, match="exited with status 3"):
        with V.serve(spec, startup_timeout_s=60):
            pass


def test_real_command_line(tmp_path):
    cmd = V.VLLMServerSpec(tmp_path, python="/opt/vllm/bin/python", port=9000).command()
    assert cmd[:5] == ["/opt/vllm/bin/python", "-m", "vllm.entrypoints.cli.main", "serve",
                       str(tmp_path)]
    joined = " ".join(cmd)
    for flag in ("--load-format dummy", "--block-size 16", "--max-num-batched-tokens 8192",
                 "--max-model-len 4096", "--port 9000", "--enable-chunked-prefill",
                 "--no-enable-prefix-caching"):
        assert flag in joined
    assert "--disable-log-requests" not in joined  # removed in vLLM 0.12 (issue of this book)
    v0 = V.VLLMServerSpec(tmp_path, config=ServerConfig(chunked_prefill=False)).command()
    assert "--no-enable-chunked-prefill" in v0 and "--max-num-batched-tokens" in v0


def test_command_line_parses_with_the_installed_vllm(tmp_path):
    """Against vLLM's own argument parser where vLLM is installed (GPU machines)."""
    pytest.importorskip("vllm", reason="vLLM is not installed here (it needs the vllm extra)")
    try:
        from vllm.entrypoints.openai.cli_args import make_arg_parser
        try:
            from vllm.utils.argparse_utils import FlexibleArgumentParser
        except ImportError:
            from vllm.utils import FlexibleArgumentParser
    except ImportError as exc:
        pytest.fail(f"vLLM's CLI moved: {exc}; update VLLMServerSpec.command")
    cmd = V.VLLMServerSpec(tmp_path, port=9000).command()
    args = make_arg_parser(FlexibleArgumentParser()).parse_args(cmd[5:])
    assert args.max_num_batched_tokens == 8192 and args.load_format == "dummy"


def test_model_dir_has_llama_sizes_and_a_working_tokenizer(tmp_path):
    d = V.write_model_dir(tmp_path / "m")
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 32 and cfg["hidden_size"] == 4096
    assert cfg["num_key_value_heads"] * (cfg["hidden_size"] // cfg["num_attention_heads"]) == 4096
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(d / "tokenizer.json"))
    assert tok.get_vocab_size() == V.VOCAB_SIZE
    assert tok.encode("t5 t31999").ids == [5, 31999]


def test_parse_metrics():
    text = ('# HELP x\nvllm:gpu_cache_usage_perc{model_name="a"} 0.5\n'
            'vllm:num_preemptions_total{model_name="a",x="1"} 3.0\nother 1e3\n')
    assert V.parse_metrics(text) == {"vllm:gpu_cache_usage_perc": 0.5,
                                     "vllm:num_preemptions_total": 3.0, "other": 1000.0}


def test_calibration_recovers_known_efficiencies():
    rng = np.random.default_rng(0)
    truth = LatencyModel(mfu=0.4, mbu=0.6, overhead_s=0.004)
    cfg = ServerConfig()
    measured = {}
    for name, rate in (("low", 0.5), ("high", 2.0)):
        t = G.gamma_arrivals(rate, 1.0, 120, rng)
        w = G.Workload(name, t, rng.integers(50, 2000, t.size), rng.integers(5, 300, t.size))
        measured[name] = (w, simulate(w, truth, cfg))
    fitted, grid = V.calibrate(measured, LatencyModel(), cfg,
                               mfu_grid=np.array([0.3, 0.4, 0.5]), mbu_grid=np.array([0.5, 0.6, 0.7]),
                               overhead_grid=np.array([0.002, 0.004]))
    assert (fitted.mfu, fitted.mbu, fitted.overhead_s) == (0.4, 0.6, 0.004)
    assert grid.iloc[0]["error"] == pytest.approx(0.0, abs=1e-12)


def test_the_gpu_smoke_check_serves_a_burst(tmp_path, monkeypatch):
    """The check's plumbing on the CPU: the stand-in server in place of vLLM."""
    from reprobook.burstgpt import gpu_smoke
    from reprobook.core.gpusmoke import Skip

    monkeypatch.setenv("REPROBOOK_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("REPROBOOK_VLLM_PYTHON", str(tmp_path / "nope" / "python"))
    with pytest.raises(Skip, match="no vLLM environment"):
        gpu_smoke.vllm_burst("cpu", tiny=True)
    monkeypatch.setenv("REPROBOOK_VLLM_PYTHON", sys.executable)
    monkeypatch.setattr(gpu_smoke, "SPEC", FakeSpec)
    out = gpu_smoke.vllm_burst("cpu", tiny=True)
    assert out["requests"] > 0 and out["completed"] == out["requests"]
    assert out["tokens"] > 0 and out["ttft_p50_s"] >= 0
