"""Helpers shared by the HTTP test modules (``tests/test_http_*.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

import pynector
from pynector.testing import HTTPRequest, HTTPResponse, HTTPServer, ServerConnection, open_http_server


async def ok_handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """Answer every request with 200 and the request path."""
    return HTTPResponse(200, body=request.path)


def tasks_living() -> int:
    """How many trio tasks are alive right now."""
    return trio.lowlevel.current_statistics().tasks_living


@asynccontextmanager
async def fault_scenario(
    handler: Any, http_engine: str, **options: Any
) -> AsyncIterator[tuple[HTTPServer, pynector.Pynector]]:
    """A server whose ``/fault`` path runs *handler* (others answer 200) and a client for it.

    On exit it checks that the fault left nothing behind: a healthy request through the same client
    succeeds, every server-side connection is closed promptly after the client closed, and no task of
    ours is left.
    """

    async def route(request: HTTPRequest, conn: ServerConnection) -> Any:
        if request.path.startswith("/fault"):
            return await handler(request, conn)
        return HTTPResponse(200, body=b"healthy")

    async with open_http_server(route) as server:
        baseline = tasks_living()
        client = pynector.Pynector(transport_type=http_engine, base_url=server.url, **options)
        async with client:
            yield server, client
            healthy = await client.request({"url": "/healthy"})  # the client recovers
            assert b"healthy" == healthy.content
        with trio.fail_after(5):  # nothing leaked: the server sees every connection end
            await server.wait_all_closed()
        await trio.testing.wait_all_tasks_blocked()
        assert baseline == tasks_living()  # no task left


def assert_mapped(
    exc: BaseException, cls: type[BaseException], *fragments: str | tuple[str, ...], chained: bool = True
) -> None:
    """*exc* is exactly the expected pynector class, with the root cause in its message.

    Each fragment must appear in the message (case-insensitive); a tuple lists alternatives, for
    engines that word the same root cause differently.

    *chained*: the failure came from a foreign exception, which must be kept as ``__cause__``
    (policy errors such as a size cap have no foreign cause).
    """
    assert cls is type(exc), f"{type(exc).__name__}: {exc}"
    assert isinstance(exc, pynector.PynectorError)
    if chained:
        assert exc.__cause__ is not None
    text = str(exc).lower()
    for fragment in fragments:
        alternatives = (fragment,) if isinstance(fragment, str) else fragment
        assert any(a.lower() in text for a in alternatives), f"{fragment!r} not in {exc}"
