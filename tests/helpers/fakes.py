"""Fake transports for the core tests: real objects with the transport contract, instrumented."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import trio


class EchoTransport:
    """The smallest exchange-shaped transport: answers each request with its data; subclasses add
    capabilities (``stream``, ``retry_statuses``, span hooks...)."""

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def exchange(self, data: Any, **options: Any) -> Any:
        return data


class CountingTransport:
    """An exchange-shaped transport that echoes, counts connects and tracks peak concurrency."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.connects = 0
        self.disconnects = 0
        self.in_flight = 0
        self.peak = 0

    async def connect(self) -> None:
        await trio.sleep(0.01)  # a connect that takes time, so concurrent first requests overlap
        self.connects += 1

    async def disconnect(self) -> None:
        await trio.lowlevel.checkpoint()
        self.disconnects += 1

    async def exchange(self, data: Any, **options: Any) -> Any:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await trio.sleep(options.get("delay", self.delay))
            return data
        finally:
            self.in_flight -= 1


class SeedEcho:
    """A transport in the original seed shape: ``send`` then ``receive`` over one shared pipe.

    The "wire" is a single buffer: a response sent by the peer lands there after ``delay`` seconds, so
    two overlapping exchanges would read each other's bytes unless the client serialises them.
    """

    def __init__(self) -> None:
        self.connects = 0
        self.disconnects = 0
        self._inbox: list[bytes] = []
        self._arrived = trio.Event()
        self._pending: list[tuple[bytes, float]] = []

    async def connect(self) -> None:
        await trio.lowlevel.checkpoint()
        self.connects += 1
        self._inbox.clear()

    async def disconnect(self) -> None:
        await trio.lowlevel.checkpoint()
        self.disconnects += 1

    async def send(self, data: bytes, **options: Any) -> None:
        await trio.lowlevel.checkpoint()
        self._pending.append((b"echo:" + data, float(options.get("delay", 0.0))))

    async def receive(self) -> AsyncIterator[bytes]:
        reply, delay = self._pending.pop(0)
        await trio.sleep(delay)
        # Deliver in two chunks: the client must join them.
        yield reply[:3]
        await trio.lowlevel.checkpoint()
        yield reply[3:]
