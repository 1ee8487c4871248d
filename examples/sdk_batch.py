"""Batch, retry and stream OpenAI chat completions through pynector, offline.

Runs the real ``openai`` SDK (``pip install 'pynector-trio[openai]'``) against a tiny fake of the chat
completions API served on 127.0.0.1, so it needs no network and no key, and finishes by itself::

    python examples/sdk_batch.py

Point ``base_url`` at the real API (and drop the fake) to use it for real.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import trio

import pynector
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, serve_http
from pynector.transport import sum_usage

PROMPTS = [f"Summarise document number {n}" for n in range(12)]


# --- a tiny fake of POST /v1/chat/completions (replies "echo: <prompt>") ---------------------------


def _completion(prompt: str) -> dict[str, object]:
    text = f"echo: {prompt}"
    usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    message = {"role": "assistant", "content": text}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [choice],
        "usage": usage,
    }


def _chunk(content: str | None) -> bytes:
    delta = {} if content is None else {"content": content}
    choice = {"index": 0, "delta": delta, "finish_reason": None if content else "stop"}
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [choice]}
    return f"data: {json.dumps(chunk)}\n\n".encode()


def fake_openai() -> Callable[[HTTPRequest, ServerConnection], HTTPResponse]:
    """A handler for pynector's loopback HTTP server that plays POST /v1/chat/completions."""
    rate_limited: set[str] = set()

    def answer(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        call = request.json()
        prompt = call["messages"][-1]["content"]
        if "retry" in prompt and prompt not in rate_limited:  # the first try gets a 429
            rate_limited.add(prompt)
            return HTTPResponse.json({}, status=429, headers=[("retry-after", "0.5")])
        if call.get("stream"):
            words = f"echo: {prompt}".split(" ")
            chunks = [_chunk(w if i == 0 else " " + w) for i, w in enumerate(words)]
            events = [*chunks, _chunk(None), b"data: [DONE]\n\n"]  # sent one event per chunk
            return HTTPResponse(200, [("content-type", "text/event-stream")], events)
        return HTTPResponse.json(_completion(prompt))

    return answer


# --- the example ---------------------------------------------------------------------------------


async def main() -> None:
    """Run a batch, a retried call and a stream against the fake API."""
    try:
        import openai  # noqa: F401
    except ImportError:
        print("This example needs the OpenAI SDK: pip install 'pynector-trio[openai]'")
        return
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_http, fake_openai())
        async with pynector.Pynector(
            transport_type="sdk",
            provider="openai",
            api_key="sk-example-not-a-real-key",
            base_url=f"{server.url}/v1",
            model="gpt-4o-mini",
            config={"timeout": 10.0},  # each call's total deadline, enforced by trio
            temperature=0,  # a default call argument sent with every request
        ) as client:
            # 12 prompts, at most 4 in flight, replies in input order.
            replies = await client.batch_request([(p, {}) for p in PROMPTS], max_concurrency=4)
            for prompt, reply in zip(PROMPTS, replies, strict=True):
                print(f"{prompt!r} -> {reply!r}")
            print("batch usage:", sum_usage(replies))

            # The fake answers 429 with Retry-After: 0.5 first; pynector waits 0.5 s and retries.
            start = trio.current_time()
            reply = await client.request_with_retry("please retry me")
            print(f"after a 429: {reply!r} ({trio.current_time() - start:.1f}s)")

            # Text deltas as they arrive; the SDK stream is closed when the block exits.
            print("streamed: ", end="")
            async with client.stream("stream this sentence") as deltas:
                async for delta in deltas:
                    print(delta, end="", flush=True)
            print()
            print("client usage:", client.transport.usage())  # type: ignore[attr-defined]
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
