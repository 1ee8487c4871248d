"""Quick start: a batch, a timeout and a retry through the in-memory transport.

Run: ``python examples/quickstart.py`` (or ``make demo``). Needs no network: the "service" is a
handler function called once per request.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import trio

import pynector


async def lookup(data: Any, **options: Any) -> Any:
    """A pretend service: squares numbers, is sometimes slow, sometimes drops the connection."""
    rng: random.Random = options["rng"]
    roll = rng.random()
    if roll < 0.05:
        raise ConnectionResetError(104, "connection reset by peer")
    await trio.sleep(0.002 if roll < 0.95 else 0.5)
    return {"n": data, "square": data * data}


async def main(items: int = 2_000) -> dict[str, int]:
    rng = random.Random(7)
    async with pynector.Pynector(transport_type="memory", handler=lookup) as client:
        start = trio.current_time()
        results = await client.batch_request(
            [(n, {"timeout": 0.1}) for n in range(items)], max_concurrency=50, timeout=30, rng=rng
        )
        elapsed = trio.current_time() - start
        outcome = Counter("ok" if isinstance(r, dict) else type(r).__name__ for r in results)
        print(f"{items} requests in {elapsed:.2f}s, 50 in flight:")
        for kind, count in sorted(outcome.items()):
            print(f"  {kind:>14}: {count}")
        # One more, retried with backoff until it gets through.
        reply = await client.request_with_retry(12, max_retries=5, retry_delay=0.01, rng=rng)
        print(f"with retries: 12 squared is {reply['square']}")
    return dict(outcome)


if __name__ == "__main__":
    trio.run(main)
