"""What pynector adds on top of a raw SDK call, measured against a loopback fake of each API.

For each provider, the same N prompts go to the same loopback fake (tests/helpers/fake_llm_api.py) at the same
concurrency, three ways:

- raw: the SDK client alone, one task per prompt under a ``trio.CapacityLimiter`` (what people write);
- pynector: ``client.batch_request`` through the sdk transport (worker pool, error translation,
  usage accounting);
- pynector + deadline: the same with a per-call ``timeout`` (one ``trio.fail_after`` per call).

It prints the median of interleaved runs per way, microseconds per call, and the ratio to raw. The
fake and the SDK dominate the cost; the ratio shows pynector's share.

Run: ``python benchmarks/sdk_overhead.py`` (about a minute).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.fake_llm_api import ANTHROPIC, OPENAI, FakeLLMAPI

import pynector

N = 200
CONCURRENCY = 16
RUNS = 7
KEY = "sk-benchmark"


def raw_call(provider: str, sdk: Any, prompt: str) -> Awaitable[Any]:
    messages = [{"role": "user", "content": prompt}]
    if provider == OPENAI:
        return sdk.chat.completions.create(model="m", messages=messages)  # type: ignore[no-any-return]
    return sdk.messages.create(model="m", max_tokens=64, messages=messages)  # type: ignore[no-any-return]


Batch = Callable[[list[str]], Awaitable[None]]


@asynccontextmanager
async def raw_sdk(provider: str, api: FakeLLMAPI) -> AsyncIterator[Batch]:
    module = __import__(provider)
    cls = module.AsyncOpenAI if provider == OPENAI else module.AsyncAnthropic
    sdk = cls(api_key=KEY, base_url=api.base_url, max_retries=0)
    limiter = trio.CapacityLimiter(CONCURRENCY)

    async def batch(prompts: list[str]) -> None:
        results: list[Any] = [None] * len(prompts)

        async def one(index: int, prompt: str) -> None:
            async with limiter:
                results[index] = await raw_call(provider, sdk, prompt)

        async with trio.open_nursery() as nursery:
            for index, prompt in enumerate(prompts):
                nursery.start_soon(one, index, prompt)

    try:
        await raw_call(provider, sdk, "warm up")
        yield batch
    finally:
        await sdk.close()


def with_pynector(timeout: float | None) -> Callable[[str, FakeLLMAPI], AbstractAsyncContextManager[Batch]]:
    @asynccontextmanager
    async def way(provider: str, api: FakeLLMAPI) -> AsyncIterator[Batch]:
        client = pynector.Pynector(
            transport_type="sdk", provider=provider, api_key=KEY, base_url=api.base_url, model="m"
        )
        item: dict[str, Any] = {} if timeout is None else {"timeout": timeout}

        async def batch(prompts: list[str]) -> None:
            pairs = [(p, item) for p in prompts]
            await client.batch_request(pairs, max_concurrency=CONCURRENCY, raise_on_error=True)

        async with client:
            await client.request("warm up")
            yield batch

    return way


async def run_once(
    provider: str, way: Callable[[str, FakeLLMAPI], AbstractAsyncContextManager[Batch]]
) -> float:
    """Seconds per call for one batch of N prompts against a fresh fake (setup and warm-up untimed)."""
    prompts = [f"prompt number {i}" for i in range(N)]
    async with trio.open_nursery() as nursery:
        api = FakeLLMAPI(provider)
        await nursery.start(api.serve)
        async with way(provider, api) as batch:
            start = time.perf_counter()
            await batch(prompts)
            elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return elapsed / N


async def main() -> None:
    print(f"{N} prompts, concurrency {CONCURRENCY}, median of {RUNS} interleaved runs, loopback fake API")
    ways = [
        ("raw SDK + CapacityLimiter", raw_sdk),
        ("pynector batch_request", with_pynector(None)),
        ("pynector batch_request + timeout", with_pynector(30.0)),
    ]
    for provider in (OPENAI, ANTHROPIC):
        try:
            __import__(provider)
        except ImportError:
            print(f"{provider}: not installed (pip install 'pynector-trio[{provider}]'), skipped")
            continue
        samples: dict[str, list[float]] = {name: [] for name, _ in ways}
        for _ in range(RUNS):  # interleaved, so drift in machine load hits every way alike
            for name, run in ways:
                samples[name].append(await run_once(provider, run))
        baseline = statistics.median(samples[ways[0][0]])
        for name, _ in ways:
            per_call = statistics.median(samples[name])
            print(f"{provider:9} {name:34} {per_call * 1e6:8.0f} us/call  x{per_call / baseline:.2f}")


if __name__ == "__main__":
    trio.run(main)
