"""Sentinel secrets (header, URL user-info, query parameter) never reach logs, reprs or exceptions."""

from __future__ import annotations

import base64
import socket
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trio.testing
from helpers.telemetry import everything_recorded, in_memory_tracing
from loguru import logger

import pynector
from pynector.message import HttpMessage
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server

SECRET = "sentinel-7f3a9c21"
BASIC = base64.b64encode(f"user:{SECRET}".encode()).decode()
LEAKS = (SECRET, BASIC)


@pytest.fixture
def log_records() -> Iterator[list[str]]:
    """Every pynector log record at DEBUG and above, formatted with its extra and exception."""
    records: list[str] = []
    logger.enable("pynector")
    sink = logger.add(
        lambda message: records.append(str(message)), level="DEBUG", format="{message} {extra} {exception}"
    )
    try:
        yield records
    finally:
        logger.remove(sink)
        logger.disable("pynector")


def assert_clean(*objects: Any) -> None:
    """No secret in the str/repr of *objects*, nor in a formatted exception (with its chain)."""
    for obj in objects:
        texts = [str(obj), repr(obj)]
        if isinstance(obj, BaseException):
            texts.append("".join(traceback.format_exception(obj)))
        for text in texts:
            for leak in LEAKS:
                assert leak not in text, text


async def script(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    if request.path == "/flaky" and len([r for r in SERVED if r == "/flaky"]) == 0:
        SERVED.append("/flaky")
        return HTTPResponse(503, [("Retry-After", "0")])
    if request.path == "/fail":
        return HTTPResponse(500, [("Set-Cookie", f"s={SECRET}")], body=b"boom")
    if request.path == "/hang":
        await conn.wait_client_close()
    return HTTPResponse(200, [("Set-Cookie", f"s={SECRET}")], body=b"fine")


SERVED: list[str] = []


async def test_no_secret_on_success_error_and_retry_paths(
    http_engine: str, log_records: list[str], autojump_clock: trio.testing.MockClock
) -> None:
    """Success, status error, transport error, timeout and retry paths show the secret nowhere.

    Nowhere: exception messages, reprs and formatted tracebacks, log records, span attributes.
    """
    SERVED.clear()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    async with open_http_server(script) as server:
        base = f"http://user:{SECRET}@127.0.0.1:{server.port}"
        with in_memory_tracing() as (provider, exporter):
            async with pynector.Pynector(
                transport_type=http_engine,
                headers={"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET},
                timeout=2,
                tracer_provider=provider,
            ) as client:
                seen: list[Any] = []
                ok = await client.request({"url": f"{base}/ok?token={SECRET}&api_key={SECRET}&page=1"})
                seen += [ok, ok.request, ok.headers]
                assert "page=1" in repr(ok)
                retried = await client.request_with_retry(
                    f"{base}/flaky?token={SECRET}", retry=pynector.RetryPolicy(initial_delay=0)
                )
                seen.append(retried)
                failures = []
                for url in (
                    f"{base}/fail?token={SECRET}",
                    f"{base}/hang?signature={SECRET}",
                    f"http://user:{SECRET}@127.0.0.1:{dead_port}/?password={SECRET}",
                ):
                    with pytest.raises(pynector.PynectorError) as info:
                        await client.request_with_retry(
                            url, retry=pynector.RetryPolicy(max_retries=1, initial_delay=0)
                        )
                    failures.append(info.value)
                assert [pynector.HTTPServerError, pynector.TimeoutError, pynector.ConnectError] == [
                    type(f) for f in failures
                ]
                seen += failures
                seen.append(failures[0].response)
            spans = everything_recorded(exporter, [])
    assert f"Bearer {SECRET}" == server.requests[0].header("authorization")  # it was really sent
    assert log_records, "each attempt is logged at DEBUG"
    assert "url.full" in spans
    assert_clean(*seen, *log_records, spans)


def test_redaction_of_reprs_of_messages() -> None:
    """HttpMessage's repr hides URL secrets."""
    message = HttpMessage(url=f"http://u:{SECRET}@h/?token={SECRET}")
    assert_clean(message)
