"""What pynector's HTTP layer adds on top of raw httpx, against the in-process loopback server.

    python benchmarks/http_overhead.py

Runs the same GET workload through raw ``httpx.AsyncClient`` and through
``Pynector(transport_type="httpx")`` (limiter, request validation, bounded decoding, total deadline,
Response), with 1 and 64 requests in flight, and prints the time per request and the ratio. Both
peers are measured in the same run against the same server, so the ratio is what matters.
"""

from __future__ import annotations

import time

import httpx
import trio

import pynector
from pynector.testing import HTTPResponse, open_http_server

REQUESTS = 500
REPEATS = 5
BODY = b"x" * 512


async def run_raw(url: str, in_flight: int) -> float:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=in_flight)) as client:
        return await _drive(lambda: client.get(url), in_flight)


async def run_pynector(url: str, in_flight: int) -> float:
    async with pynector.Pynector(transport_type="httpx", base_url=url, max_connections=in_flight) as client:
        return await _drive(lambda: client.request("/"), in_flight)


async def _drive(call, in_flight: int) -> float:  # type: ignore[no-untyped-def]
    remaining = REQUESTS

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(in_flight):
            nursery.start_soon(worker)
    return (time.perf_counter() - start) / REQUESTS


async def main() -> None:
    async with open_http_server(lambda request, conn: HTTPResponse(200, body=BODY)) as server:
        print(f"{REQUESTS} GETs of {len(BODY)} bytes per run, best of {REPEATS} interleaved runs")
        print("(the loopback server runs in the same process, so its time is in both columns)")
        print(f"{'in flight':>10} {'raw httpx':>12} {'pynector':>12} {'ratio':>7}")
        for in_flight in (1, 64):
            raw_runs: list[float] = []
            our_runs: list[float] = []
            for _ in range(REPEATS):  # interleaved, so a noisy neighbour hurts both peers alike
                raw_runs.append(await run_raw(server.url, in_flight))
                our_runs.append(await run_pynector(server.url, in_flight))
            raw, ours = min(raw_runs), min(our_runs)
            print(f"{in_flight:>10} {raw * 1e6:>10.0f}us {ours * 1e6:>10.0f}us {ours / raw:>6.2f}x")


if __name__ == "__main__":
    trio.run(main)
