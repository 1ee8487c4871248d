"""Server-sent event streams round-trip through a cassette: aiter_sse and subscribe (with a drop and
a Last-Event-ID reconnection) replay the same events with the server gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pynector
from pynector import RetryPolicy
from pynector.sse import ServerSentEvent
from pynector.testing import (
    Cassette,
    HTTPRequest,
    HTTPResponse,
    ServerConnection,
    SSEDrop,
    open_http_server,
)
from pynector.transport import get_transport_factory_registry

FAST = RetryPolicy(max_retries=3, initial_delay=0.01, jitter=0)


async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    if request.path == "/events":
        return HTTPResponse.sse([ServerSentEvent("a\nb", "add", "1"), ServerSentEvent("c", retry=50)])
    if request.header("last-event-id") is None:
        steps: list[Any] = [ServerSentEvent("one", id="1"), ServerSentEvent("two", id="2"), SSEDrop()]
    else:
        steps = [ServerSentEvent("three", id="3")]
    return HTTPResponse.sse([ServerSentEvent("", retry=10), *steps], conn)


async def scenario(client: pynector.Pynector) -> list[Any]:
    async with client.stream("/events") as response:
        streamed = [event async for event in response.aiter_sse()]
    async with client.subscribe("/feed", retry=FAST) as events:
        subscribed = [await events.__anext__() for _ in range(5)]
        connections = events.connections
        last = events.last_event_id
    return [streamed, subscribed, connections, last]


async def test_sse_round_trips_through_a_cassette(http_engine: str, tmp_path: Path) -> None:
    path = tmp_path / "sse.jsonl"
    registry = get_transport_factory_registry()
    async with open_http_server(handler) as server:
        url = server.url
        with Cassette(path) as cassette:
            transport = cassette.wrap(registry.create_transport(http_engine, base_url=url))
            async with transport, pynector.Pynector(transport=transport) as client:
                recorded = await scenario(client)
    assert ["a\nb", "c"] == [event.data for event in recorded[0]]
    assert ["", "one", "two", "", "three"] == [event.data for event in recorded[1]]

    with Cassette(path, record_mode="none") as cassette:
        transport = cassette.wrap(registry.create_transport(http_engine, base_url=url))
        async with transport, pynector.Pynector(transport=transport) as client:
            replayed = await scenario(client)
    assert recorded == replayed
