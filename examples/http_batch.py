"""Run a batch of HTTP requests against a loopback server started in-process.

    python examples/http_batch.py

Starts pynector's scriptable test server on 127.0.0.1 (a free port), sends 50 requests through one
client with at most 10 in flight (some of them fail with 404 or 503 on purpose), and prints a summary.
Needs no network and finishes by itself.
"""

from __future__ import annotations

from collections import Counter

import trio

import pynector
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server


async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """A tiny items API: /items/<n> answers JSON; n divisible by 7 is missing, by 11 is busy."""
    number = int(request.path.rsplit("/", 1)[-1])
    await trio.sleep(0.001 * (number % 5))  # a little latency, so requests overlap
    if number % 7 == 0:
        return HTTPResponse(404, body=b"no such item")
    if number % 11 == 0:
        return HTTPResponse(503, [("Retry-After", "1")], body=b"busy")
    return HTTPResponse.json({"id": number, "name": f"item-{number}", "echo": request.json()})


async def main() -> dict[str, int]:
    """Run the batch and return how many requests ended in each outcome."""
    async with (
        open_http_server(handler) as server,
        pynector.Pynector(
            transport_type="http", base_url=server.url, headers={"Authorization": "Bearer demo-token"}
        ) as client,
    ):
        requests = [({"method": "POST", "url": f"/items/{n}", "json": {"n": n}}, {}) for n in range(1, 51)]
        start = trio.current_time()
        results = await client.batch_request(requests, max_concurrency=10, timeout=30)
        elapsed = trio.current_time() - start
    outcomes = Counter(
        type(result).__name__ if isinstance(result, Exception) else f"HTTP {result.status_code}"
        for result in results
    )
    print(f"{len(results)} requests to {server.url} in {elapsed:.3f}s, max 10 in flight")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome:>16}: {count}")
    first_ok = next(r for r in results if not isinstance(r, Exception))
    print(f"  first response: {first_ok.json()}")
    return dict(outcomes)


if __name__ == "__main__":
    trio.run(main)
