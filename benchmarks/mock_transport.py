"""What MockTransport's routing and recording cost per request, against MemoryTransport.

MemoryTransport (one handler call per exchange) is the floor: the client, its checkpoints and the
handler call. MockTransport adds route matching (first match wins, so a request matching the last of
N routes pays N checks), picking the scripted step and recording the call with its timing; with
``respond(status=200, json=...)`` it also builds a real ``pynector.http.Response`` per request. Test
suites make thousands of requests, not millions, so the target is only that the mock stays within a
small factor of the floor (a few microseconds per request), including in a batch.

Run: ``.venv/bin/python benchmarks/mock_transport.py`` (about 10 seconds).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

import pynector
from pynector.testing import MockTransport

REQUESTS = 5_000
ROUNDS = 5
REQUEST = {"method": "GET", "url": "/v1/items/7"}


def handler(data: Any, **options: Any) -> str:
    """The memory transport's answer."""
    return "ok"


def mock_with_routes(count: int) -> MockTransport:
    """A mock whose matching route is the last of *count*."""
    mock = MockTransport()
    for index in range(count - 1):
        mock.route("GET", f"/v1/other/{index}").respond("no")
    mock.route("GET", "/v1/items/7").respond("ok")
    return mock


def mock_with_http_response() -> MockTransport:
    """A mock answering a real HTTP response built from fields (JSON body, headers) per request."""
    mock = MockTransport()
    mock.route("GET", "/v1/items/7").respond(status=200, json={"id": 7}, headers={"X-Id": "7"})
    return mock


async def sequential(client: pynector.Pynector) -> None:
    """REQUESTS requests one after the other."""
    for _ in range(REQUESTS):
        await client.request(REQUEST)


async def batch(client: pynector.Pynector) -> None:
    """REQUESTS requests as one batch, 64 in flight."""
    await client.batch_request([(REQUEST, {})] * REQUESTS, max_concurrency=64)


def measure(
    make_transport: Callable[[], Any], workload: Callable[[pynector.Pynector], Awaitable[None]]
) -> float:
    """Median microseconds per request over ROUNDS runs, each with a fresh transport."""
    samples = []
    for _ in range(ROUNDS):
        transport = make_transport()

        async def main(transport: Any = transport) -> None:
            async with pynector.Pynector(transport=transport) as client:
                await workload(client)

        start = time.perf_counter()
        trio.run(main)
        samples.append((time.perf_counter() - start) / REQUESTS * 1e6)
    return statistics.median(samples)


def main() -> None:
    """Print per-request figures and ratios to the memory transport."""
    candidates: list[tuple[str, Callable[[], Any]]] = [
        ("MemoryTransport (floor)", lambda: pynector.transport.MemoryTransport(handler)),
        ("MockTransport, fallback handler", lambda: MockTransport(handler)),
        ("MockTransport, 1 route", lambda: mock_with_routes(1)),
        ("MockTransport, match on route 20", lambda: mock_with_routes(20)),
        ("MockTransport, respond(status, json)", mock_with_http_response),
    ]
    for label, workload in (("sequential", sequential), ("batch of 64 in flight", batch)):
        print(f"{label}: {REQUESTS} requests, median of {ROUNDS} runs")
        floor = None
        for name, make in candidates:
            micros = measure(make, workload)
            floor = floor or micros
            print(f"  {name:36s} {micros:7.1f} us/request  x{micros / floor:.2f}")


if __name__ == "__main__":
    main()
