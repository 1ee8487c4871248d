"""Cassettes: record against real loopback servers, replay with the servers gone, same results.

Each round trip records a scenario through ``cassette.wrap(transport)`` while a loopback server
answers, stops the server, then runs the same scenario against a fresh transport for the same (now
dead) address in replay mode: anything reaching the network would fail with a connect error, so equal
results prove the cassette answered.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from helpers.fake_llm_api import OPENAI, FakeLLMAPI, Reply, Request
from hypothesis import given
from hypothesis import strategies as st

import pynector
from pynector.testing import (
    Cassette,
    CassetteError,
    HTTPRequest,
    HTTPResponse,
    MockTransport,
    ServerConnection,
    UnmatchedRequestError,
    open_http_server,
    reset_connection,
    scrub_json_fields,
    serve_tcp,
)
from pynector.testing._cassette._records import decode_body, decode_value, encode_body, encode_value
from pynector.transport import get_transport_factory_registry

pytestmark = pytest.mark.filterwarnings(
    "ignore:Async generator '(openai|anthropic|httpx2|httpcore2)[._]:ResourceWarning"
)


@asynccontextmanager
async def client_over(cassette: Cassette, transport: Any) -> AsyncIterator[pynector.Pynector]:
    """A client over *transport* wrapped in *cassette*; the transport is disconnected afterwards."""
    async with cassette.wrap(transport) as wrapped, pynector.Pynector(transport=wrapped) as client:
        yield client


async def through_cassette(
    path: Path,
    transport: Any,
    scenario: Callable[[pynector.Pynector], Awaitable[Any]],
    record_mode: str = "once",
) -> Any:
    """What *scenario* returns through a client over *transport*, wrapped in the cassette at *path*."""
    with Cassette(path, record_mode=record_mode) as cassette:
        async with client_over(cassette, transport) as client:
            return await scenario(client)


def lines(path: Path) -> list[dict[str, Any]]:
    """The exchange lines of a cassette file (the header line left out)."""
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


async def outcome(call: Awaitable[Any]) -> Any:
    """What an exchange produced, comparable across runs: an HTTP response's visible parts, or the
    error's class and attributes."""
    try:
        result = await call
    except pynector.PynectorError as exc:
        details: dict[str, Any] = {
            "class": type(exc),
            "message": str(exc),
            "http_method": exc.http_method,
            "request_sent": exc.request_sent,
        }
        if isinstance(exc, pynector.HTTPStatusError):
            details.update(status=exc.status_code, retry_after=exc.retry_after)
            if isinstance(exc.response, pynector.http.Response):
                details["body"] = exc.response.content
        return details
    return describe(result)


def describe(result: Any) -> Any:
    """An HTTP response's status, headers, URL and body; other results as they are."""
    if isinstance(result, pynector.http.Response):
        return (
            result.status_code,
            result.reason_phrase,
            result.http_version,
            result.headers.multi_items(),
            result.url,
            result.content,
            [hop.status_code for hop in result.history],
        )
    return result


# --- HTTP, both engines ------------------------------------------------------------------------


async def http_handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """A small service: JSON, a redirect, error statuses, a gzip body, server-sent events."""
    if request.path == "/items":
        return HTTPResponse.json({"items": [1, 2], "query": request.target})
    if request.path == "/create":
        return HTTPResponse.json({"created": json.loads(request.body)}, status=201)
    if request.path == "/old":
        return HTTPResponse(302, [("Location", "/items")])
    if request.path == "/missing":
        return HTTPResponse.json({"error": "no such thing"}, status=404)
    if request.path == "/busy":
        return HTTPResponse(503, [("Retry-After", "7")], b"try later")
    if request.path == "/gzip":
        import gzip

        return HTTPResponse(200, [("Content-Encoding", "gzip")], gzip.compress(b"squeezed " * 50))
    if request.path == "/events":

        async def events() -> AsyncIterator[bytes]:
            for number in range(3):
                yield f"data: {number}\n\n".encode()
                await trio.sleep(0.01)

        return HTTPResponse(200, [("Content-Type", "text/event-stream")], events())
    return HTTPResponse(500, body=b"unexpected path")


async def http_scenario(client: pynector.Pynector) -> list[Any]:
    """Every kind of HTTP exchange: plain, with a body, redirected, errors, gzip, streamed."""
    results = [
        await outcome(client.request({"url": "/items", "params": {"page": "2"}})),
        await outcome(client.request({"method": "POST", "url": "/create", "json": {"name": "x"}})),
        await outcome(client.request({"url": "/old"}, follow_redirects=True)),
        await outcome(client.request({"url": "/missing"})),
        await outcome(client.request({"url": "/busy"})),
        await outcome(client.request({"url": "/gzip"})),
    ]
    async with client.stream({"url": "/events"}) as response:
        results.append([chunk async for chunk in response.aiter_bytes()])
    async with client.stream({"url": "/gzip"}) as response:
        results.append(await response.aread())
    return results


def http_transport(engine: str, url: str, **options: Any) -> Any:
    """A fresh HTTP transport of *engine* for *url*."""
    return get_transport_factory_registry().create_transport(engine, base_url=url, **options)


async def test_http_round_trip_replays_with_the_server_gone(http_engine: str, tmp_path: Path) -> None:
    """Responses, redirects, status errors, gzip and streamed bodies replay identically, offline."""
    path = tmp_path / "http.jsonl"
    async with open_http_server(http_handler) as server:
        url = server.url
        recorded = await through_cassette(path, http_transport(http_engine, url), http_scenario)
    assert 8 == len(lines(path))
    assert 8 == sum(1 for _ in recorded)

    replayed = await through_cassette(
        path, http_transport(http_engine, url), http_scenario, record_mode="none"
    )

    assert recorded == replayed
    assert pynector.NotFoundError is replayed[3]["class"]
    assert (503, 7.0) == (replayed[4]["status"], replayed[4]["retry_after"])
    assert [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"] == replayed[6]


# --- timing on trio's clock ----------------------------------------------------------------------

DEAD_URL = "http://127.0.0.1:9"  # nothing is sent: every answer comes from the cassette


def write_cassette(path: Path, *exchanges: dict[str, Any]) -> Path:
    """A cassette file written by hand (the format is plain JSON Lines)."""
    header = {"pynector_cassette": 1, "recorded_with": "hand"}
    path.write_text("\n".join(json.dumps(line) for line in [header, *exchanges]) + "\n")
    return path


def http_exchange(path: str, *, duration: float, op: str = "exchange", **outcome: Any) -> dict[str, Any]:
    """One recorded GET of *path* on DEAD_URL."""
    url = f"{DEAD_URL}{path}"
    head = {"status": 200, "reason": "OK", "http_version": "HTTP/1.1", "url": url, "headers": []}
    if "response" not in outcome and "error" not in outcome and "cancelled" not in outcome:
        outcome["response"] = {**head, "body": {"text": "done"}} if op == "exchange" else head
    return {
        "id": 1,
        "transport": "http",
        "op": op,
        "start": 0.0,
        "duration": duration,
        "request": {"method": "GET", "url": url, "headers": [], "body": {"text": ""}},
        **outcome,
    }


async def test_an_hour_of_recorded_latency_replays_instantly_under_autojump(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A one-hour exchange takes exactly one hour of trio time on replay (and no real time)."""
    path = write_cassette(tmp_path / "slow.jsonl", http_exchange("/slow", duration=3600.0))
    with Cassette(path, record_mode="none") as cassette:
        async with client_over(cassette, http_transport("http", DEAD_URL)) as client:
            start = trio.current_time()
            response = await client.request({"url": "/slow"})
            assert 3600.0 == trio.current_time() - start
    assert b"done" == response.content


async def test_a_recorded_slow_exchange_makes_a_timeout_fire_on_replay(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """timeout=30 against an exchange recorded at 45 s raises TimeoutError after exactly 30 s."""
    path = write_cassette(tmp_path / "slow.jsonl", http_exchange("/slow", duration=45.0))
    with Cassette(path, record_mode="none", allow_unused=True) as cassette:
        async with client_over(cassette, http_transport("http", DEAD_URL)) as client:
            start = trio.current_time()
            with pytest.raises(pynector.TimeoutError):
                await client.request({"url": "/slow"}, timeout=30)
            assert 30.0 == trio.current_time() - start


async def test_stream_chunks_arrive_at_their_recorded_offsets(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The head arrives after the recorded duration, each chunk at its recorded offset."""
    exchange = http_exchange(
        "/events",
        duration=0.5,
        op="stream",
        chunks=[[1.0, {"text": "a"}], [60.0, {"text": "b"}], [3600.0, {"base64": "/w=="}]],
        end={"complete": True},
    )
    path = write_cassette(tmp_path / "sse.jsonl", exchange)
    arrivals: list[tuple[float, bytes]] = []
    with Cassette(path, record_mode="none") as cassette:
        async with client_over(cassette, http_transport("http", DEAD_URL)) as client:
            start = trio.current_time()
            async with client.stream({"url": "/events"}, timeout=None) as response:
                arrivals.append((trio.current_time() - start, b"<head>"))
                async for chunk in response.aiter_bytes():
                    arrivals.append((trio.current_time() - start, chunk))
    assert [(0.5, b"<head>"), (1.0, b"a"), (60.0, b"b"), (3600.0, b"\xff")] == arrivals


async def test_a_deadline_that_cancelled_the_recording_cancels_the_replay(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """An exchange cut by the caller's timeout is recorded as cancelled; the same timeout cuts it again."""
    mock = MockTransport()
    mock.route().hang()
    path = tmp_path / "cut.jsonl"
    with Cassette(path) as cassette:
        async with client_over(cassette, mock) as client:
            with pytest.raises(pynector.TimeoutError):
                await client.request("ping", timeout=5)
    assert [(True, 5.0)] == [(line["cancelled"], line["duration"]) for line in lines(path)]

    with Cassette(path, record_mode="none") as cassette:
        async with client_over(cassette, MockTransport()) as client:
            start = trio.current_time()
            with pytest.raises(pynector.TimeoutError):
                await client.request("ping", timeout=5)
            assert 5.0 == trio.current_time() - start


async def test_latency_zero_answers_at_once(tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """latency=0 ignores the recorded durations."""
    path = write_cassette(tmp_path / "slow.jsonl", http_exchange("/slow", duration=3600.0))
    with Cassette(path, record_mode="none", latency=0) as cassette:
        async with client_over(cassette, http_transport("http", DEAD_URL)) as client:
            start = trio.current_time()
            await client.request({"url": "/slow"})
            assert 0.0 == trio.current_time() - start


# --- tcp frames ----------------------------------------------------------------------------------


async def tcp_handler(payload: bytes) -> Any:
    """Echo in upper case; ``reset`` resets the connection."""
    if payload == b"reset":
        return reset_connection()
    return payload.upper()


async def tcp_scenario(client: pynector.Pynector) -> list[Any]:
    """Two echoes, a reset and a message exchange."""
    return [
        await outcome(client.request(b"hello")),
        await outcome(client.request(b"reset")),
        await outcome(client.request(b"again")),
    ]


def tcp_transport(port: int) -> Any:
    """A tcp transport (line framing) for 127.0.0.1:*port*."""
    return get_transport_factory_registry().create_transport("tcp", host="127.0.0.1", port=port)


async def test_tcp_round_trip_replays_with_the_server_gone(tmp_path: Path) -> None:
    """Reply frames and a connection reset (ReadError) replay identically, offline."""
    path = tmp_path / "tcp.jsonl"
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_tcp, tcp_handler)
        port = server.port
        recorded = await through_cassette(path, tcp_transport(port), tcp_scenario)
        nursery.cancel_scope.cancel()

    replayed = await through_cassette(path, tcp_transport(port), tcp_scenario, record_mode="none")

    assert recorded == replayed
    assert [b"HELLO", pynector.ReadError, b"AGAIN"] == [
        r["class"] if isinstance(r, dict) else r for r in replayed
    ]
    assert [{"text": "hello"}, {"text": "HELLO"}] == [
        lines(path)[0]["request"]["body"],
        lines(path)[0]["response"]["body"],
    ]


async def test_unix_round_trip_with_length_framing_replays_binary_frames(tmp_path: Path) -> None:
    """The unix transport's binary frames (not UTF-8: stored as base64) replay byte for byte."""
    from functools import partial

    from pynector.testing import serve_unix

    path = tmp_path / "cassette.jsonl"
    socket_path = tmp_path / "s.sock"
    registry = get_transport_factory_registry()

    def transport() -> Any:
        return registry.create_transport("unix", path=socket_path, framing="length")

    async def flip(payload: bytes) -> bytes:
        return bytes(255 - byte for byte in payload)

    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve_unix, flip, path=socket_path, framing="length"))
        recorded = await through_cassette(path, transport(), lambda client: client.request(b"\x00\x01\xfe"))
        nursery.cancel_scope.cancel()
    replayed = await through_cassette(
        path, transport(), lambda client: client.request(b"\x00\x01\xfe"), record_mode="none"
    )
    assert b"\xff\xfe\x01" == recorded == replayed
    assert {"base64": "//4B"} == lines(path)[0]["response"]["body"]


async def test_message_types_are_rebuilt_by_the_transport(tmp_path: Path) -> None:
    """With message_type="json", replay deserialises the recorded frame into the same message."""
    path = tmp_path / "messages.jsonl"
    registry = get_transport_factory_registry()

    def transport(port: int) -> Any:
        return registry.create_transport("tcp", host="127.0.0.1", port=port, message_type="json")

    async def echo(payload: bytes) -> bytes:
        return payload

    request = pynector.message.JsonMessage({"kind": "ping"}, {"n": 1})
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_tcp, echo)
        recorded = await through_cassette(
            path, transport(server.port), lambda client: client.request(request)
        )
        nursery.cancel_scope.cancel()
    replayed = await through_cassette(
        path, transport(server.port), lambda client: client.request(request), record_mode="none"
    )
    assert (recorded.get_headers(), recorded.get_payload()) == (
        replayed.get_headers(),
        replayed.get_payload(),
    )


# --- SDK calls -----------------------------------------------------------------------------------

SDK_KEY = "sk-SENTINEL-cassette-0d9f2b7e41"


def llm_script(request: Request) -> Reply | None:
    """429 with Retry-After for the prompt "busy"; the default echo otherwise."""
    if request.prompt == "busy":
        return Reply(status=429, headers={"retry-after": "3"})
    return None


async def sdk_scenario(client: pynector.Pynector) -> list[Any]:
    """A prompt, a dict request (SDK response object), a rate-limited prompt and a stream."""
    results: list[Any] = [await outcome(client.request("hello there"))]
    reply = await client.request({"messages": [{"role": "user", "content": "as dict"}]})
    results.append((type(reply).__name__, reply.choices[0].message.content, reply.usage.total_tokens))
    results.append(await outcome(client.request("busy")))
    async with client.stream("stream me please") as deltas:
        results.append([delta async for delta in deltas])
    return results


def sdk_transport(base_url: str) -> Any:
    """The openai SDK transport for the fake API at *base_url*."""
    return get_transport_factory_registry().create_transport(
        "sdk", provider=OPENAI, api_key=SDK_KEY, base_url=base_url, model="fake-model"
    )


async def test_sdk_round_trip_replays_with_the_api_gone(tmp_path: Path) -> None:
    """Text replies, SDK response objects, a RateLimitError and a token stream replay identically."""
    path = tmp_path / "sdk.jsonl"
    api = FakeLLMAPI(OPENAI, llm_script)
    async with trio.open_nursery() as nursery:
        await nursery.start(api.serve)
        base_url = api.base_url
        recorded = await through_cassette(path, sdk_transport(base_url), sdk_scenario)
        nursery.cancel_scope.cancel()

    replayed = await through_cassette(path, sdk_transport(base_url), sdk_scenario, record_mode="none")

    assert recorded == replayed
    assert "echo: hello there" == replayed[0]
    assert ("ChatCompletion", "echo: as dict") == replayed[1][:2]
    assert (pynector.RateLimitError, 429, 3.0) == (
        replayed[2]["class"],
        replayed[2]["status"],
        replayed[2]["retry_after"],
    )
    assert "echo: stream me please" == "".join(replayed[3])
    assert SDK_KEY not in path.read_text()


async def test_callable_transport_results_and_errors_round_trip(tmp_path: Path) -> None:
    """A callable transport's JSON results and its builtin and pynector errors replay as recorded."""
    path = tmp_path / "callable.jsonl"
    answers: dict[str, Any] = {
        "json": {"a": [1, 2.5, None, True], "$odd": {"x": b"\x00\xff"}},
        "text": "plain",
        "bytes": b"\x89PNG",
    }

    async def call(prompt: str, **options: Any) -> Any:
        if prompt == "bad":
            raise ValueError("bad prompt")
        if prompt == "conflict":
            raise pynector.HTTPClientError("409 conflict", status_code=409, retry_after=2.5)
        return answers[prompt]

    prompts = ["json", "text", "bytes", "bad", "conflict"]

    async def scenario(client: pynector.Pynector) -> list[Any]:
        results = []
        for prompt in prompts:
            try:
                results.append(await client.request(prompt, temperature=0))
            except Exception as exc:
                results.append((type(exc), str(exc), getattr(exc, "status_code", None)))
        return results

    recorded = await through_cassette(path, pynector.transport.CallableTransport(call), scenario)

    async def never(prompt: str, **options: Any) -> Any:
        raise AssertionError("replay must not call the function")

    replayed = await through_cassette(
        path, pynector.transport.CallableTransport(never), scenario, record_mode="none"
    )
    assert recorded == replayed
    assert (ValueError, "bad prompt", None) == replayed[3]
    assert pynector.HTTPClientError is replayed[4][0]


# --- secrets -------------------------------------------------------------------------------------

SENTINELS = {
    "authorization": "Bearer SENTINEL-auth-5c1e",
    "cookie": "session=SENTINEL-cookie-77aa",
    "api_key_header": "SENTINEL-apikey-hdr-19f0",
    "custom": "SENTINEL-custom-hdr-a4b2",
    "cassette_custom": "SENTINEL-cassette-hdr-0e6d",
    "user": "SENTINEL-user-3b",
    "password": "SENTINEL-pass-8d",
    "query": "SENTINEL-query-token-c2",
    "body_field": "SENTINEL-json-field-6a",
    "set_cookie": "SENTINEL-set-cookie-91",
}


async def echo_secrets(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse:
    """Echo every request header (secrets included) in the body, and set a cookie."""
    headers = dict(request.headers)
    body = {"seen": headers, "target": request.target, "access_token": SENTINELS["body_field"]}
    if request.path == "/denied":
        return HTTPResponse.json(body, status=401)
    return HTTPResponse.json(body, headers=[("Set-Cookie", f"id={SENTINELS['set_cookie']}")])


async def test_no_secret_ever_reaches_the_file(http_engine: str, tmp_path: Path) -> None:
    """Credential headers, cookies, user-info, secret query values, secret_headers, a server echoing
    them back and a JSON field named in scrub are all absent from the cassette."""
    path = tmp_path / "secrets.jsonl"
    async with open_http_server(echo_secrets) as server:
        url = f"http://{SENTINELS['user']}:{SENTINELS['password']}@{server.host}:{server.port}"
        transport = http_transport(
            http_engine,
            url,
            headers={
                "Authorization": SENTINELS["authorization"],
                "X-API-Key": SENTINELS["api_key_header"],
                "X-Tenant-Pass": SENTINELS["custom"],
            },
            secret_headers=["X-Tenant-Pass"],
        )
        with Cassette(
            path, secret_headers=["X-Internal"], scrub=scrub_json_fields("access_token")
        ) as cassette:
            async with client_over(cassette, transport) as client:
                request = {
                    "url": "/data",
                    "params": {"token": SENTINELS["query"], "page": "1"},
                    "headers": {"Cookie": SENTINELS["cookie"], "X-Internal": SENTINELS["cassette_custom"]},
                }
                ok = await client.request(request)
                assert SENTINELS["authorization"] in ok.text  # the server did see (and echo) them
                with pytest.raises(pynector.UnauthorizedError):
                    await client.request({**request, "url": "/denied"})
                async with client.stream(request) as streamed:
                    await streamed.aread()

    written = path.read_text()
    leaked = [name for name, secret in SENTINELS.items() if secret.split("=")[-1] in written]
    assert [] == leaked
    assert 3 == len(lines(path))
    assert "REDACTED" in written


async def test_redacted_requests_still_match_on_replay(tmp_path: Path) -> None:
    """Matching compares redacted requests, so a replay with other credentials finds its answer."""
    path = tmp_path / "auth.jsonl"
    async with open_http_server(echo_secrets) as server:
        url = server.url
        with Cassette(path) as cassette:
            transport = http_transport("http", url, headers={"Authorization": "Bearer first-token"})
            async with client_over(cassette, transport) as client:
                await client.request({"url": "/data", "params": {"api_key": "first-key"}})
    with Cassette(path, record_mode="none") as cassette:
        transport = http_transport("http", url, headers={"Authorization": "Bearer other-token"})
        async with client_over(cassette, transport) as client:
            response = await client.request({"url": "/data", "params": {"api_key": "other-key"}})
    assert 200 == response.status_code


async def test_sdk_call_arguments_that_are_credentials_are_redacted(tmp_path: Path) -> None:
    """api_key= and credential headers passed as call arguments never reach the file."""
    path = tmp_path / "args.jsonl"

    async def call(prompt: str, **options: Any) -> str:
        return f"saw {options['api_key']}"  # an echo of the secret in the result

    with Cassette(path) as cassette:
        callable_transport = pynector.transport.CallableTransport(call)
        async with client_over(cassette, callable_transport) as client:
            await client.request(
                "hi", api_key="SENTINEL-arg-key-41", extra_headers={"X-Auth-Token": "SENTINEL-arg-hdr-42"}
            )
    written = path.read_text()
    assert "SENTINEL-arg-key-41" not in written
    assert "SENTINEL-arg-hdr-42" not in written


# --- matching, order, modes ----------------------------------------------------------------------


async def record_mock(path: Path, requests: list[Any], **options: Any) -> None:
    """Record a MockTransport answering ``"re: <request>"`` to each request, in order."""
    mock = MockTransport()
    mock.route().respond_with(lambda data, **_: f"re: {data}", times=1000)
    with Cassette(path, **options) as cassette:
        async with client_over(cassette, mock) as client:
            for request in requests:
                await client.request(request)


async def replay(path: Path, requests: list[Any], **options: Any) -> list[Any]:
    """Replay *requests* in order against a mock that must not be called."""
    with Cassette(path, **options) as cassette:
        async with client_over(cassette, MockTransport()) as client:
            return [await client.request(request) for request in requests]


async def test_unmatched_request_lists_the_closest_recorded_ones(tmp_path: Path) -> None:
    """The error names the request, the closest recorded exchanges and what differs."""
    path = tmp_path / "m.jsonl"
    async with open_http_server(http_handler) as server:
        url = server.url
        with Cassette(path) as cassette:
            async with client_over(cassette, http_transport("http", url)) as client:
                await client.request({"url": "/items", "params": {"page": "1"}})
                await client.request({"method": "POST", "url": "/create", "json": {"name": "x"}})
    cassette = Cassette(path, record_mode="none", order="any")
    async with client_over(cassette, http_transport("http", url)) as client:
        with pytest.raises(UnmatchedRequestError) as info:
            await client.request({"method": "POST", "url": "/create", "json": {"name": "y"}})
    message = str(info.value)
    assert f"matches POST {url}/create" in message
    assert f"#2 POST {url}/create (differs in body; unused)" in message
    assert r'recorded body: {"text": "{\"name\":\"x\"}"}' in message
    assert r'this body:     {"text": "{\"name\":\"y\"}"}' in message
    assert f"#1 GET {url}/items?page=1 (differs in method, url, body; unused)" in message
    with pytest.raises(CassetteError, match="1 request\\(s\\) matched no recorded exchange"):
        cassette.close()


async def test_sequence_order_refuses_a_reordered_run_and_any_accepts_it(tmp_path: Path) -> None:
    """order="sequence" (default) fails when requests come in another order; order="any" does not."""
    path = tmp_path / "o.jsonl"
    await record_mock(path, ["a", "b", "c"])
    with pytest.raises(UnmatchedRequestError, match="the next exchange in sequence is #1"):
        await replay(path, ["b"], record_mode="none")
    assert ["re: c", "re: a", "re: b"] == await replay(path, ["c", "a", "b"], order="any")


async def test_identical_requests_replay_their_answers_in_recorded_order(tmp_path: Path) -> None:
    """The same request made twice gets the first recorded answer, then the second."""
    path = tmp_path / "same.jsonl"
    mock = MockTransport()
    mock.route().respond("first").respond("second")
    with Cassette(path) as cassette:
        async with client_over(cassette, mock) as client:
            await client.request("poll")
            await client.request("poll")
    assert ["first", "second"] == await replay(path, ["poll", "poll"], order="any")


async def test_a_concurrent_batch_replays_in_any_order(tmp_path: Path) -> None:
    """A batch recorded with order="any" replays whatever order its items start in."""
    path = tmp_path / "batch.jsonl"
    requests = [(f"item {n}", {}) for n in range(20)]
    mock = MockTransport()
    mock.route().respond_with(lambda data, **_: data.upper(), times=20)
    with Cassette(path, order="any") as cassette:
        async with client_over(cassette, mock) as client:
            recorded = await client.batch_request(list(reversed(requests)), max_concurrency=5)
    with Cassette(path, record_mode="none", order="any") as cassette:
        async with client_over(cassette, MockTransport()) as client:
            replayed = await client.batch_request(requests, max_concurrency=7)
    assert list(reversed(recorded)) == replayed


async def test_unused_recorded_exchanges_fail_at_close_unless_allowed(tmp_path: Path) -> None:
    """Strict by default: an exchange never replayed fails close(); allow_unused=True accepts it."""
    path = tmp_path / "u.jsonl"
    await record_mock(path, ["a", "b"])
    with pytest.raises(CassetteError, match=r"1 recorded exchange\(s\) .* never replayed[^#]*#2 \"b\""):
        await replay(path, ["a"])
    assert ["re: a"] == await replay(path, ["a"], allow_unused=True)


async def test_record_modes(tmp_path: Path) -> None:
    """once records a missing file then replays; new_episodes adds; all rewrites; none never records."""
    path = tmp_path / "modes.jsonl"
    with pytest.raises(CassetteError, match="does not exist and record_mode is 'none'"):
        Cassette(path, record_mode="none")
    await record_mock(path, ["a"])  # once, no file: records
    assert ["a"] == [line["request"]["body"] for line in lines(path)]
    with pytest.raises(UnmatchedRequestError):
        await replay(path, ["a", "b"])  # once, file exists: replay only
    await record_mock(path, ["a", "b"], record_mode="new_episodes")
    assert ["a", "b"] == [line["request"]["body"] for line in lines(path)]
    await record_mock(path, ["c"], record_mode="all")
    assert ["c"] == [line["request"]["body"] for line in lines(path)]
    with pytest.raises(UnmatchedRequestError):
        await replay(path, ["a"], record_mode="none")


async def test_matchers_are_configurable(tmp_path: Path) -> None:
    """match_on=["path"] ignores the host and query; a callable matcher decides alone."""
    path = write_cassette(tmp_path / "p.jsonl", http_exchange("/v1/x", duration=0))
    with Cassette(path, record_mode="none", match_on=["method", "path"], latency=0) as cassette:
        async with client_over(cassette, http_transport("http", "http://elsewhere.invalid")) as client:
            assert b"done" == (await client.request({"url": "/v1/x?q=1"})).content

    def same_last_segment(recorded: Any, live: Any) -> bool:
        return bool(recorded["url"].rsplit("/", 1)[-1] == live["url"].rsplit("/", 1)[-1])

    with Cassette(path, record_mode="none", match_on=[same_last_segment], latency=0) as cassette:
        async with client_over(cassette, http_transport("http", "http://other.invalid")) as client:
            assert b"done" == (await client.request({"url": "/v2/x"})).content


def test_invalid_options_are_configuration_errors(tmp_path: Path) -> None:
    """Unknown modes, orders, matchers and negative latency are refused at construction."""
    for options in (
        {"record_mode": "sometimes"},
        {"order": "random"},
        {"match_on": ["colour"]},
        {"match_on": "method"},
        {"latency": -1},
    ):
        with pytest.raises(pynector.ConfigurationError):
            Cassette(tmp_path / "x.jsonl", **options)


def test_a_file_that_is_not_a_cassette_is_refused(tmp_path: Path) -> None:
    """A file without the header line, or with a broken line, raises CassetteError naming it."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(CassetteError, match="is not a pynector cassette"):
        Cassette(path)
    path.write_text('{"pynector_cassette": 1}\n{not json\n')
    with pytest.raises(CassetteError, match=r"bad\.jsonl:2 is not a JSON line"):
        Cassette(path)


async def test_a_failing_block_keeps_the_recording_but_skips_the_checks(tmp_path: Path) -> None:
    """An error inside ``with Cassette(...)`` is not hidden by the strict checks."""
    path = tmp_path / "f.jsonl"
    await record_mock(path, ["a", "b"])
    with pytest.raises(KeyError), Cassette(path):
        raise KeyError("the test's own failure")


# --- the encodings -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_values_round_trip_through_a_json_line(value: Any) -> None:
    """Any JSON value, bytes included (and dict keys starting with $), survives encode, JSON, decode."""
    assert value == decode_value(json.loads(json.dumps(encode_value(value))))


@given(st.binary())
def test_bodies_round_trip_as_text_or_base64(data: bytes) -> None:
    """A body is text when it is UTF-8, base64 otherwise, and decodes to the same bytes."""
    encoded = encode_body(data)
    try:
        data.decode("utf-8")
        assert ["text"] == list(encoded)
    except UnicodeDecodeError:
        assert ["base64"] == list(encoded)
    assert data == decode_body(json.loads(json.dumps(encoded)))


def test_a_value_a_cassette_cannot_write_is_a_cassette_error() -> None:
    """Results that are not JSON, bytes, messages, models or responses are refused with their type."""
    with pytest.raises(CassetteError, match="cannot write a object"):
        encode_value(object())


async def test_a_recorded_timeout_error_replays_at_the_same_moment(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A transport's own TimeoutError after 7 s is raised again after 7 s, same class and message."""
    mock = MockTransport()
    mock.route().fail_timeout(delay=7)
    path = tmp_path / "timeout.jsonl"

    async def attempt() -> tuple[type[BaseException], str, float]:
        start = trio.current_time()
        try:
            await client.request("ping")
        except pynector.TimeoutError as exc:
            return type(exc), str(exc), trio.current_time() - start
        raise AssertionError("no timeout")

    with Cassette(path) as cassette:
        async with client_over(cassette, mock) as client:
            recorded = await attempt()
    with Cassette(path, record_mode="none") as cassette:
        async with client_over(cassette, MockTransport()) as client:
            replayed = await attempt()
    assert recorded == replayed
    assert 7.0 == replayed[2]


@given(st.text(alphabet="abcdefghijkmnopqrstuvwxyz0123456789", min_size=6, max_size=40))
def test_a_credential_and_its_echoes_never_reach_the_file(token: str) -> None:
    """Whatever its value, a credential sent in a header and echoed back in the answer is not written."""
    secret = f"SECRET{token}"

    async def echo(request: Any, **options: Any) -> Any:
        return {"echo": request["headers"], "note": f"called with {secret}"}

    async def main(path: Path) -> None:
        with Cassette(path) as cassette:
            transport = pynector.transport.CallableTransport(echo)
            async with client_over(cassette, transport) as client:
                await client.request({"headers": {"Authorization": secret}, "q": 1})

    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "c.jsonl"
        trio.run(main, path)
        written = path.read_text()
    assert secret not in written
    assert written.count("REDACTED") >= 3  # the header, its echo, the echo in the note
