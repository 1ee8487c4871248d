"""The HTTP transport's request model, Response API, streaming, status errors and configuration."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from helpers.http_faults import tasks_living

import pynector
from pynector.http import HTTPTransport, HttpxEngine, Response
from pynector.message import HttpMessage
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server


async def echo(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """Echo the request back as JSON; ``/status/<n>`` answers with status n."""
    if request.path.startswith("/status/"):
        status = int(request.path.rsplit("/", 1)[1])
        headers = [("Retry-After", request.query["retry_after"])] if "retry_after" in request.query else []
        return HTTPResponse(status, headers, body=f"status {status}")
    return HTTPResponse.json(
        {
            "method": request.method,
            "target": request.target,
            "headers": request.headers,
            "body": request.body.decode("latin-1"),
        }
    )


def header(echoed: dict[str, Any], name: str) -> str | None:
    return next((v for n, v in echoed["headers"] if n == name.lower()), None)


async def test_get_with_params_and_default_headers(http_engine: str) -> None:
    """A GET merges params into the URL, sends client headers, and no body or Content-Type."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(
            transport_type=http_engine, base_url=server.url + "/api", headers={"X-App": "t"}
        ) as client,
    ):
        response = await client.request({"url": "/users/1", "params": {"page": 2, "q": "a b"}})
    echoed = response.json()
    assert "GET" == echoed["method"]
    assert "/api/users/1?page=2&q=a+b" == echoed["target"]
    assert "t" == header(echoed, "x-app")
    assert header(echoed, "content-type") is None
    assert header(echoed, "content-length") is None
    assert "" == echoed["body"]


async def test_request_bodies(http_engine: str) -> None:
    """json, data, content and files produce the expected bodies and Content-Type headers."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        as_json = (await client.request({"method": "POST", "path": "/", "json": {"a": [1, 2]}})).json()
        as_form = (await client.request({"method": "POST", "url": "/", "data": {"a": "1"}})).json()
        raw = (await client.request({"method": "PUT", "url": "/", "content": b"\x00raw"})).json()
        multipart = (
            await client.request({"method": "POST", "url": "/", "files": {"f": ("a.txt", b"file-body")}})
        ).json()
    assert '{"a":[1,2]}' == as_json["body"].replace(" ", "")
    assert "application/json" == header(as_json, "content-type")
    assert "a=1" == as_form["body"]
    assert "application/x-www-form-urlencoded" == header(as_form, "content-type")
    assert "\x00raw" == raw["body"]
    assert header(raw, "content-type") is None
    assert "4" == header(raw, "content-length")
    assert header(multipart, "content-type").startswith("multipart/form-data; boundary=")
    assert "file-body" in multipart["body"]
    assert str(len(multipart["body"])) == header(multipart, "content-length")


async def test_async_iterable_body_is_streamed(http_engine: str) -> None:
    """An async iterable body is sent chunked and arrives whole."""

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"one,", b"two,", b"three"):
            yield part

    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        echoed = (await client.request({"method": "POST", "url": "/", "content": chunks()})).json()
    assert "one,two,three" == echoed["body"]


async def test_http_message_is_a_request(http_engine: str) -> None:
    """An HttpMessage is sent like the equivalent dict."""
    message = HttpMessage(method="PATCH", url="/m", headers={"X-M": "1"}, params={"k": "v"}, json_data=[1])
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        echoed = (await client.request(message)).json()
    assert ("PATCH", "/m?k=v", "1", "[1]") == (
        echoed["method"],
        echoed["target"],
        header(echoed, "x-m"),
        echoed["body"],
    )


async def test_response_api(http_engine: str, autojump_clock: trio.testing.MockClock) -> None:
    """Response exposes status, reason, headers, content, text, json, elapsed (trio clock), url."""

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        await trio.sleep(2)
        return HTTPResponse(
            201,
            [("Content-Type", "text/plain; charset=latin-1"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")],
            body="café".encode("latin-1"),
        )

    async with (
        open_http_server(handler) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        response = await client.request({"url": "/x?token=abc12345"})
    assert isinstance(response, Response)
    assert (201, "Created", "HTTP/1.1") == (
        response.status_code,
        response.reason_phrase,
        response.http_version,
    )
    assert "café" == response.text
    assert "café".encode("latin-1") == bytes(response) == response.content
    assert ["a=1", "b=2"] == response.headers.get_list("set-cookie")
    assert "text/plain; charset=latin-1" == response.headers["CONTENT-TYPE"]
    assert 2 == pytest.approx(response.elapsed, abs=0.01)
    assert f"{server.url}/x?token=abc12345" == response.url
    assert "abc12345" not in repr(response)
    assert "abc12345" not in repr(response.request)
    assert "GET" == response.request.method
    assert response.is_success
    assert response is response.raise_for_status()


async def test_json_of_a_non_json_body_is_a_deserialization_error(http_engine: str) -> None:
    """response.json() on a non-JSON body raises DeserializationError."""
    async with (
        open_http_server(lambda r, c: HTTPResponse(200, body=b"not json")) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        response = await client.request("/")
    with pytest.raises(pynector.DeserializationError):
        response.json()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, pynector.HTTPClientError),
        (401, pynector.UnauthorizedError),
        (403, pynector.ForbiddenError),
        (404, pynector.NotFoundError),
        (408, pynector.RequestTimeoutError),
        (418, pynector.HTTPClientError),
        (429, pynector.RateLimitError),
        (500, pynector.HTTPServerError),
        (503, pynector.HTTPServerError),
    ],
)
async def test_status_errors(http_engine: str, status: int, expected: type[Exception]) -> None:
    """Each error status raises its own class, carrying the response and status."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        with pytest.raises(pynector.HTTPStatusError) as info:
            await client.request({"url": f"/status/{status}", "params": {"retry_after": "7"}})
    assert expected is type(info.value)
    assert status == info.value.status_code
    assert f"status {status}".encode() == info.value.response.content
    assert 7.0 == info.value.retry_after
    assert str(status) in str(info.value)


async def test_raise_for_status_off(http_engine: str) -> None:
    """raise_for_status=False (transport or per request) returns error responses."""
    async with open_http_server(echo) as server:
        async with pynector.Pynector(
            transport_type=http_engine, base_url=server.url, raise_for_status=False
        ) as c:
            response = await c.request("/status/404")
            assert 404 == response.status_code
            with pytest.raises(pynector.NotFoundError):
                response.raise_for_status()
            with pytest.raises(pynector.NotFoundError):
                await c.request("/status/404", raise_for_status=True)
        async with pynector.Pynector(transport_type=http_engine, base_url=server.url) as c:
            assert 500 == (await c.request("/status/500", raise_for_status=False)).status_code


async def test_streaming(http_engine: str) -> None:
    """client.stream yields the body in chunks and releases the connection on exit, even on break."""
    body = b"".join(bytes([i]) * 1000 for i in range(100))

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(
            200, [("Transfer-Encoding", "chunked")], [body[i : i + 1000] for i in range(0, 100_000, 1000)]
        )

    async with open_http_server(handler) as server:
        async with pynector.Pynector(
            transport_type=http_engine, base_url=server.url, max_connections=1
        ) as client:
            async with client.stream({"url": "/"}) as response:
                assert 200 == response.status_code
                received = b"".join([chunk async for chunk in response.aiter_bytes()])
            assert body == received
            for _ in range(3):  # break early: the only connection must come back each time
                async with client.stream({"url": "/"}) as response:
                    async for _chunk in response.aiter_bytes():
                        break
            async with client.stream({"url": "/"}) as response:
                assert body == await response.aread()
                assert body == response.content
            async with client.stream({"url": "/"}) as unread:
                pass
            with pytest.raises(pynector.ReadError):  # the body cannot be read after the block
                await unread.aread()
        with trio.fail_after(5):
            await server.wait_all_closed()


async def test_stream_cancelled_mid_body_releases_the_connection(http_engine: str) -> None:
    """Cancelling a stream mid-body frees its connection slot for the next request."""

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse | None:
        if request.path == "/endless":
            await conn.send_raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await conn.wait_client_close()
            return None
        return HTTPResponse(200, body=b"ok")

    async with (
        open_http_server(handler) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, max_connections=1) as client,
    ):
        with trio.move_on_after(0.2):
            async with client.stream("/endless") as response:
                async for _chunk in response.aiter_bytes():
                    pass
        with trio.fail_after(5):
            assert b"ok" == (await client.request("/next")).content


async def test_stream_status_error_has_the_body(http_engine: str) -> None:
    """A streamed error status raises on entry with the error body read."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        with pytest.raises(pynector.HTTPServerError) as info:
            async with client.stream("/status/502"):
                raise AssertionError("not reached")
    assert b"status 502" == info.value.response.content


async def test_client_disconnect_closes_connections(http_engine: str) -> None:
    """After the client closes, the server sees every connection end and no task is left."""
    async with open_http_server(echo) as server:
        baseline = tasks_living()
        async with pynector.Pynector(transport_type=http_engine, base_url=server.url) as client:
            await client.batch_request([("/a", {}), ("/b", {}), ("/c", {})], max_concurrency=3)
        with trio.fail_after(5):
            await server.wait_all_closed()
        await trio.testing.wait_all_tasks_blocked()
        assert baseline == tasks_living()


async def test_users_own_httpx_client_is_not_closed(http_engine: str) -> None:
    """client= uses the caller's httpx.AsyncClient and leaves it open."""
    async with open_http_server(echo) as server, httpx.AsyncClient(headers={"X-Own": "yes"}) as own:
        async with pynector.Pynector(transport_type="httpx", base_url=server.url, client=own) as client:
            echoed = (await client.request("/")).json()
        assert "yes" == header(echoed, "x-own")
        assert not own.is_closed


def test_http_transport_takes_an_engine() -> None:
    """HTTPTransport can be built directly over an engine."""
    transport = HTTPTransport(HttpxEngine(max_connections=3), base_url="http://127.0.0.1:1", timeout=None)
    assert transport.engine is not None


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": -1},
        {"timeout": math.nan},
        {"timeout": math.inf},
        {"connect_timeout": 0},
        {"max_connections": 0},
        {"max_connections": True},
        {"max_connections": 2.5},
        {"max_keepalive_connections": -1},
        {"max_redirects": -1},
        {"max_response_bytes": 0},
        {"follow_redirects": "yes"},
        {"raise_for_status": 1},
        {"verify": "no"},
        {"http2": "yes"},
        {"trust_env": None},
        {"base_url": "ftp://127.0.0.1/"},
        {"base_url": "http://"},
        {"base_url": 5},
        {"headers": "X: y"},
        {"headers": {"X": 1}},
        {"secret_headers": "X-Token"},
        {"bogus": 1},
        {"client": object()},
        {"client": httpx.AsyncClient(), "verify": False},
    ],
)
def test_invalid_options_are_configuration_errors(http_engine: str, options: dict[str, Any]) -> None:
    """Every invalid transport option raises ConfigurationError at construction."""
    if "client" in options and http_engine != "httpx":
        pytest.skip("client= is an httpx engine option")
    with pytest.raises(pynector.ConfigurationError):
        pynector.Pynector(transport_type=http_engine, **options)


def test_http2_without_h2_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """http2=True without the h2 package raises ConfigurationError naming the http2 extra."""
    monkeypatch.setitem(__import__("sys").modules, "h2", None)
    with pytest.raises(pynector.ConfigurationError, match=r"pynector-trio\[http2\]"):
        pynector.Pynector(transport_type="httpx", http2=True)


@pytest.mark.parametrize(
    ("request_data", "fragment"),
    [
        ({"url": "http://127.0.0.1/", "headers": {"X Bad": "v"}}, "header name"),
        ({"url": "http://127.0.0.1/", "headers": {"X-Name": "café"}}, "ASCII"),
        ({"url": "/x"}, "base_url"),
        ({"url": "ftp://127.0.0.1/"}, "scheme"),
        ({"url": "/x", "path": "/y"}, "either"),
        ({"method": "GE T", "url": "http://127.0.0.1/"}, "method"),
        ({"url": "http://127.0.0.1/", "bogus": 1}, "bogus"),
        (42, "dict"),
    ],
)
async def test_invalid_requests_are_configuration_errors(
    http_engine: str, request_data: Any, fragment: str
) -> None:
    """Malformed requests raise ConfigurationError naming the problem, before any connection."""
    async with pynector.Pynector(transport_type=http_engine) as client:
        with pytest.raises(pynector.ConfigurationError, match=fragment):
            await client.request(request_data)


async def test_unserialisable_json_is_a_serialization_error(http_engine: str) -> None:
    """A json body that cannot be encoded raises SerializationError."""
    async with pynector.Pynector(transport_type=http_engine) as client:
        with pytest.raises(pynector.SerializationError):
            await client.request({"method": "POST", "url": "http://127.0.0.1:1/", "json": {"x": object()}})


def test_registry_names() -> None:
    """Both "http" and "httpx" build an HTTPTransport."""
    registry = pynector.transport.get_transport_factory_registry()
    assert {"http", "httpx"} <= set(registry.names())
    assert isinstance(registry.create_transport("httpx"), HTTPTransport)


async def test_head_with_large_declared_length_is_fine(http_engine: str) -> None:
    """A HEAD response declaring a length above the cap is not a body, so it is not refused."""
    async with (
        open_http_server(lambda r, c: HTTPResponse(200, [("Content-Length", "999999")])) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, max_response_bytes=10) as client,
    ):
        response = await client.request({"method": "HEAD", "url": "/"})
    assert (200, b"") == (response.status_code, response.content)


async def test_raw_stream_stopped_early(http_engine: str) -> None:
    """aiter_raw gives the encoded bytes and can be abandoned mid-body without warnings."""
    import gzip

    body = gzip.compress(b"abc" * 100_000)

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(200, [("Content-Encoding", "gzip")], [body[:100], body[100:]])

    async with (
        open_http_server(handler) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        async with client.stream("/") as response:
            async for chunk in response.aiter_raw():
                assert body.startswith(chunk)
                break
        assert b"abc" * 100_000 == (await client.request("/")).content


async def test_close_aborts_an_open_stream(http_engine: str) -> None:
    """Closing the client while a stream is open ends the stream block with ClientClosedError."""

    async def endless(request: HTTPRequest, conn: ServerConnection) -> None:
        await conn.send_raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n")
        await conn.wait_client_close()

    failures: list[BaseException] = []
    async with open_http_server(endless) as server:
        client = pynector.Pynector(transport_type=http_engine, base_url=server.url)
        await client.__aenter__()

        async def read_forever() -> None:
            try:
                async with client.stream("/") as response:
                    async for _chunk in response.aiter_bytes():
                        pass
            except pynector.PynectorError as exc:
                failures.append(exc)

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_forever)
                await trio.testing.wait_all_tasks_blocked()
                await client.aclose()
            await server.wait_all_closed()
    assert [pynector.ClientClosedError] == [type(f) for f in failures]


@pytest.mark.parametrize(
    ("raw_value", "shown"),
    [(b"plain", "plain"), ("café".encode(), "café"), (b"caf\xe9", "café")],
    ids=["ascii", "utf-8", "latin-1"],
)
async def test_header_values_read_the_same_fetched_or_streamed(
    http_engine: str, raw_value: bytes, shown: str
) -> None:
    """A header value is decoded by one rule (ASCII, else UTF-8, else Latin-1), whether the response
    was read whole or streamed, on either engine."""
    head = (
        b"HTTP/1.1 200 OK\r\nX-Name: " + raw_value + b"\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    )

    async def handler(request: HTTPRequest, conn: ServerConnection) -> None:
        await conn.send_raw(head)
        await conn.close()

    async with (
        open_http_server(handler) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        whole = await client.request("/")
        async with client.stream("/") as streamed:
            await streamed.aread()
    assert shown == whole.headers["x-name"] == streamed.headers["x-name"]
    assert (b"ok", b"ok") == (whole.content, streamed.content)
