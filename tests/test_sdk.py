"""The sdk and callable transports, driving the real OpenAI and Anthropic SDKs against a loopback fake."""

from __future__ import annotations

import email.utils
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing
from helpers.fake_llm_api import (
    ANTHROPIC,
    KEY,
    OPENAI,
    FakeLLMAPI,
    Reply,
    Request,
    count_tokens,
    sdk_client,
)
from helpers.imports import modules_loaded_by
from loguru import logger

import pynector
from pynector.transport import (
    CallableTransport,
    SDKTransport,
    TextReply,
    Usage,
    sum_usage,
)

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

# Under trio, the SDKs' and httpx's nested async generators are dropped unclosed when a stream ends
# (see pynector/transport/_sdk); Python ignores this ResourceWarning by default, the suite errors on
# warnings, so only these upstream ones are ignored here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Async generator '(openai|anthropic|httpx2|httpcore2)[._]:ResourceWarning"
)

SDK_MODULES = {OPENAI: openai, ANTHROPIC: anthropic}


@pytest.fixture(params=[OPENAI, ANTHROPIC])
async def api(request: pytest.FixtureRequest, nursery: trio.Nursery) -> FakeLLMAPI:
    """A fake of one provider's API, serving on 127.0.0.1 for the test's duration."""
    fake = FakeLLMAPI(request.param)
    await nursery.start(fake.serve)
    return fake


async def warm_up(client: pynector.Pynector, api: FakeLLMAPI) -> Usage:
    """Make a first call without a deadline, then forget it.

    The SDKs detect the platform in a worker thread on a client's first call; the autojump clock
    would jump over that thread's real time and fire a deadline that never expired in real time.
    """
    reply = await client.request("warm up")
    api.requests.clear()
    return Usage.of(reply)


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fail_first(reply: Reply, times: int = 1) -> Any:
    """A script answering *reply* to the first *times* requests, then the default reply."""

    def script(request: Request) -> Reply | None:
        nonlocal times
        if times > 0:
            times -= 1
            return reply
        return None

    return script


# --- requests and replies --------------------------------------------------------------------------


async def test_prompt_returns_reply_text(api: FakeLLMAPI) -> None:
    """A str prompt is sent as one user message and the reply text comes back."""
    async with sdk_client(api) as client:
        reply = await client.request("hello there")
    assert "echo: hello there" == reply
    assert isinstance(reply, TextReply)
    assert [{"role": "user", "content": "hello there"}] == api.requests[0].body["messages"]
    assert "fake-model" == api.requests[0].body["model"]
    # The SDK ran on trio's event loop (through anyio), as it reports in its own header.
    assert "async:trio" == api.requests[0].headers["x-stainless-async"]


async def test_bytes_prompt_is_decoded(api: FakeLLMAPI) -> None:
    """A bytes prompt is decoded as UTF-8."""
    async with sdk_client(api) as client:
        assert "echo: héllo" == await client.request("héllo".encode())


async def test_bytes_prompt_that_is_not_utf8_is_a_serialization_error(api: FakeLLMAPI) -> None:
    """Undecodable bytes fail before any call."""
    async with sdk_client(api) as client:
        with pytest.raises(pynector.SerializationError, match="UTF-8"):
            await client.request(b"\xff\xfe")
    assert [] == api.requests


async def test_anthropic_gets_a_max_tokens_default(nursery: trio.Nursery) -> None:
    """Anthropic requires max_tokens: the transport sends 1024 unless told otherwise."""
    api = FakeLLMAPI(ANTHROPIC)
    await nursery.start(api.serve)
    async with sdk_client(api) as client:
        await client.request("a")
        await client.request("b", max_tokens=7)
    assert [1024, 7] == [r.body["max_tokens"] for r in api.requests]


async def test_openai_gets_no_max_tokens_by_default(nursery: trio.Nursery) -> None:
    """OpenAI calls carry only the arguments given."""
    api = FakeLLMAPI(OPENAI)
    await nursery.start(api.serve)
    async with sdk_client(api) as client:
        await client.request("a")
    assert "max_tokens" not in api.requests[0].body


async def test_dict_request_returns_the_sdk_response(api: FakeLLMAPI) -> None:
    """A dict is merged over the defaults and request options; the SDK's response object comes back."""
    messages = [{"role": "user", "content": "dict call"}]
    first, second = ("temperature", "top_p") if api.provider == OPENAI else ("system", "stop_sequences")
    defaults = {first: "default", second: "default"}
    async with sdk_client(api, **defaults) as client:
        response = await client.request({"messages": messages, first: "dict"}, **{second: "option"})
    expected_type = openai.types.chat.ChatCompletion if api.provider == OPENAI else anthropic.types.Message
    assert isinstance(response, expected_type)
    body = api.requests[0].body
    assert ("dict", "option") == (body[first], body[second])


async def test_request_of_the_wrong_type_is_a_serialization_error(api: FakeLLMAPI) -> None:
    """A request that is neither a prompt nor a dict fails before any call."""
    async with sdk_client(api) as client:
        with pytest.raises(pynector.SerializationError, match="prompt"):
            await client.request(42)
    assert [] == api.requests


async def test_missing_model_is_a_configuration_error(api: FakeLLMAPI) -> None:
    """Without a model anywhere the call is refused with a clear message."""
    client = pynector.Pynector(
        transport_type="sdk", provider=api.provider, api_key=KEY, base_url=api.base_url
    )
    async with client:
        with pytest.raises(pynector.ConfigurationError, match="model"):
            await client.request("hi")
        assert "echo: hi" == await client.request("hi", model="m")


async def test_call_arguments_the_sdk_rejects_are_a_configuration_error(api: FakeLLMAPI) -> None:
    """An argument the SDK does not know fails before any call, as a ConfigurationError."""
    async with sdk_client(api) as client:
        with pytest.raises(pynector.ConfigurationError, match="no_such_argument") as caught:
            await client.request("hi", no_such_argument=1)
    assert isinstance(caught.value.__cause__, TypeError)
    assert [] == api.requests


async def test_client_options_the_sdk_rejects_are_a_configuration_error() -> None:
    """An SDK client argument that does not exist fails when the client connects, with its name."""
    client = pynector.Pynector(
        transport_type="sdk", provider="openai", api_key=KEY, client_options={"no_such_option": 1}
    )
    with pytest.raises(pynector.ConfigurationError, match="no_such_option"):
        async with client:
            pass  # pragma: no cover - not reached


async def test_client_options_reach_the_sdk_client(api: FakeLLMAPI) -> None:
    """client_options are passed to the SDK client constructor (here: a default header)."""
    async with sdk_client(api, client_options={"default_headers": {"x-team": "search"}}) as client:
        await client.request("hi")
    assert "search" == api.requests[0].headers["x-team"]


def test_client_options_cannot_turn_sdk_retries_back_on() -> None:
    """max_retries (and the options the transport owns) cannot be smuggled in through client_options."""
    with pytest.raises(pynector.ConfigurationError, match="max_retries"):
        SDKTransport(provider="openai", api_key=KEY, client_options={"max_retries": 3})


# --- batches and usage ------------------------------------------------------------------------------


async def test_batch_of_200_prompts_keeps_order_and_bounds_concurrency(
    api: FakeLLMAPI, autojump_clock: trio.testing.MockClock
) -> None:
    """200 prompts through 8 workers: replies in input order, never more than 8 calls in flight."""
    prompts = [f"prompt number {i}" for i in range(200)]
    async with sdk_client(api) as client:
        warm_up_usage = await warm_up(client, api)
        api.script = lambda request: Reply(delay=1.0)
        start = trio.current_time()
        results = await client.batch_request([(p, {}) for p in prompts], max_concurrency=8)
        elapsed = trio.current_time() - start
        transport_usage = client.transport.usage()  # type: ignore[attr-defined]
    assert [f"echo: {p}" for p in prompts] == results
    assert 8 == api.max_in_flight
    assert 25.0 <= elapsed < 26.0
    expected = Usage(
        200, sum(count_tokens(p) for p in prompts), sum(count_tokens(f"echo: {p}") for p in prompts)
    )
    assert expected == sum_usage(results)
    assert expected + warm_up_usage == transport_usage


async def test_max_connections_bounds_calls_across_the_transport(
    api: FakeLLMAPI, autojump_clock: trio.testing.MockClock
) -> None:
    """max_connections caps the calls in flight through one transport, whatever the batch allows."""
    async with sdk_client(api, max_connections=3) as client:
        await warm_up(client, api)
        api.script = lambda request: Reply(delay=1.0)
        results = await client.batch_request([(str(i), {}) for i in range(12)], max_concurrency=10)
    assert [f"echo: {i}" for i in range(12)] == results
    assert 3 == api.max_in_flight


async def test_sum_usage_counts_failed_slots_as_zero(api: FakeLLMAPI) -> None:
    """A batch with failed items still sums the usage of the replies it got."""
    api.script = lambda request: Reply(status=400) if request.prompt == "bad" else None
    async with sdk_client(api) as client:
        results = await client.batch_request([("one two", {}), ("bad", {}), ("three", {})])
    assert isinstance(results[1], pynector.HTTPClientError)
    assert Usage(2, 3, 5) == sum_usage(results)
    assert 8 == sum_usage(results).total_tokens


async def test_streamed_usage_is_added_to_the_transport(api: FakeLLMAPI) -> None:
    """A stream read to the end adds its token counts to usage()."""
    async with sdk_client(api) as client, client.stream("a b c") as deltas:
        text = "".join([d async for d in deltas])
    assert "echo: a b c" == text
    assert Usage(1, 3, 4) == client.transport.usage()  # type: ignore[attr-defined]


# --- retries, errors, deadlines -------------------------------------------------------------------


@pytest.mark.parametrize("header", [("retry-after", "7"), ("retry-after-ms", "7000")])
async def test_429_is_retried_after_the_advertised_wait(
    api: FakeLLMAPI, autojump_clock: trio.testing.MockClock, header: tuple[str, str]
) -> None:
    """A 429 with Retry-After (seconds or ms) is retried once the server's wait has passed."""
    api.script = fail_first(Reply(status=429, headers=dict([header])))
    async with sdk_client(api) as client:
        reply = await client.request_with_retry("hi", retry_delay=0.01)
    assert "echo: hi" == reply
    assert 2 == len(api.requests)
    assert 7.0 == pytest.approx(api.requests[1].time - api.requests[0].time, abs=0.05)


async def test_429_becomes_rate_limit_error_with_retry_after(api: FakeLLMAPI) -> None:
    """Without retries a 429 surfaces as RateLimitError carrying retry_after and the SDK cause."""
    api.script = lambda request: Reply(status=429, headers={"retry-after": "12"})
    async with sdk_client(api) as client:
        with pytest.raises(pynector.RateLimitError) as caught:
            await client.request("hi")
    assert 12.0 == caught.value.retry_after
    assert 429 == caught.value.status_code
    assert isinstance(caught.value.__cause__, SDK_MODULES[api.provider].RateLimitError)
    assert "HTTP 429" in str(caught.value)


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [
        ("in 30 s", 25.0, 30.0),
        ("in the past", 0.0, 0.0),
    ],
)
async def test_retry_after_as_an_http_date(api: FakeLLMAPI, header: str, low: float, high: float) -> None:
    """Retry-After as an HTTP date becomes the seconds left until then (never negative)."""
    offset = 30 if header == "in 30 s" else -3600
    date = email.utils.formatdate(time.time() + offset, usegmt=True)
    api.script = lambda request: Reply(status=429, headers={"retry-after": date})
    async with sdk_client(api) as client:
        with pytest.raises(pynector.RateLimitError) as caught:
            await client.request("hi")
    assert caught.value.retry_after is not None
    assert low <= caught.value.retry_after <= high


async def test_garbage_retry_after_is_ignored(api: FakeLLMAPI) -> None:
    """An unparseable Retry-After leaves retry_after unset, so the policy's backoff applies."""
    api.script = lambda request: Reply(status=429, headers={"retry-after": "soon-ish"})
    async with sdk_client(api) as client:
        with pytest.raises(pynector.RateLimitError) as caught:
            await client.request("hi")
    assert caught.value.retry_after is None


async def test_500_is_retried_by_default(api: FakeLLMAPI, autojump_clock: trio.testing.MockClock) -> None:
    """The sdk transport makes request_with_retry retry 5xx like the SDKs would."""
    api.script = fail_first(Reply(status=500), times=2)
    async with sdk_client(api) as client:
        assert "echo: hi" == await client.request_with_retry("hi", retry_delay=0.5)
    assert 3 == len(api.requests)
    assert {429, 500, 502, 503, 504, 529} <= SDKTransport.retry_statuses


async def test_401_is_not_retried(api: FakeLLMAPI, autojump_clock: trio.testing.MockClock) -> None:
    """An authentication failure is raised after one attempt."""
    api.script = lambda request: Reply(status=401)
    async with sdk_client(api) as client:
        with pytest.raises(pynector.UnauthorizedError) as caught:
            await client.request_with_retry("hi", max_retries=5)
    assert 1 == caught.value.attempts
    assert 1 == len(api.requests)
    assert isinstance(caught.value.__cause__, SDK_MODULES[api.provider].AuthenticationError)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, pynector.HTTPClientError),
        (403, pynector.ForbiddenError),
        (404, pynector.NotFoundError),
        (413, pynector.HTTPClientError),
        (422, pynector.HTTPClientError),
        (500, pynector.HTTPServerError),
        (503, pynector.HTTPServerError),
        (529, pynector.HTTPServerError),
    ],
)
async def test_status_errors_are_translated(
    api: FakeLLMAPI, status: int, expected: type[pynector.HTTPStatusError]
) -> None:
    """Each SDK status error becomes the matching pynector class with the status and the SDK cause."""
    api.script = lambda request: Reply(status=status)
    async with sdk_client(api) as client:
        with pytest.raises(pynector.HTTPStatusError) as caught:
            await client.request("hi")
    assert expected is type(caught.value)
    assert status == caught.value.status_code
    assert isinstance(caught.value.__cause__, SDK_MODULES[api.provider].APIStatusError)
    assert f"fake error {status}" in str(caught.value)


@pytest.mark.parametrize("provider", [OPENAI, ANTHROPIC])
async def test_connection_refused_is_connect_error(provider: str) -> None:
    """An API nobody listens on raises ConnectError naming the root cause."""
    base = f"http://127.0.0.1:{free_port()}"
    client = pynector.Pynector(transport_type="sdk", provider=provider, api_key=KEY, base_url=base, model="m")
    async with client:
        with pytest.raises(pynector.ConnectError, match="ConnectionRefusedError") as caught:
            await client.request("hi")
    assert isinstance(caught.value.__cause__, SDK_MODULES[provider].APIConnectionError)


async def test_server_hanging_up_is_a_retryable_transport_error(api: FakeLLMAPI) -> None:
    """A connection closed before the reply is a TransportError (not ConnectError) and is retried."""
    api.script = lambda request: Reply(hang_up=True)
    async with sdk_client(api) as client:
        with pytest.raises(pynector.TransportError) as caught:
            await client.request("hi")
        assert not isinstance(caught.value, pynector.ConnectError)
        assert "RemoteProtocolError" in str(caught.value)
        api.script = fail_first(Reply(hang_up=True))
        assert "echo: again" == await client.request_with_retry("again", retry_delay=0.01)


async def test_deadline_cuts_a_slow_call_and_the_client_still_works(
    api: FakeLLMAPI, autojump_clock: trio.testing.MockClock
) -> None:
    """A call slower than timeout= fails at the deadline; no task is left and the next call works."""
    tasks_before = trio.lowlevel.current_statistics().tasks_living
    async with sdk_client(api) as client:
        await warm_up(client, api)
        api.script = fail_first(Reply(delay=1000.0))
        start = trio.current_time()
        with pytest.raises(pynector.TimeoutError):
            await client.request("slow", timeout=2.0)
        assert 2.0 == pytest.approx(trio.current_time() - start)
        assert "echo: fast" == await client.request("fast", timeout=2.0)
    await trio.testing.wait_all_tasks_blocked()
    # Only the fake's handler of the abandoned call is left (still sleeping, so it cannot see the
    # hang-up); every other connection was closed and no task of ours is alive.
    assert 1 == api.open_connections
    assert tasks_before + 1 == trio.lowlevel.current_statistics().tasks_living


async def test_sdk_timeout_becomes_pynector_timeout_error(
    api: FakeLLMAPI, autojump_clock: trio.testing.MockClock
) -> None:
    """The SDK's own timeout (sdk_timeout=, a safety net) surfaces as pynector.TimeoutError."""
    async with sdk_client(api, sdk_timeout=3.0) as client:
        await warm_up(client, api)
        api.script = lambda request: Reply(delay=100.0)
        with pytest.raises(pynector.TimeoutError) as caught:
            await client.request("slow")
    assert isinstance(caught.value.__cause__, SDK_MODULES[api.provider].APITimeoutError)


async def test_batch_deadline_per_item(api: FakeLLMAPI, autojump_clock: trio.testing.MockClock) -> None:
    """In a batch, only the slow item times out; the others keep their replies and order."""
    async with sdk_client(api) as client:
        await warm_up(client, api)
        api.script = lambda request: Reply(delay=60.0) if request.prompt == "slow" else None
        item = {"timeout": 5.0}
        results = await client.batch_request([("a", item), ("slow", item), ("b", item)])
    assert ["echo: a", "echo: b"] == [results[0], results[2]]
    assert isinstance(results[1], pynector.TimeoutError)


# --- streaming ---------------------------------------------------------------------------------------


async def test_stream_yields_deltas_in_order(api: FakeLLMAPI) -> None:
    """client.stream() yields the text deltas as the API sent them."""
    api.script = lambda request: Reply(deltas=["Hel", "lo", ", ", "wor", "ld"])
    async with sdk_client(api) as client, client.stream("hi") as deltas:
        received = [d async for d in deltas]
    assert ["Hel", "lo", ", ", "wor", "ld"] == received
    assert api.requests[0].body["stream"] is True


async def test_stream_closes_on_break(api: FakeLLMAPI, autojump_clock: trio.testing.MockClock) -> None:
    """Leaving the stream block early closes the SDK stream: the server sees the hang-up."""
    api.script = lambda request: Reply(deltas=["a", "b", "c", "d"], stall_after=2)
    async with sdk_client(api) as client:
        async with client.stream("hi") as deltas:
            async for delta in deltas:
                if delta == "b":
                    break
        with trio.fail_after(1):
            await api.hangup_event.wait()
        assert Usage() == client.transport.usage()  # type: ignore[attr-defined]
        assert "echo: next" == await client.request("next")


async def test_stream_closes_on_cancel(api: FakeLLMAPI, autojump_clock: trio.testing.MockClock) -> None:
    """Cancelling a stalled stream closes it, and the client's timeout bounds the stream block."""
    received: list[str] = []
    async with sdk_client(api) as client:
        await warm_up(client, api)
        api.script = lambda request: Reply(deltas=["a", "b", "c"], stall_after=1)

        async def consume() -> None:
            async with client.stream("hi", timeout=3.0) as deltas:
                async for delta in deltas:
                    received.append(delta)

        with pytest.raises(pynector.TimeoutError):
            await consume()
        with trio.fail_after(1):
            await api.hangup_event.wait()
    assert ["a"] == received


async def test_stream_cut_mid_reply_raises_a_transport_error(api: FakeLLMAPI) -> None:
    """A stream whose connection drops mid-reply raises a pynector TransportError after the deltas."""
    api.script = lambda request: Reply(deltas=["a", "b", "c"], stall_after=2, hang_up=True)
    received: list[str] = []

    async def consume() -> None:
        async with client.stream("hi") as deltas:
            async for delta in deltas:
                received.append(delta)

    async with sdk_client(api) as client:
        with pytest.raises(pynector.TransportError) as caught:
            await consume()
        assert ["a", "b"] == received
        assert Usage() == client.transport.usage()  # type: ignore[attr-defined]
    assert "incomplete chunked read" in str(caught.value)


async def test_stream_error_is_translated(api: FakeLLMAPI) -> None:
    """A failing stream request raises the translated pynector error."""
    api.script = lambda request: Reply(status=429, headers={"retry-after": "3"})
    async with sdk_client(api) as client:
        with pytest.raises(pynector.RateLimitError) as caught:
            async with client.stream("hi"):
                pass  # pragma: no cover - not reached
    assert 3.0 == caught.value.retry_after


# --- secrets -----------------------------------------------------------------------------------------


@pytest.fixture
def log_records() -> Iterator[list[str]]:
    """Every loguru record (message and extras) while pynector's logging is enabled."""
    records: list[str] = []
    sink = logger.add(lambda m: records.append(f"{m} {m.record['extra']}"), level="TRACE")
    logger.enable("pynector")
    try:
        yield records
    finally:
        logger.disable("pynector")
        logger.remove(sink)


async def test_api_key_appears_in_no_log_or_error(
    api: FakeLLMAPI,
    autojump_clock: trio.testing.MockClock,
    log_records: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The key, even echoed by the server, is in no log record, error message or repr."""
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    api.script = fail_first(Reply(status=429, headers={"retry-after": "1"}))
    async with sdk_client(api) as client:
        await client.request_with_retry("fine")
        async with client.stream("streamed") as deltas:
            _ = [d async for d in deltas]
        api.script = lambda request: Reply(status=401, message=f"Incorrect API key provided: {KEY}")
        for call in (client.request("x"), client.request_with_retry("y")):
            with pytest.raises(pynector.UnauthorizedError) as caught:
                await call
            errors.append(caught.value)
        texts = [repr(client), repr(client.transport)]
    refused = pynector.Pynector(
        transport_type="sdk",
        provider=api.provider,
        api_key=KEY,
        base_url=f"http://127.0.0.1:{free_port()}",
        model="m",
    )
    async with refused:
        with pytest.raises(pynector.ConnectError) as caught_connect:
            await refused.request("z")
    errors.append(caught_connect.value)
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    assert log_records, "pynector logged nothing to check"
    assert [] == [t for t in texts + log_records if KEY in t]
    assert [] == [r.getMessage() for r in caplog.records if KEY in r.getMessage()]
    assert "REDACTED" in str(errors[0])


SPAN_SCRIPT = """
import sys
import trio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from helpers.fake_llm_api import FakeLLMAPI, Reply
import pynector

KEY = sys.argv[1]
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

async def main():
    async with trio.open_nursery() as nursery:
        for name in ("openai", "anthropic"):
            api = FakeLLMAPI(name)
            await nursery.start(api.serve)
            async with pynector.Pynector(
                transport_type="sdk", provider=name, api_key=KEY, base_url=api.base_url, model="m"
            ) as client:
                await client.request("hi")
                async with client.stream("hi") as deltas:
                    [d async for d in deltas]
                api.script = lambda request: Reply(status=401, message="bad key " + KEY)
                try:
                    await client.request("x")
                except pynector.UnauthorizedError:
                    pass
        nursery.cancel_scope.cancel()

trio.run(main)
for span in exporter.get_finished_spans():
    print(span.name, dict(span.attributes or {}), span.status.description)
    for event in span.events:
        print(event.name, dict(event.attributes or {}))
"""


def test_api_key_appears_in_no_span() -> None:
    """With an OpenTelemetry SDK installed, no span (the SDKs' own included) carries the key."""
    import subprocess

    tests_dir = str(Path(__file__).resolve().parent)
    done = subprocess.run(
        [sys.executable, "-W", "ignore::ResourceWarning", "-c", SPAN_SCRIPT, KEY],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tests_dir,
        env={**os.environ, "PYTHONPATH": tests_dir},
    )
    assert 0 == done.returncode, done.stderr
    assert "anthropic.messages.create" in done.stdout, "expected the Anthropic SDK's own spans"
    assert KEY not in done.stdout


# --- configuration -----------------------------------------------------------------------------------


def test_api_key_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without api_key= the provider's usual environment variable is used."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    transport = SDKTransport(provider="anthropic", model="m")
    assert "anthropic" == transport.provider


@pytest.mark.parametrize(("provider", "var"), [(OPENAI, "OPENAI_API_KEY"), (ANTHROPIC, "ANTHROPIC_API_KEY")])
def test_missing_api_key_names_the_variable(monkeypatch: pytest.MonkeyPatch, provider: str, var: str) -> None:
    """No key anywhere is a ConfigurationError that says where to put one."""
    monkeypatch.delenv(var, raising=False)
    with pytest.raises(pynector.ConfigurationError, match=var):
        pynector.Pynector(transport_type="sdk", provider=provider)


@pytest.mark.parametrize("provider", [OPENAI, ANTHROPIC])
def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    """Asking for a provider whose package is not installed names the extra to install."""
    monkeypatch.setitem(sys.modules, provider, None)
    with pytest.raises(pynector.ConfigurationError, match=rf"pynector-trio\[{provider}\]"):
        pynector.Pynector(transport_type="sdk", provider=provider, api_key=KEY)


@pytest.mark.parametrize("provider", [None, "gemini", 3])
def test_unknown_provider_is_rejected(provider: object) -> None:
    """The provider must be one the transport knows."""
    with pytest.raises(pynector.ConfigurationError, match="provider"):
        SDKTransport(provider=provider, api_key=KEY)  # type: ignore[arg-type]


def test_importing_pynector_does_not_import_the_sdks() -> None:
    """import pynector (and its registry) stays free of the SDKs, in a fresh interpreter."""
    statement = "import pynector; pynector.transport.get_transport_factory_registry()"
    assert [] == modules_loaded_by(statement, "openai", "anthropic", "anyio")


async def test_closed_transport_refuses_calls(api: FakeLLMAPI) -> None:
    """After the client closed its transport, a direct call raises ClientClosedError."""
    async with sdk_client(api) as client:
        transport = client.transport
    with pytest.raises(pynector.ClientClosedError):
        await transport.exchange("hi")


# --- the callable transport --------------------------------------------------------------------------


async def test_callable_transport_batches_any_coroutine() -> None:
    """Any async function gets ordered, bounded batches; defaults merge under request options."""
    calls: list[tuple[str, dict[str, Any]]] = []

    async def fn(data: str, **options: Any) -> str:
        calls.append((data, options))
        await trio.lowlevel.checkpoint()
        return data.upper()

    async with pynector.Pynector(transport_type="callable", fn=fn, tone="dry") as client:
        results = await client.batch_request([("a", {}), ("b", {"tone": "wet"})], max_concurrency=2)
    assert ["A", "B"] == results
    assert [("a", {"tone": "dry"}), ("b", {"tone": "wet"})] == sorted(calls)


async def test_callable_transport_translates_sdk_errors_and_sums_usage(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """A coroutine calling the real SDK gets translated errors, Retry-After retries and usage."""
    api = FakeLLMAPI(OPENAI, script=fail_first(Reply(status=429, headers={"retry-after": "4"})))
    await nursery.start(api.serve)
    sdk = openai.AsyncOpenAI(api_key=KEY, base_url=api.base_url, max_retries=0)

    async def ask(prompt: str, **options: Any) -> Any:
        messages = [{"role": "user", "content": prompt}]
        return await sdk.chat.completions.create(model="m", messages=messages, **options)

    try:
        async with pynector.Pynector(transport=CallableTransport(ask)) as client:
            response = await client.request_with_retry("one two three")
            assert "echo: one two three" == response.choices[0].message.content
            assert 4.0 == pytest.approx(api.requests[1].time - api.requests[0].time, abs=0.05)
            assert Usage(1, 3, 4) == client.transport.usage()  # type: ignore[attr-defined]
            api.script = lambda request: Reply(status=404)
            with pytest.raises(pynector.NotFoundError):
                await client.request("gone")
    finally:
        await sdk.close()


def test_callable_transport_needs_a_callable() -> None:
    """fn= is required and must be callable."""
    with pytest.raises(pynector.ConfigurationError, match="fn"):
        pynector.Pynector(transport_type="callable", fn="not callable")
