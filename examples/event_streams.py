"""Server-sent events with pynector, offline: a subscription that survives drops, and many feeds in one
bounded batch.

A loopback server (pynector.testing.serve_http) plays a price feed: it sends a few events, then drops
the connection; a reconnecting client resumes with ``Last-Event-ID`` and the server carries on from
there. Run it: ``python examples/event_streams.py``.
"""

from __future__ import annotations

import trio

import pynector
from pynector.sse import ServerSentEvent
from pynector.testing import (
    HTTPRequest,
    HTTPResponse,
    ServerConnection,
    SSEDelay,
    SSEDrop,
    SSEStep,
    serve_http,
)


def price_feed(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """Three prices per connection, 50 ms apart, then a dropped connection (resumed from Last-Event-ID)."""
    start = int(request.header("last-event-id") or 0)
    steps: list[SSEStep] = [b"retry: 100\n\n"]  # "reconnect after 100 ms" (raw bytes: no event)
    for n in range(start + 1, start + 4):
        steps += [SSEDelay(0.05), ServerSentEvent(f"{request.path[1:]} {100 + n}", event="price", id=str(n))]
    return HTTPResponse.sse([*steps, SSEDrop()], conn)


async def main() -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_http, price_feed)

        # One subscription that stays alive: 7 prices over three connections.
        client = pynector.Pynector(transport_type="http", base_url=server.url)
        async with client, client.subscribe("/ACME", idle_timeout=5, timeout=30) as events:
            async for event in events:
                if event.event == "price":
                    print(f"event {event.id}: {event.data}")
                    if event.id == "7":
                        break
            print(f"{events.connections} connections, resume from id {events.last_event_id}")

        # Many feeds, at most 4 connections at a time: each item collects its first 5 prices.
        feeds = [(f"/T{n}", {"max_events": 5}) for n in range(12)]
        client = pynector.Pynector(transport_type="sse", base_url=server.url)
        async with client, client.stream_batch(feeds, max_concurrency=4) as results:
            async for index, events in results:
                prices = [e.data.split()[1] for e in events if e.event == "price"]
                print(f"feed {index}: {' '.join(prices)}")
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
