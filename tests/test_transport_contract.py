"""The transport contract: optional capabilities are checked once, when the client adopts a transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from helpers.fakes import EchoTransport

import pynector


def test_a_name_that_is_not_a_string_is_rejected_when_the_client_is_built() -> None:
    """A bad optional `name` fails at construction, naming the attribute, not on the first request."""

    class Named(EchoTransport):
        name = 42

    with pytest.raises(pynector.ConfigurationError, match=r"Named\.name must be a non-empty string"):
        pynector.Pynector(transport=Named())


def test_retry_statuses_must_be_status_codes() -> None:
    """`retry_statuses` holding something else than HTTP status codes is a configuration error."""

    class Statuses(EchoTransport):
        retry_statuses = ("500",)

    with pytest.raises(pynector.ConfigurationError, match=r"retry_statuses must hold HTTP status codes"):
        pynector.Pynector(transport=Statuses())


def test_a_hook_that_is_not_callable_is_rejected() -> None:
    """A span hook attribute that is not a method fails at construction."""

    class Hooked(EchoTransport):
        span_name = "GET"

    with pytest.raises(pynector.ConfigurationError, match=r"Hooked\.span_name must be a method"):
        pynector.Pynector(transport=Hooked())


async def test_the_declared_name_appears_in_errors() -> None:
    """A transport's `name` is what error messages call it."""

    class Slow(EchoTransport):
        name = "slowpoke"

        async def exchange(self, data: Any, **options: Any) -> Any:
            raise ConnectionResetError("reset")

    async with pynector.Pynector(transport=Slow()) as client:
        with pytest.raises(pynector.TransportError, match="slowpoke"):
            await client.request(b"x")


async def test_retry_statuses_of_the_transport_are_retried_by_request_with_retry(autojump_clock: Any) -> None:
    """`request_with_retry` without a policy retries the statuses the transport declares."""
    calls = 0

    class Flaky(EchoTransport):
        retry_statuses = frozenset({503})

        async def exchange(self, data: Any, **options: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise pynector.HTTPServerError("service unavailable", status_code=503)
            return data

    async with pynector.Pynector(transport=Flaky()) as client:
        assert b"ok" == await client.request_with_retry(b"ok", max_retries=2, retry_delay=0.01)
    assert 2 == calls


async def test_stream_uses_the_transport_stream_method() -> None:
    """`client.stream()` opens the transport's own stream; without one it is a configuration error."""

    class Streaming(EchoTransport):
        @asynccontextmanager
        async def stream(self, data: Any, **options: Any) -> AsyncIterator[str]:
            yield f"stream of {data}"

    async with pynector.Pynector(transport=Streaming()) as client, client.stream("x") as response:
        assert "stream of x" == response
    async with pynector.Pynector(transport=EchoTransport()) as client:
        with pytest.raises(pynector.ConfigurationError, match="does not support streaming"):
            async with client.stream("x"):
                pass
