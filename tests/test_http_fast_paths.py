"""The per-request caches of the HTTP hot path never mix requests up.

Simple requests (a dict of method/url/path, or a bare URL string) reuse a prepared request, a
JSON-only body skips building an ``httpx.Request``, and the native engine reuses request heads; all
must still send exactly what each request asks for.
"""

from __future__ import annotations

import json
import math

import httpx
import pytest
from helpers.telemetry import in_memory_tracing
from hypothesis import given
from hypothesis import strategies as st

import pynector
from pynector.http._engine import WireRequest
from pynector.http._native import NativeEngine
from pynector.http._request import RequestBuilder
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server


async def echo(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """Answer with the method, target and body the server received."""
    return HTTPResponse(200, body=f"{request.method} {request.target} {len(request.body)}".encode())


async def test_repeated_requests_each_send_their_own_head(http_engine: str) -> None:
    """Interleaved repeats of different simple requests each reach the server as asked."""
    requests = [
        {"path": "/a"},
        {"path": "/b"},
        {"method": "DELETE", "path": "/a"},
        {"url": "/a?x=1"},
        {"path": "/a", "headers": {"X-Trace": "1"}},
        {"method": "POST", "path": "/a", "content": b"xyz"},
        {"method": "POST", "path": "/a", "content": b"xy"},
    ]
    expected = ["GET /a 0", "GET /b 0", "DELETE /a 0", "GET /a?x=1 0", "GET /a 0", "POST /a 3", "POST /a 2"]
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        for _ in range(3):
            responses = await client.batch_request([(r, {}) for r in requests], max_concurrency=2)
            assert expected == [r.content.decode() for r in responses]
    assert ["1"] * 3 == [r.header("x-trace") for r in server.requests if r.header("x-trace")]


async def test_per_request_options_are_not_cached_away(http_engine: str) -> None:
    """A request's own options apply even after the same request was sent without them."""

    async def missing(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(404)

    async with (
        open_http_server(missing) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        with pytest.raises(pynector.HTTPStatusError):
            await client.request({"path": "/x"})
        unraised = await client.request({"path": "/x"}, raise_for_status=False)
        with pytest.raises(pynector.HTTPStatusError) as raised:
            await client.request({"path": "/x"})
    assert 404 == unraised.status_code
    assert 404 == raised.value.status_code


async def test_trace_context_injected_after_a_cached_request(http_engine: str) -> None:
    """A request sent again under a recording span carries that span's traceparent."""
    with in_memory_tracing() as (provider, exporter):
        async with (
            open_http_server(echo) as server,
            pynector.Pynector(
                transport_type=http_engine, base_url=server.url, enable_telemetry=False
            ) as plain,
            pynector.Pynector(
                transport=plain.transport, tracer_provider=provider, enable_telemetry=True
            ) as traced,
        ):
            await plain.request({"path": "/t"})
            await traced.request({"path": "/t"})
            await plain.request({"path": "/t"})
        (span,) = exporter.get_finished_spans()
    headers = [r.header("traceparent") for r in server.requests]
    assert None is headers[0]
    assert headers[1] is not None
    assert f"{span.context.trace_id:032x}" == headers[1].split("-")[1]
    assert None is headers[2]


async def test_engine_frames_each_body_length() -> None:
    """The native engine sends the right Content-Length for same-looking requests with other bodies."""
    async with open_http_server(echo) as server, NativeEngine() as engine:
        replies = []
        for body in (b"abc", b"ab", b"", b"abcd"):
            request = WireRequest("PUT", "http", "127.0.0.1", server.port, "/p", (), body)
            async with engine.send(request) as response:
                replies.append(b"".join([chunk async for chunk in response.aiter_raw()]))
    assert [b"PUT /p 3", b"PUT /p 2", b"PUT /p 0", b"PUT /p 4"] == replies


def _builder(base_url: str | None = None, headers: dict[str, str] | None = None) -> RequestBuilder:
    return RequestBuilder(
        base_url=base_url,
        headers=headers,
        timeout=None,
        follow_redirects=False,
        raise_for_status=True,
        secret_headers=(),
    )


#: httpx 0.28 and later encode JSON compactly, as the fast path does (pyproject allows 0.27).
_HTTPX_COMPACT_JSON = tuple(int(part) for part in httpx.__version__.split(".")[:2]) >= (0, 28)


def _json_containers(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    _json_containers,
    max_leaves=8,
)
_HEADER_NAMES = st.sampled_from(
    ["X-Trace", "x-trace", "Content-Type", "content-length", "Host", "Transfer-Encoding", "Accept"]
)
_HEADERS = st.lists(st.tuples(_HEADER_NAMES, st.sampled_from(["1", "a/b", "text/plain"])), max_size=4)


@given(value=_JSON.filter(lambda v: v is not None), headers=_HEADERS)  # json=None is no body
def test_json_fast_path_sends_what_the_httpx_encoder_sends(
    value: object, headers: list[tuple[str, str]]
) -> None:
    """A JSON-only request (encoded without httpx) has the same wire head and body as the same request
    through httpx's encoder (taken here by adding empty ``params``, which changes nothing else)."""
    builder = _builder(base_url="http://127.0.0.1:1/api", headers={"X-Base": "b"})
    request = {"method": "POST", "path": "items", "json": value, "headers": headers}
    fast = builder.build(request, {}, False)
    general = builder.build({**request, "params": {}}, {}, False)
    if _HTTPX_COMPACT_JSON:
        assert general.wire_request == fast.wire_request
    else:  # httpx < 0.28 wrote JSON with spaces: the same value, other bytes and length
        assert json.loads(general.body) == json.loads(fast.body)  # type: ignore[arg-type]
    assert general.secrets == fast.secrets
    assert value == json.loads(fast.body)  # type: ignore[arg-type]


@given(
    content=st.binary(max_size=64),
    method=st.sampled_from(["POST", "PUT", "GET", "DELETE"]),
    headers=_HEADERS,
)
def test_bytes_fast_path_sends_what_the_httpx_encoder_sends(
    content: bytes, method: str, headers: list[tuple[str, str]]
) -> None:
    """A request whose only body is bytes ``content`` (framed without httpx) has the same wire head
    and body as the same request through httpx's encoder, empty bodies and stray framing headers
    included; the body is sent as given, not copied."""
    builder = _builder(base_url="http://127.0.0.1:1/api", headers={"X-Base": "b"})
    request = {"method": method, "path": "upload", "content": content, "headers": headers}
    fast = builder.build(request, {}, False)
    general = builder.build({**request, "params": {}}, {}, False)
    assert general.wire_request == fast.wire_request
    assert general.secrets == fast.secrets
    assert fast.body is content


@pytest.mark.parametrize("value", [math.nan, {"a": object()}])
def test_json_fast_path_refuses_what_cannot_be_encoded(value: object) -> None:
    """A JSON value that cannot be encoded raises SerializationError naming the field, with the cause."""
    builder = _builder()
    with pytest.raises(pynector.SerializationError, match="json") as raised:
        builder.build({"method": "POST", "url": "http://127.0.0.1:1/", "json": value}, {}, False)
    assert isinstance(raised.value.__cause__, (ValueError, TypeError))


async def test_bare_url_strings_are_cached_apart_from_each_other(http_engine: str) -> None:
    """Bare URL strings (cached like simple dicts) each reach the server as asked, mixed with dicts."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        for _ in range(2):
            responses = await client.batch_request(
                [
                    f"{server.url}/a",
                    f"{server.url}/b?x=1",
                    {"url": f"{server.url}/a"},
                    ({"method": "HEAD", "path": "/a"}, {}),
                ],
                max_concurrency=2,
            )
            assert ["GET /a 0", "GET /b?x=1 0", "GET /a 0", ""] == [r.content.decode() for r in responses]


async def test_requests_with_header_dicts_each_send_their_own_headers(http_engine: str) -> None:
    """Requests that differ only in a header value, order or name (cached by content) each send their
    own headers, and a header dict changed after a request was sent is sent as changed."""
    shared = {"X-N": "0"}
    requests: list[dict[str, object]] = [
        {"path": "/h", "headers": {"X-N": "1", "X-M": "a"}},
        {"path": "/h", "headers": {"X-M": "a", "X-N": "1"}},
        {"path": "/h", "headers": {"X-N": "2"}},
        {"path": "/h", "headers": {"X-Other": "1"}},
        {"path": "/h", "headers": shared},
    ]
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        await client.batch_request(requests, max_concurrency=1)
        shared["X-N"] = "9"
        await client.batch_request(requests, max_concurrency=1)
    seen = [(r.header("x-n"), r.header("x-m"), r.header("x-other")) for r in server.requests]
    first = [("1", "a", None), ("1", "a", None), ("2", None, None), (None, None, "1"), ("0", None, None)]
    assert [*first, *first[:4], ("9", None, None)] == seen
    names = [[n.lower() for n, _ in r.headers if n.lower() in {"x-n", "x-m"}] for r in server.requests[:2]]
    assert [["x-n", "x-m"], ["x-m", "x-n"]] == names
