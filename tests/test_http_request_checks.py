"""What the HTTP request builder refuses, and what it never lets out, on both engines.

Every check here runs before a byte is sent: a careless request becomes a pynector error naming the
field at fault (never a bare ``TypeError``, never a request sent somewhere else), and no rendered URL
shows a fragment (where OAuth's implicit flow puts tokens).
"""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import pynector
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server

TOKEN = "frag-token-5e1d"


async def echo(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """Answer ``/missing`` with 404, ``/moved`` with a redirect, anything else with the target."""
    if request.path == "/missing":
        return HTTPResponse(404, body=b"no")
    if request.path == "/moved":
        return HTTPResponse(302, [("Location", f"/landed#access_token={TOKEN}")])
    return HTTPResponse(200, body=request.target)


def rendered(exc: BaseException) -> str:
    """The messages a traceback prints for *exc* and every exception chained to it (no source lines)."""
    lines = []
    current: BaseException | None = exc
    while current is not None:
        lines.extend(traceback.format_exception_only(current))
        current = current.__cause__ or current.__context__
    return "".join(lines)


async def test_url_fragment_never_rendered(
    http_engine: str, tracing: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """A fragment is never sent and never shown: not in errors, reprs, Response.url nor spans."""
    provider, exporter = tracing
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, tracer_provider=provider) as client,
    ):
        ok = await client.request(f"{server.url}/cb?x=1#access_token={TOKEN}")
        with pytest.raises(pynector.NotFoundError) as caught:
            await client.request(f"{server.url}/missing#access_token={TOKEN}")
        kept = await client.request(f"{server.url}/missing#access_token={TOKEN}", raise_for_status=False)
    assert b"/cb?x=1" == ok.content
    texts = [repr(ok), str(ok.url), repr(ok.request), rendered(caught.value), repr(kept), kept.url]
    texts += [str(span.attributes) for span in exporter.get_finished_spans()]
    assert 3 <= len(exporter.get_finished_spans())
    assert [] == [text for text in texts if TOKEN in text or "#" in text]


async def test_redirect_fragment_never_rendered(http_engine: str) -> None:
    """A fragment in a redirect's Location is dropped from the followed URL."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, follow_redirects=True) as client,
    ):
        response = await client.request("/moved")
    assert (b"/landed", f"{server.url}/landed") == (response.content, response.url)
    assert TOKEN not in repr(response)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Authorization", " Bearer hdr-secret-77"),
        ("Authorization", "Bearer hdr-secret-77 "),
        ("X-Trace", "hdr-secret-77\t"),
        ("X-Trace", "hdr\x7fsecret-77"),
        ("X-Trace", "hdr\x01secret-77"),
    ],
)
async def test_header_value_whitespace_refused_before_sending(
    http_engine: str, name: str, value: str
) -> None:
    """Leading/trailing whitespace or a control character in a header value is the caller's error.

    It is refused before anything is sent (the server sees no request), names the header, and neither
    the message nor any chained exception carries the value.
    """
    seen: list[str] = []

    async def record(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        seen.append(request.target)
        return HTTPResponse(200)

    async with (
        open_http_server(record) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        with pytest.raises(pynector.ConfigurationError) as caught:
            await client.request({"url": "/", "headers": {name: value}}, retry=pynector.RetryPolicy())
        with pytest.raises(pynector.ConfigurationError):
            pynector.Pynector(transport_type=http_engine, base_url=server.url, headers={name: value})
    assert [] == seen
    assert repr(name) in str(caught.value)
    assert "secret-77" not in rendered(caught.value)
    assert 1 == caught.value.attempts


async def test_inner_whitespace_in_header_value_is_sent(http_engine: str) -> None:
    """Whitespace inside a value (not at its ends) is legal and sent as is."""

    async def echo_header(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(200, body=dict(request.headers)["x-list"])

    async with (
        open_http_server(echo_header) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url) as client,
    ):
        response = await client.request({"url": "/", "headers": {"X-List": "a, b\tc"}})
    assert b"a, b\tc" == response.content


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1"])
async def test_out_of_range_port_refused(http_engine: str, port: str) -> None:
    """A port outside 1..65535 is refused as the caller's error naming the field, never wrapped around."""
    async with pynector.Pynector(transport_type=http_engine) as client:
        with pytest.raises(pynector.ConfigurationError) as caught:
            await client.request(f"http://127.0.0.1:{port}/secret-path")
    assert f"request URL has port {port}" in str(caught.value)
    with pytest.raises(pynector.ConfigurationError, match=f"base_url has port {port}"):
        pynector.Pynector(transport_type=http_engine, base_url=f"http://127.0.0.1:{port}/api")


async def test_redirect_to_out_of_range_port_refused(http_engine: str) -> None:
    """A redirect to a port outside 1..65535 is a RedirectError, not a request to another port."""

    async def bounce(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        return HTTPResponse(302, [("Location", "http://127.0.0.1:99999/elsewhere")])

    async with (
        open_http_server(bounce) as server,
        pynector.Pynector(transport_type=http_engine, base_url=server.url, follow_redirects=True) as client,
    ):
        with pytest.raises(pynector.RedirectError, match="port 99999"):
            await client.request("/")


async def _agen(*chunks: object) -> AsyncIterator[object]:
    for chunk in chunks:
        yield chunk


def _failing_chunks() -> Iterator[bytes]:
    yield b"a"
    raise ValueError("the producer broke")


BAD_INPUTS: dict[str, tuple[Callable[[], dict[str, Any]], type[pynector.PynectorError], str]] = {
    "params True": (lambda: {"params": True}, pynector.ConfigurationError, "request params must be"),
    "params 5": (lambda: {"params": 5}, pynector.ConfigurationError, "request params must be"),
    "params pairs": (lambda: {"params": [("a",)]}, pynector.ConfigurationError, "request params must"),
    "files int": (lambda: {"files": {"a": 1}}, pynector.SerializationError, "request files: "),
    "files tuple": (lambda: {"files": {"a": ("n", 1)}}, pynector.SerializationError, "request files: "),
    "files list": (lambda: {"files": 5}, pynector.SerializationError, "request files must"),
    "content ints": (lambda: {"content": [1, 2]}, pynector.SerializationError, "request content chunks"),
    "content dict": (lambda: {"content": {"a": 1}}, pynector.SerializationError, "request content must"),
    "content int": (lambda: {"content": 5}, pynector.SerializationError, "request content must"),
    "gen of int": (
        lambda: {"content": (n for n in [1])},
        pynector.SerializationError,
        "request content chunks",
    ),
    "gen of str": (
        lambda: {"content": (s for s in ["a"])},
        pynector.SerializationError,
        "request content chunks",
    ),
    "gen raises": (lambda: {"content": _failing_chunks()}, pynector.SerializationError, "request content of"),
    "agen of int": (lambda: {"content": _agen(1)}, pynector.SerializationError, "request content chunks"),
    "agen of str": (
        lambda: {"content": _agen(b"ok", "a")},
        pynector.SerializationError,
        "request content chunks",
    ),
    "data int": (lambda: {"data": 5}, pynector.SerializationError, "request data must"),
    "data bytes": (lambda: {"data": b"raw"}, pynector.SerializationError, "request data must"),
    "json set": (lambda: {"json": {1, 2}}, pynector.SerializationError, "request json of"),
    "json nan": (lambda: {"json": float("nan")}, pynector.SerializationError, "request json of"),
    "two bodies": (lambda: {"json": 1, "content": b"x"}, pynector.ConfigurationError, "a request body comes"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
async def test_bad_request_field_is_a_pynector_error_naming_it(case: str) -> None:
    """Each malformed field is a pynector error naming it, the same on both engines; the client goes on."""
    make, expected_class, expected_start = BAD_INPUTS[case]
    outcomes = []
    async with open_http_server(echo) as server:
        for engine in ("http", "httpx"):
            async with pynector.Pynector(transport_type=engine, base_url=server.url) as client:
                with pytest.raises(pynector.PynectorError) as caught:
                    await client.request({"method": "POST", "url": "/x", **make()})
                outcomes.append((type(caught.value), str(caught.value).replace(server.url, "URL")))
                assert b"/after" == (await client.request("/after")).content
    assert expected_class is outcomes[0][0]
    assert outcomes[0][1].startswith(expected_start), outcomes[0][1]
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize(
    "url", ["../../etc/passwd", "../x", "a/../../x", "%2e%2e/x", "a/%2E%2e/%2e%2E/x", "/../x", "..", "..?q=1"]
)
async def test_relative_url_climbing_above_base_path_refused(http_engine: str, url: str) -> None:
    """A relative URL whose dot segments (plain or percent-encoded) leave base_url's path is refused."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=f"{server.url}/api/v1/") as client,
    ):
        with pytest.raises(pynector.ConfigurationError, match="climbs above base_url's path"):
            await client.request(url)


@pytest.mark.parametrize("url", ["//otherhost/x", "///x", "//127.0.0.1/api/v1/x"])
async def test_scheme_relative_url_refused(http_engine: str, url: str) -> None:
    """A scheme-relative URL (``//host/path``) is refused rather than sent to base_url's host."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=f"{server.url}/api/v1/") as client,
    ):
        with pytest.raises(pynector.ConfigurationError, match="scheme-relative"):
            await client.request(url)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("users/1", "/api/v1/users/1"),
        ("/users/1", "/api/v1/users/1"),
        ("a/../b", "/api/v1/b"),
        ("./a?q=1", "/api/v1/a?q=1"),
        ("?q=1", "/api/v1/?q=1"),
    ],
)
async def test_relative_urls_stay_under_base_path(http_engine: str, url: str, target: str) -> None:
    """A relative URL (leading slash or not) is appended to base_url's path; dots inside it resolve."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=f"{server.url}/api/v1") as client,
    ):
        response = await client.request(url)
    assert target.encode() == response.content


async def test_absolute_url_ignores_base_url(http_engine: str) -> None:
    """An absolute URL is sent as is: base_url applies to relative URLs only."""
    async with (
        open_http_server(echo) as server,
        pynector.Pynector(transport_type=http_engine, base_url=f"{server.url}/api/v1/") as client,
    ):
        response = await client.request(f"{server.url}/elsewhere")
    assert b"/elsewhere" == response.content
