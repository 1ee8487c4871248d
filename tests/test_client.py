"""The client: lifecycle, single requests, timeouts, error mapping and transport shapes."""

from __future__ import annotations

import builtins
import errno
import random
from typing import Any

import pytest
import trio
import trio.testing
from helpers.fakes import CountingTransport, SeedEcho

import pynector
import pynector.http
from pynector import ClientClosedError, ConfigurationError, Pynector
from pynector.transport._base import SerializedTransport


def tasks_living() -> int:
    return trio.lowlevel.current_statistics().tasks_living


async def test_async_with_connects_once_and_closes_owned_transport() -> None:
    """`async with` connects the created transport once and disconnects it on exit."""
    async with Pynector(transport_type="memory", handler=lambda d, **o: d) as client:
        transport = client.transport
        assert isinstance(transport, pynector.transport.MemoryTransport)
        assert await client.request(b"x") == b"x"
    assert client.closed
    with pytest.raises(ClientClosedError):
        await transport.exchange(b"x")


async def test_concurrent_first_requests_connect_once(autojump_clock: trio.abc.Clock) -> None:
    """Without `async with`, concurrent first requests share one connect."""
    transport = CountingTransport()
    client = Pynector(transport=transport)
    async with trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(client.request, i)
    assert transport.connects == 1
    await client.aclose()


async def test_user_transport_is_not_closed() -> None:
    """A transport passed in belongs to the caller: the client never disconnects it."""
    transport = CountingTransport()
    async with Pynector(transport=transport) as client:
        assert await client.request(5) == 5
    assert transport.connects == 1
    assert transport.disconnects == 0


async def test_owned_transport_is_closed_even_when_cancelled() -> None:
    """Cleanup is shielded: a cancelled `async with` block still disconnects what it owns."""
    registry = pynector.transport.get_transport_factory_registry()
    made: list[CountingTransport] = []

    def factory(**options: Any) -> CountingTransport:
        made.append(CountingTransport())
        return made[-1]

    registry.register("counting-test", factory, replace=True)
    try:
        with trio.CancelScope() as scope:
            async with Pynector(transport_type="counting-test"):
                scope.cancel()
                await trio.sleep_forever()
        assert made[0].disconnects == 1
    finally:
        registry.unregister("counting-test")


async def test_transport_options_cannot_be_mixed_with_a_transport_object() -> None:
    """Options for a factory make no sense with a ready transport."""
    with pytest.raises(ConfigurationError, match="handler"):
        Pynector(transport=CountingTransport(), handler=print)


async def test_use_after_close_raises_a_clear_error() -> None:
    """Every entry point refuses to work on a closed client."""
    client = Pynector(transport_type="memory", handler=lambda d, **o: d)
    await client.aclose()
    await client.aclose()  # idempotent
    with pytest.raises(ClientClosedError, match="closed"):
        await client.request(b"x")
    with pytest.raises(ClientClosedError):
        await client.batch_request([(b"x", {})])
    with pytest.raises(ClientClosedError):
        await client.request_with_retry(b"x")
    with pytest.raises(ClientClosedError):
        async with client:
            pass


async def test_request_timeout_raises_pynector_timeout(autojump_clock: trio.abc.Clock) -> None:
    """A request slower than its timeout raises pynector.TimeoutError at the deadline."""

    async def slow(data: Any, **options: Any) -> Any:
        await trio.sleep(10)
        return data

    async with Pynector(transport_type="memory", handler=slow, config={"timeout": 2.0}) as client:
        start = trio.current_time()
        with pytest.raises(pynector.TimeoutError, match="timed out after 2s") as info:
            await client.request(b"x")
        assert trio.current_time() - start == 2.0
        assert isinstance(info.value.__cause__, trio.TooSlowError)
        # the argument beats the config
        with pytest.raises(builtins.TimeoutError):
            await client.request(b"x", timeout=0.5)
        assert await client.request(b"x", timeout=11) == b"x"


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "nope"), pynector.ConnectError),
        (ConnectionResetError(errno.ECONNRESET, "reset by peer"), pynector.ReadError),
        (OSError(errno.ENETDOWN, "network down"), pynector.TransportError),
        (builtins.TimeoutError("slow peer"), pynector.TimeoutError),
    ],
)
async def test_builtin_failures_become_transport_errors(raised: Exception, expected: type[Exception]) -> None:
    """A handler's OSError/TimeoutError reaches the caller as a pynector error with the cause."""

    def handler(data: Any, **options: Any) -> Any:
        raise raised

    async with Pynector(transport_type="memory", handler=handler) as client:
        with pytest.raises(expected) as info:
            await client.request(b"x")
    assert type(info.value) is expected
    assert info.value.__cause__ is raised
    assert str(raised) in str(info.value)


async def test_user_exceptions_pass_through_unchanged() -> None:
    """An application exception raised by a handler is not disguised as a transport error."""

    class AppError(Exception):
        pass

    def handler(data: Any, **options: Any) -> Any:
        raise AppError("bad input")

    async with Pynector(transport_type="memory", handler=handler) as client:
        with pytest.raises(AppError, match="bad input"):
            await client.request(b"x")


async def test_options_reach_the_handler() -> None:
    """Request options are passed to the transport's exchange."""
    seen: list[dict[str, Any]] = []

    async def handler(data: Any, **options: Any) -> Any:
        seen.append(options)
        return data

    async with Pynector(transport_type="memory", handler=handler) as client:
        assert await client.request(1, flavour="vanilla") == 1
    assert seen == [{"flavour": "vanilla"}]


async def test_memory_handler_is_required() -> None:
    """The memory transport explains what it needs."""
    with pytest.raises(ConfigurationError, match="handler=fn"):
        Pynector(transport_type="memory")
    with pytest.raises(ConfigurationError, match=r"unknown option.*colour"):
        Pynector(transport_type="memory", handler=print, colour="red")


async def test_thousand_concurrent_requests_each_get_their_own_response(
    autojump_clock: trio.abc.Clock,
) -> None:
    """1,000 tasks share one transport with random delays; every response matches its request."""
    rng = random.Random(1234)
    transport = CountingTransport()
    results: dict[int, Any] = {}
    async with Pynector(transport=transport) as client:

        async def one(i: int) -> None:
            results[i] = await client.request(("req", i), delay=rng.random())

        async with trio.open_nursery() as nursery:
            for i in range(1000):
                nursery.start_soon(one, i)
    assert {i: ("req", i) for i in range(1000)} == results
    assert transport.peak > 100  # they really overlapped


async def test_seed_shaped_transport_is_serialised_and_concurrency_safe(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A send/receive transport works, its chunks joined, and concurrent exchanges never cross."""
    rng = random.Random(99)
    seed = SeedEcho()
    results: dict[int, bytes] = {}
    async with Pynector(transport=seed) as client:
        assert isinstance(client.transport, SerializedTransport)

        async def one(i: int) -> None:
            results[i] = await client.request(str(i).encode(), delay=rng.random() / 100)

        async with trio.open_nursery() as nursery:
            for i in range(1000):
                nursery.start_soon(one, i)
    assert {i: b"echo:" + str(i).encode() for i in range(1000)} == results


async def test_interrupted_seed_exchange_reconnects_before_the_next(
    autojump_clock: trio.abc.Clock,
) -> None:
    """After a timed-out seed exchange, the transport is reconnected so no stale reply is read."""
    seed = SeedEcho()
    async with Pynector(transport=seed) as client:
        with pytest.raises(pynector.TimeoutError):
            await client.request(b"slow", delay=5, timeout=1)
        assert await client.request(b"next") == b"echo:next"
    assert seed.connects == 2
    assert seed.disconnects == 1  # the reconnect; the user's transport itself is not closed by us


async def test_seed_transport_yielding_non_bytes_is_a_protocol_error() -> None:
    """A seed transport whose receive() yields text fails with a clear ProtocolError."""

    class TextSeed(SeedEcho):
        async def receive(self):  # type: ignore[no-untyped-def,override]
            yield "not bytes"

    async with Pynector(transport=TextSeed()) as client:
        with pytest.raises(pynector.ProtocolError, match="yielded str, expected bytes"):
            await client.request(b"x")


async def test_objects_that_are_not_transports_are_rejected() -> None:
    """Passing something without the transport methods fails at construction."""
    with pytest.raises(ConfigurationError, match="is not a transport"):
        Pynector(transport=object())


async def test_default_transport_is_native_http() -> None:
    """With nothing configured, the client speaks HTTP through the native engine."""
    client = Pynector(base_url="http://127.0.0.1:9")
    assert isinstance(client.transport, pynector.http.HTTPTransport)
    assert isinstance(client.transport.engine, pynector.http.NativeEngine)
    await client.aclose()


async def test_stream_requires_a_streaming_transport() -> None:
    """stream() on a transport without streaming support says so."""
    async with Pynector(transport_type="memory", handler=lambda d, **o: d) as client:
        with pytest.raises(ConfigurationError, match="does not support streaming"):
            async with client.stream(b"x"):
                pass


async def test_no_task_is_left_after_requests(autojump_clock: trio.abc.Clock) -> None:
    """Requests, timeouts and close leave no task behind."""
    before = tasks_living()
    async with Pynector(transport=CountingTransport(delay=3)) as client:
        with pytest.raises(pynector.TimeoutError):
            await client.request(1, timeout=1)
        await client.request(2)
    assert before == tasks_living()


async def test_a_transports_name_attribute_names_it_in_messages(autojump_clock: trio.abc.Clock) -> None:
    """A user transport's `name` is what errors call it (the class name otherwise)."""
    transport = CountingTransport(delay=5)
    async with Pynector(transport=transport) as client:
        with pytest.raises(pynector.TimeoutError, match="through CountingTransport transport"):
            await client.request(1, timeout=1)
    transport.name = "inventory"  # type: ignore[attr-defined]
    async with Pynector(transport=transport) as client:
        with pytest.raises(pynector.TimeoutError, match="through inventory transport"):
            await client.request(1, timeout=1)


async def test_a_transport_deadline_without_a_client_timeout_is_a_pynector_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A trio.TooSlowError from the transport's own deadline (no client timeout) maps to TimeoutError."""

    async def handler(data: Any, **options: Any) -> Any:
        with trio.fail_after(1):
            await trio.sleep_forever()

    async with Pynector(transport_type="memory", handler=handler) as client:
        with pytest.raises(pynector.TimeoutError) as info:
            await client.request(b"x")
    assert isinstance(info.value.__cause__, trio.TooSlowError)
