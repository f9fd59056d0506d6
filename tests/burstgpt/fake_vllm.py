"""A stand-in for vLLM's OpenAI server, for testing the client on a machine without a GPU.

It streams ``max_tokens`` chunks per completion (after a "prefill" delay proportional to the
prompt length), and serves /health and a Prometheus /metrics page with the metric names vLLM
uses. Run as a script (``python fake_vllm.py --port P``) or in-process via :func:`make_app`.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiohttp import web

PREFILL_S_PER_TOKEN = 1e-5
DECODE_S = 0.002


def make_app(truncate_after: int | None = None) -> web.Application:
    """``truncate_after``: stop every stream after that many tokens, without usage or [DONE]
    (a server that died mid-stream)."""
    state = {"running": 0, "preemptions": 0, "served": 0}

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics(_: web.Request) -> web.Response:
        usage = min(1.0, state["running"] / 10)
        return web.Response(text=(
            "# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage.\n"
            "# TYPE vllm:gpu_cache_usage_perc gauge\n"
            f'vllm:gpu_cache_usage_perc{{model_name="model"}} {usage}\n'
            f'vllm:num_preemptions_total{{model_name="model"}} {state["preemptions"]}\n'
            f'vllm:num_requests_running{{model_name="model"}} {state["running"]}\n'))

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not isinstance(body.get("prompt"), list) or not body.get("ignore_eos"):
            return web.json_response({"error": "expected token ids and ignore_eos"}, status=400)
        state["running"] += 1
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        try:
            await asyncio.sleep(PREFILL_S_PER_TOKEN * len(body["prompt"]))
            n = int(body["max_tokens"])
            for k in range(n):
                if truncate_after is not None and k >= truncate_after:
                    return resp
                chunk = {"choices": [{"index": 0, "text": " t9", "finish_reason": None}]}
                await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
                await asyncio.sleep(DECODE_S)
            if body.get("stream_options", {}).get("include_usage"):
                usage = {"choices": [], "usage": {"prompt_tokens": len(body["prompt"]),
                                                  "completion_tokens": n}}
                await resp.write(f"data: {json.dumps(usage)}\n\n".encode())
            await resp.write(b"data: [DONE]\n\n")
        finally:
            state["running"] -= 1
            state["served"] += 1
            state["preemptions"] += 1 if state["served"] % 3 == 0 else 0
        return resp

    app = web.Application()
    app.add_routes([web.get("/health", health), web.get("/metrics", metrics),
                    web.post("/v1/completions", completions)])
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("serve", nargs="?")
    parser.add_argument("model", nargs="?")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fail", action="store_true", help="exit at once (a broken server)")
    args, _ = parser.parse_known_args()  # accepts vllm serve's other flags
    if args.fail:
        raise SystemExit(3)
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None)
