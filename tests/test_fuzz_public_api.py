"""Fuzzing the public API: whatever a caller passes, the answer is a response or a documented error.

Hypothesis draws request dicts, per-request options and batch shapes (well-formed, careless and
hostile: CR/LF/NUL, header-injection and request-smuggling strings, wrong types) and sends them through
both HTTP engines against the loopback server of :mod:`pynector.testing`, through the batch calls, and
through the ``"tcp"`` transport against :func:`pynector.testing.serve_tcp`. The properties:

- every call returns a response or raises one of the pynector errors a bad input or a deadline
  documents (``ConfigurationError``, ``SerializationError``, ``TimeoutError``), never another exception;
  the server never misbehaves here, so a transport error would mean a malformed request reached it;
- nothing hangs: each example runs under ``trio.fail_after`` (it turns a hang into a failure);
- nothing forbidden reaches the wire: no request head the server parses carries an injected header, a
  smuggled request, a NUL, or a header value with leading or trailing whitespace; a tcp frame arrives
  exactly as sent (an echo returns the payload), never split into two;
- the client stays usable: after each example, a plain request through the same client succeeds.

Examples are small and few (the default suite must stay fast); each runs in its own ``trio.run``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import trio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import pynector
from pynector.testing import HTTPRequest, HTTPResponse, ServerConnection, open_http_server, serve_tcp

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
#: Errors a careless request or a deadline documents. A transport error is not among them: the
#: server below always answers, so one would mean a malformed request went on the wire.
DOCUMENTED = (pynector.ConfigurationError, pynector.SerializationError, pynector.TimeoutError)
#: Seconds an example may take before it counts as a hang (wall clock: real sockets).
HANG = 20

INJECTIONS = [
    "\r\nX-Injected: 1",
    "\nX-Injected: 1",
    "\rX-Injected: 1",
    "\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\nX-Injected: 1\r\n\r\n",
    "\x00",
    " leading",
    "trailing\t",
    "%0d%0aX-Injected: 1",
    "../../",
    "%2e%2e/",
]
_ALPHABET = st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs", "Cc"))
hostile_text = st.one_of(
    st.text(_ALPHABET, max_size=12),
    st.sampled_from(INJECTIONS),
    st.builds(
        lambda a, b, c: a + b + c, st.text(max_size=4), st.sampled_from(INJECTIONS), st.text(max_size=4)
    ),
)
junk = st.one_of(
    st.none(), st.integers(), st.booleans(), st.floats(), st.binary(max_size=8), st.just(object())
)
_FRAMING_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade", "te"}
header_name = st.one_of(
    st.sampled_from(["X-App", "Authorization", "Accept", "X-Api-Key"]), hostile_text
).filter(lambda name: name.strip().lower() not in _FRAMING_HEADERS)
headers = st.one_of(
    st.none(),
    st.dictionaries(header_name, st.one_of(hostile_text, junk), max_size=3),
    st.lists(st.tuples(header_name, hostile_text), max_size=3),
    junk,
)
params = st.one_of(
    st.none(),
    st.dictionaries(
        hostile_text, st.one_of(hostile_text, st.integers(), st.booleans(), st.none()), max_size=3
    ),
    st.lists(st.tuples(hostile_text, hostile_text), max_size=3),
    hostile_text,
    junk,
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), hostile_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(hostile_text, inner, max_size=3)),
    max_leaves=6,
)
chunks = st.lists(st.one_of(st.binary(max_size=8), hostile_text, st.integers()), max_size=3)


async def _agen(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _content(kind: str, items: list[Any]) -> Any:
    """A body of *kind* over *items*: a list, a one-shot generator, or an async generator."""
    if kind == "generator":
        return iter(items)
    if kind == "async generator":
        return _agen(items)
    return items


bodies = st.one_of(
    st.just({}),
    st.fixed_dictionaries({"json": json_values}),
    st.fixed_dictionaries({"data": st.one_of(st.dictionaries(hostile_text, hostile_text, max_size=3), junk)}),
    st.fixed_dictionaries({"content": st.one_of(st.binary(max_size=16), hostile_text, junk)}),
    st.builds(
        lambda kind, items: {"content": _content(kind, items)},
        st.sampled_from(["list", "generator", "async generator"]),
        chunks,
    ),
    st.fixed_dictionaries(
        {
            "files": st.one_of(
                st.dictionaries(
                    hostile_text,
                    st.one_of(st.binary(max_size=8), st.tuples(hostile_text, st.binary(max_size=8)), junk),
                    max_size=2,
                ),
                junk,
            )
        }
    ),
    st.fixed_dictionaries({"json": json_values, "content": st.binary(max_size=4)}),
)
methods = st.one_of(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]), hostile_text, junk
)
# Every URL stays on the loopback server or is refused before sending: a path after "/" cannot name a
# scheme or another host. "{server}" is replaced by the server's URL.
urls = st.one_of(
    st.builds(lambda text: "/" + text, hostile_text),
    st.builds(lambda text: "{server}/" + text, hostile_text),
    st.sampled_from(
        [
            "relative/path",
            "//other.invalid/x",
            "http://127.0.0.1:0/x",
            "http://127.0.0.1:99999/x",
            "ftp://127.0.0.1/x",
            "http:///x",
            "{server}/x#access_token=t",
            "{server}/x?token=t",
        ]
    ),
    junk,
)
timeouts = st.sampled_from([None, 30, 30.0, 0, -1, math.nan, math.inf, "30"])
requests = st.builds(
    lambda method, url, headers, params, body, timeout, use_path: {
        key: value
        for key, value in {
            "method": method,
            "path" if use_path else "url": url,
            "headers": headers,
            "params": params,
            "timeout": timeout,
            **body,
        }.items()
        if value is not None
    },
    methods,
    urls,
    headers,
    params,
    bodies,
    timeouts,
    st.booleans(),
)
options = st.dictionaries(
    st.sampled_from(["raise_for_status", "follow_redirects", "timeout", "retry", "unknown_option"]),
    st.one_of(st.booleans(), junk, st.just(30)),
    max_size=2,
)


class _Wire:
    """What the server saw: every parsed request head, and each thing in one that must never be there."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    async def handler(self, request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
        if "/smuggled" in request.target:
            self.violations.append(f"smuggled request {request.target!r}")
        if "\x00" in request.target:
            self.violations.append("NUL in the target")
        for name, value in request.headers:
            if name == "x-injected":
                self.violations.append("an injected header arrived")
            if "\x00" in value or value != value.strip(" \t"):
                self.violations.append(f"a forbidden value arrived in header {name!r}")
        return HTTPResponse(200, body=b"ok")


def _resolve(request: Any, server_url: str) -> Any:
    """*request* with ``{server}`` in its URL replaced by the server's URL."""
    if isinstance(request, dict):
        for key in ("url", "path"):
            if isinstance(request.get(key), str):
                request = {**request, key: request[key].replace("{server}", server_url)}
    return request


def _check_outcome(outcome: object) -> None:
    """A response, or a documented pynector error; anything else fails the example."""
    if isinstance(outcome, BaseException):
        if not isinstance(outcome, DOCUMENTED):
            raise AssertionError(f"undocumented outcome {type(outcome).__name__}: {outcome}") from outcome
    else:
        assert isinstance(outcome, pynector.http.Response), repr(outcome)


async def _one(call: Callable[[], Any]) -> object:
    try:
        return await call()
    except pynector.PynectorError as exc:
        return exc


def _run_http(engine: str, scenario: Callable[[pynector.Pynector, str], Any]) -> None:
    """Run *scenario(client, server_url)* against a fresh server and client; check the wire after."""
    wire = _Wire()

    async def main() -> None:
        with trio.fail_after(HANG):
            async with (
                open_http_server(wire.handler) as server,
                pynector.Pynector(
                    transport_type=engine, base_url=server.url + "/base/", timeout=10
                ) as client,
            ):
                await scenario(client, server.url)
                assert b"ok" == (await client.request("/healthy")).content  # the client goes on

    trio.run(main)
    assert [] == wire.violations


@FUZZ
@given(st.sampled_from(["http", "httpx"]), st.lists(st.tuples(requests, options), min_size=1, max_size=4))
@example("http", [({"url": "/x"}, {"retry": False})])  # found by this test: was a bare AttributeError
def test_http_request_gives_a_response_or_a_documented_error(engine: str, calls: list[Any]) -> None:
    """client.request(request, **options) on either engine: a response or a documented error."""

    async def scenario(client: pynector.Pynector, server_url: str) -> None:
        for request, opts in calls:
            resolved = _resolve(request, server_url)
            _check_outcome(await _one(lambda r=resolved, o=opts: client.request(r, **o)))

    _run_http(engine, scenario)


@FUZZ
@given(
    st.sampled_from(["http", "httpx"]),
    st.lists(st.one_of(st.tuples(requests, options), junk), max_size=5),
    st.sampled_from(["batch_request", "stream_batch"]),
    st.one_of(st.none(), st.integers(-1, 3), junk),
)
def test_batch_calls_give_responses_or_documented_errors(
    engine: str, pairs: list[Any], call: str, concurrency: Any
) -> None:
    """batch_request and stream_batch: a documented error for the call, else one per-item outcome each."""

    async def scenario(client: pynector.Pynector, server_url: str) -> None:
        items = [
            (_resolve(pair[0], server_url), pair[1]) if isinstance(pair, tuple) else pair for pair in pairs
        ]
        results: list[object] = []
        try:
            if call == "batch_request":
                results = await client.batch_request(items, max_concurrency=concurrency)
            else:
                async with client.stream_batch(items, max_concurrency=concurrency) as stream:
                    results = [result async for _, result in stream]
        except pynector.ConfigurationError:
            return  # a malformed pair or argument refuses the whole call
        assert len(items) == len(results)
        for result in results:
            _check_outcome(result)

    _run_http(engine, scenario)


@FUZZ
@given(
    st.sampled_from(["line", "length"]),
    st.lists(st.one_of(st.binary(max_size=32), hostile_text, junk), min_size=1, max_size=4),
)
def test_tcp_frames_arrive_whole_or_are_refused(framing: str, payloads: list[Any]) -> None:
    """The tcp transport echoes each accepted payload exactly, or refuses it with a documented error."""
    received: list[bytes] = []

    def echo(payload: bytes) -> bytes:
        received.append(payload)
        return payload

    async def main() -> None:
        with trio.fail_after(HANG):
            async with trio.open_nursery() as nursery:
                server = await nursery.start(partial(serve_tcp, echo, framing=framing))
                async with pynector.Pynector(
                    transport_type="tcp",
                    host="127.0.0.1",
                    port=server.address[1],
                    framing=framing,
                    config={"timeout": 10},
                ) as client:
                    sent = []
                    for payload in payloads:
                        outcome = await _one(lambda payload=payload: client.request(payload))
                        if isinstance(outcome, BaseException):
                            assert isinstance(
                                outcome, (pynector.SerializationError, pynector.ConfigurationError)
                            )
                        else:
                            assert payload == outcome
                            sent.append(payload)
                    assert b"healthy" == await client.request(b"healthy")
                    assert [*sent, b"healthy"] == received
                nursery.cancel_scope.cancel()

    trio.run(main)
