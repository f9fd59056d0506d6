from __future__ import annotations

import numpy as np
import pytest

from reprobook.burstgpt import generator as G
from reprobook.burstgpt.latency import LatencyModel
from reprobook.burstgpt.simulator import ServerConfig, simulate


def workload(rate: float, shape: float, duration: float, seed: int, max_len: int = 1500):
    rng = np.random.default_rng(seed)
    t = G.gamma_arrivals(rate, shape, duration, rng)
    req = rng.integers(16, max_len, t.size)
    res = rng.integers(1, 400, t.size)
    return G.Workload("w", t, req, res)


@pytest.fixture(scope="module", params=[True, False], ids=["v1-chunked", "v0"])
def tight(request):
    """A small cache and a timeout so that preemption and failures happen (both schedulers)."""
    w = workload(4.0, 0.1, 600, 0)
    return w, simulate(w, config=ServerConfig(num_blocks=1500, timeout_s=20,
                                              chunked_prefill=request.param))


def test_conservation_and_completion(tight):
    w, r = tight
    req = r.requests
    assert len(req) == w.n  # completed + failed = arrived (nothing in flight at the end)
    assert req["finish"].notna().all()
    done = req[~req["failed"]]
    assert (done["generated"] == done["output"]).all()  # tokens generated = requested
    assert (done["first_token"] >= done["arrival"]).all()
    assert (done["finish"] >= done["first_token"]).all()
    assert req["failed"].sum() > 0 and (req.loc[req["failed"], "reason"] == "timeout").any()


def test_kv_blocks_bounded_and_freed(tight):
    _, r = tight
    assert r.counters["max_used_blocks"] <= r.num_blocks
    assert r.kv["used_blocks"].max() <= r.num_blocks and r.kv["used_blocks"].min() >= 0
    assert r.counters["final_used_blocks"] == 0 and r.kv["used_blocks"].iloc[-1] == 0
    assert r.requests["preemptions"].sum() > 0  # the tight cache forces recomputation


@pytest.mark.parametrize("chunked", [True, False])
def test_batch_limits_respected(chunked):
    w = workload(30.0, 1.0, 60, 1)
    cfg = ServerConfig(max_num_seqs=8, timeout_s=None, chunked_prefill=chunked)
    r = simulate(w, config=cfg)
    assert r.counters["max_batch_seqs"] <= 8
    assert r.counters["max_batched_tokens"] <= cfg.max_num_batched_tokens
    assert not r.requests["failed"].any()


@pytest.mark.parametrize("chunked", [True, False])
@pytest.mark.parametrize("rate,shape,blocks,timeout", [(3.0, 0.2, 1200, 15.0), (1.0, 1.0, None, None)])
def test_decode_runs_equal_single_steps(chunked, rate, shape, blocks, timeout):
    """Advancing runs of identical decode steps at once gives exactly the schedule of stepping
    one iteration at a time, preemptions and timeouts included."""
    w = workload(rate, shape, 300, 7)
    cfg = ServerConfig(num_blocks=blocks, timeout_s=timeout, chunked_prefill=chunked)
    fast, slow = simulate(w, config=cfg), simulate(w, config=cfg, decode_runs=False)
    cols = ["failed", "preemptions", "generated", "reason"]
    assert fast.requests[cols].equals(slow.requests[cols])
    for col in ("first_token", "finish"):  # summed in another order: equal up to rounding
        np.testing.assert_allclose(fast.requests[col], slow.requests[col], rtol=1e-9)
    assert fast.counters["iterations"] == slow.counters["iterations"]
    assert fast.counters["macro_steps"] < slow.counters["macro_steps"]


def test_v1_chunks_a_long_prompt_and_mixes_it_with_decodes():
    """vLLM V1: a 3000-token prompt under a 1024-token budget takes three iterations; a request
    already decoding keeps producing a token in each of them."""
    lat = LatencyModel()
    w = G.Workload("two", np.array([0.0, 0.001]), np.array([50, 3000]), np.array([200, 5]))
    cfg = ServerConfig(max_num_batched_tokens=1024, max_num_seqs=4)
    r = simulate(w, latency=lat, config=cfg, decode_runs=False)
    t0 = lat.step([(50, 0)], 0, 0)
    assert r.requests.loc[0, "first_token"] == pytest.approx(t0)
    # then: decode (1 token) + a chunk of 1023, decode + 1023 (ctx 1023), decode + 954 (ctx 2046)
    t = t0 + lat.step([(1023, 0)], 1, 50) + lat.step([(1023, 1023)], 1, 51) \
        + lat.step([(954, 2046)], 1, 52)
    assert r.requests.loc[1, "first_token"] == pytest.approx(t, rel=1e-12)
    assert r.counters["max_batched_tokens"] == 1024


def test_the_mixed_step_reduces_to_prefill_and_decode():
    lat = LatencyModel()
    assert lat.step([(100, 0), (300, 0)], 0, 0) == pytest.approx(lat.prefill(np.array([100, 300])))
    assert lat.step([], 7, 5000) == pytest.approx(float(lat.decode(7, 5000)))


def test_macro_steps_equal_single_steps():
    """Advancing runs of decode steps at once gives the same schedule as an isolated request."""
    lat = LatencyModel()
    w = G.Workload("one", np.array([0.0]), np.array([100]), np.array([50]))
    r = simulate(w, latency=lat)
    expected = lat.prefill(np.array([100])) + float(np.sum(lat.decode(1, 100 + np.arange(49))))
    assert r.requests.loc[0, "finish"] == pytest.approx(expected, rel=1e-12)
    assert r.requests.loc[0, "first_token"] == pytest.approx(lat.prefill(np.array([100])))


def test_bursty_arrivals_hurt_the_tail():
    p99 = {}
    for name, shape in (("poisson", 1.0), ("gamma", 0.1)):
        r = simulate(workload(3.0, shape, 1200, 3), config=ServerConfig(num_blocks=3000))
        p99[name] = r.summary()["ttft_p99"]
    assert p99["gamma"] >= p99["poisson"]


def test_requests_that_cannot_fit_fail_at_arrival():
    w = G.Workload("w", np.array([0.0, 1.0]), np.array([4000, 10]), np.array([200, 10]))
    r = simulate(w)
    assert r.requests.loc[0, "reason"] == "longer than max_model_len"
    assert not r.requests.loc[1, "failed"]


def test_invalid_config():
    with pytest.raises(ValueError, match="max_model_len"):
        ServerConfig(max_num_batched_tokens=2048, max_model_len=4096, chunked_prefill=False)
    ServerConfig(max_num_batched_tokens=2048, max_model_len=4096)  # fine with chunked prefill
    with pytest.raises(ValueError, match="max_num_seqs"):
        ServerConfig(max_num_batched_tokens=128, max_num_seqs=256)


def test_latency_model_roofline():
    lat = LatencyModel(overhead_s=0.0)
    m = lat.model
    assert m.kv_bytes_per_token == 524_288  # Llama-2-7B fp16 (brief)
    # a single-token decode is memory bound: weights / (BW * MBU)
    assert lat.decode(1, 0) == pytest.approx(m.weight_bytes / (lat.gpu.bandwidth * lat.mbu))
    # a long prefill is compute bound and grows with tokens
    assert lat.prefill(np.array([4000])) > lat.prefill(np.array([2000])) > lat.decode(1, 0)


@pytest.mark.parametrize("b,cached", [(1, 0), (8, 5000), (200, 300_000), (64, 10)])
def test_decode_total_is_the_sum_of_the_steps(b, cached):
    """The closed form over a run equals summing the vectorised step times (both regimes)."""
    lat = LatencyModel()
    steps = lat.decode(b, cached + b * np.arange(400))
    for k in (1, 7, 400):
        assert lat.decode_total(b, cached, k) == pytest.approx(float(steps[:k].sum()), rel=1e-12)
    ends = np.cumsum(steps)
    for span in (ends[0] / 2, ends[10] * (1 - 1e-9), ends[10] * (1 + 1e-9), ends[-1] * 2):
        want = min(int(np.searchsorted(ends, span, side="left")) + 1, 400)
        assert lat.decode_steps_within(b, cached, 400, span) == want
