"""Server-Sent Events: a pure incremental decoder, ``aiter_sse()`` and subscriptions that stay alive.

An event stream (``Content-Type: text/event-stream``) is UTF-8 text made of lines; a blank line ends
an event. :class:`SSEDecoder` follows the WHATWG parsing rules (HTML Living Standard, "event stream
interpretation") byte for byte, and like the decoders of :mod:`pynector.framing` it is sans-I/O: feed
it chunks cut anywhere (even between the CR and LF of a line end, or inside a UTF-8 sequence) and it
hands back the complete events. The rules it applies:

- lines end with CRLF, LF or a lone CR; a leading byte order mark is skipped once;
- ``data:`` lines of one event are joined with ``\\n``; an event without data is not dispatched;
- a line starting with ``:`` is a comment (servers send them as keep-alives); a line without a colon
  is a field name with an empty value; one space after the colon is stripped, no more;
- ``event:`` sets the type (default ``"message"``); ``id:`` sets the last event id, which persists
  across events (and reconnections) until changed, and is ignored when it contains NUL; ``retry:``
  sets the reconnection time in milliseconds when it is ASCII digits only, and is ignored otherwise;
- unknown fields are ignored; an event cut off by the end of the stream is discarded.

:func:`aiter_sse` reads the events of a streamed HTTP response (either engine) and refuses an answer
that is not ``text/event-stream`` with a :class:`pynector.ProtocolError`. :func:`open_subscription`
(reached as ``Pynector.subscribe``) keeps one alive: after a dropped connection it reconnects with
``Last-Event-ID``, waiting as the server asked (``retry:``, or ``Retry-After`` on a 429/503) or else
with the backoff of the one :class:`~pynector.RetryPolicy`; an idle timeout (no event for N seconds)
counts as a dropped connection; a total deadline ends it. Reading happens in one task that hands each
event over a zero-capacity channel, so a slow consumer slows the reading (TCP flow control reaches the
server) and memory stays bounded: one received chunk and one event at most, whose size is capped by
``max_event_size``.

:class:`SSETransport` makes subscriptions batchable: ``Pynector(transport_type="sse", ...)`` answers
each request with the list of events of one subscription (until ``max_events`` or the end of the
stream), so ``stream_batch`` runs many of them with bounded concurrency.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import math
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import trio

from ._batch import _reraise
from ._config import validate_count, validate_timeout
from ._errors import ConfigurationError, ProtocolError, PynectorError, ReadError, TimeoutError
from ._exctools import collapse_group
from ._retry import RETRY_WAIT_HOOK, RetryPolicy, call_with_retry

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "EventStream",
    "SSEDecoder",
    "SSETransport",
    "ServerSentEvent",
    "aiter_sse",
    "encode_event",
    "open_subscription",
]

#: The largest event (its buffered line and data, in characters) a decoder accepts by default: 1 MiB.
DEFAULT_MAX_EVENT_SIZE: Final = 1024 * 1024

_LINE_END = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event.

    Attributes:
        data: the ``data:`` lines joined with ``\\n``.
        event: the event type (``"message"`` unless the server sent ``event:``).
        id: the last event id at dispatch time (it persists across events; ``""`` if none was sent).
        retry: the reconnection time in milliseconds, when this event's block carried a valid
            ``retry:`` field, else ``None``.
    """

    data: str = ""
    event: str = "message"
    id: str = ""
    retry: int | None = None

    def json(self) -> Any:
        """The data parsed as JSON.

        Raises:
            pynector.DeserializationError: the data is not valid JSON.
        """
        import json

        from ._errors import DeserializationError

        try:
            return json.loads(self.data)
        except ValueError as exc:
            raise DeserializationError(
                f"the data of a {self.event!r} event is not valid JSON: {exc}"
            ) from exc


class SSEDecoder:
    """Incremental event-stream decoder: ``feed(chunk)`` returns the events that chunk completed.

    Args:
        max_event_size: the most characters one event may buffer (its unfinished line plus its data);
            more raises :class:`pynector.ProtocolError`, so a server cannot make us buffer without limit.

    Attributes:
        last_event_id: the last event id string (persists across events; set it to resume).
        retry: the reconnection time in milliseconds the server asked for, or ``None``.
    """

    __slots__ = (
        "_buffer",
        "_data",
        "_data_size",
        "_event",
        "_id",
        "_max",
        "_retry_seen",
        "_skip_lf",
        "_started",
        "_text",
        "last_event_id",
        "retry",
    )

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE, last_event_id: str = "") -> None:
        self._max = max_event_size
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._started = False  # whether the first character (a possible BOM) was seen
        self._skip_lf = False  # the previous chunk ended with CR: a LF starting this one ends nothing
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        self._id = last_event_id
        self._retry_seen: int | None = None
        self.last_event_id = last_event_id
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode *chunk* (any slice of the stream) and return the events it completed, in order.

        Raises:
            pynector.ProtocolError: an event grew beyond ``max_event_size``.
        """
        text = self._text.decode(chunk)
        if not self._started and text:
            self._started = True
            if text.startswith(_BOM):
                text = text[1:]
        if self._skip_lf and text:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        buffer = self._buffer + text if self._buffer else text
        events: list[ServerSentEvent] = []
        start = 0
        for match in _LINE_END.finditer(buffer):
            end = match.start()
            if match.group() == "\r" and match.end() == len(buffer):
                self._skip_lf = True  # maybe the CR of a CRLF cut between two chunks
            event = self._line(buffer[start:end])
            if event is not None:
                events.append(event)
            start = match.end()
        self._buffer = buffer[start:]
        if len(self._buffer) + self._data_size > self._max:
            raise ProtocolError(
                f"a server-sent event grew beyond max_event_size={self._max} characters "
                "without being dispatched"
            )
        return events

    def end_of_input(self) -> None:
        """Declare the stream ended: an event not finished by a blank line is discarded."""
        self._buffer = ""
        self._data.clear()
        self._data_size = 0
        self._event = ""
        self._retry_seen = None
        self._skip_lf = False
        self._text.reset()
        self._started = False

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(value) + 1
            if self._data_size > self._max:
                raise ProtocolError(
                    f"a server-sent event's data grew beyond max_event_size={self._max} characters"
                )
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = self._retry_seen = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        self.last_event_id = self._id
        retry, self._retry_seen = self._retry_seen, None
        if not self._data:
            self._event = ""
            return None
        event = ServerSentEvent("\n".join(self._data), self._event or "message", self._id, retry)
        self._data = []
        self._data_size = 0
        self._event = ""
        return event


def encode_event(
    data: str | None = None,
    *,
    event: str | None = None,
    id: str | None = None,  # noqa: A002 - the field's name in the format
    retry: int | None = None,
    comment: str | None = None,
) -> bytes:
    """The bytes of one event in the event-stream format (what a server writes), ending with a blank line.

    Multi-line *data* becomes several ``data:`` lines (``\\r\\n`` and ``\\r`` count as line ends).

    Raises:
        pynector.ConfigurationError: *event* or *id* contains a line break (or *id* a NUL), or
            *retry* is not an int >= 0.
    """
    lines: list[str] = []
    if comment is not None:
        lines.extend(f":{part}" for part in _LINE_END.split(comment))
    for name, value in (("event", event), ("id", id)):
        if value is not None:
            if _LINE_END.search(value) or (name == "id" and "\x00" in value):
                raise ConfigurationError(f"an event's {name} cannot contain a line break or NUL: {value!r}")
            lines.append(f"{name}: {value}" if value else name)
    if retry is not None:
        lines.append(f"retry: {validate_count(retry, 'retry', 0)}")
    if data is not None:
        lines.extend(f"data: {part}" if part else "data" for part in _LINE_END.split(data))
    return ("\n".join(lines) + "\n\n").encode()


# --- reading a streamed HTTP response ------------------------------------------------------------


def check_event_stream(response: Any) -> None:
    """Raise unless *response* is a ``text/event-stream`` answer.

    Raises:
        pynector.ProtocolError: another content type (the message names it and the request).
    """
    content_type = response.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "text/event-stream":
        shown = content_type or "no Content-Type"
        raise ProtocolError(
            f"{response.request!r} answered {response.status_code} with {shown}, not text/event-stream: "
            "it is not an event stream"
        )


class _ResponseEvents:
    """The events of one streamed response (a class, not an async generator: a consumer may stop
    early, and a suspended async generator left to the garbage collector makes trio warn)."""

    def __init__(self, response: Any, decoder: SSEDecoder) -> None:
        self._chunks = response.aiter_bytes()
        self._decoder = decoder
        self._ready: list[ServerSentEvent] = []
        self._done = False

    def __aiter__(self) -> _ResponseEvents:
        return self

    async def __anext__(self) -> ServerSentEvent:
        while not self._ready:
            if self._done:
                raise StopAsyncIteration
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._done = True
                self._decoder.end_of_input()
                continue
            self._ready = self._decoder.feed(chunk)
            self._ready.reverse()
        return self._ready.pop()


def aiter_sse(
    response: Any, *, decoder: SSEDecoder | None = None, max_event_size: int = DEFAULT_MAX_EVENT_SIZE
) -> AsyncIterator[ServerSentEvent]:
    """Iterate the events of a streamed HTTP response (``Response.aiter_sse()`` calls this).

    ``async with client.stream(url) as response: async for event in aiter_sse(response): ...``
    The stream ends when the server closes it; the event cut off then, if any, is dropped.

    Args:
        response: a response of ``client.stream(...)`` (either HTTP engine) or of the mock transport.
        decoder: a decoder to continue (its ``last_event_id`` and ``retry`` are updated as events
            arrive); default a fresh one.
        max_event_size: the bound of a fresh decoder.

    Raises:
        pynector.ProtocolError: the answer is not ``text/event-stream`` (raised at once), or an event
            is larger than ``max_event_size`` (while iterating).
        pynector.TransportError: the connection failed while reading (while iterating).
    """
    check_event_stream(response)
    return _ResponseEvents(response, decoder if decoder is not None else SSEDecoder(max_event_size))


# --- subscriptions -------------------------------------------------------------------------------

#: ``open_stream(request, timeout) -> async context manager of a streamed response``.
OpenStream = Callable[[Any, "float | None"], AbstractAsyncContextManager[Any]]

_END: Any = object()


class EventStream:
    """The events of a subscription, across reconnections (see :func:`open_subscription`).

    Attributes:
        last_event_id: the id of the last event handed out (resume from it later).
        connections: connections opened so far (1 + reconnections).
        retry: the reconnection time (milliseconds) the server asked for, or ``None``.
    """

    def __init__(self, receive: trio.MemoryReceiveChannel[Any], decoder: SSEDecoder) -> None:
        self._receive = receive
        self._decoder = decoder
        self._ended = False
        self._last_id = decoder.last_event_id
        self.connections = 0

    @property
    def last_event_id(self) -> str:
        """The id of the last event this iterator handed out (or the one given when subscribing):
        what to pass as ``last_event_id=`` to resume later without losing an event."""
        return self._last_id

    @property
    def retry(self) -> int | None:
        """The reconnection time in milliseconds the server asked for, or ``None``."""
        return self._decoder.retry

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ServerSentEvent:
        """The next event; blocks until one arrives (the reading task waits for this call).

        Raises:
            StopAsyncIteration: the server ended the subscription (204 No Content, or the stream
                closed with ``reconnect=False``).
            pynector.TimeoutError: the total deadline passed, or the idle timeout with no retry left.
            pynector.ProtocolError: the answer was not ``text/event-stream``, or an event too large.
            pynector.PynectorError: the last connection error when the retries ran out.
        """
        if self._ended:
            raise StopAsyncIteration
        try:
            item = await self._receive.receive()
        except trio.EndOfChannel:
            item = _END
        if item is _END:
            self._ended = True
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        self._last_id = item.id
        return item  # type: ignore[no-any-return]


def subscription_request(request: Any, last_event_id: str) -> dict[str, Any]:
    """The request dict of one connection: *request* plus ``Accept``, ``Cache-Control`` and, when
    resuming, ``Last-Event-ID``; no per-request timeout (a subscription's deadlines are its own).

    Raises:
        pynector.ConfigurationError: *request* is not a URL string or a request dict.
    """
    if isinstance(request, str):
        request = {"url": request}
    to_request = getattr(request, "to_request", None)
    if callable(to_request):  # an HttpMessage
        request = to_request()
    if not isinstance(request, Mapping):
        raise ConfigurationError(
            f"a subscription request is a URL string or a request dict, got {type(request).__name__}"
        )
    raw = request.get("headers") or {}
    headers = list(raw.items()) if isinstance(raw, Mapping) else list(raw)
    names = {str(name).lower() for name, _ in headers}
    if "accept" not in names:
        headers.append(("Accept", "text/event-stream"))
    if "cache-control" not in names:
        headers.append(("Cache-Control", "no-cache"))
    headers = [(n, v) for n, v in headers if str(n).lower() != "last-event-id"]
    if last_event_id:
        headers.append(("Last-Event-ID", last_event_id))
    return {"timeout": None, **request, "headers": headers}


@asynccontextmanager
async def open_subscription(
    open_stream: OpenStream,
    request: Any,
    *,
    retry: RetryPolicy | None = None,
    idle_timeout: float | None = None,
    timeout: float | None = None,
    last_event_id: str = "",
    reconnect: bool = True,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
) -> AsyncIterator[EventStream]:
    """Keep a subscription to an event stream alive: ``async with ... as events: async for e in events``.

    Usually reached through ``Pynector.subscribe(url, ...)``, which passes ``client.stream`` as
    *open_stream*.

    Reconnection: when a connection drops (the server closes it, a read error, an idle timeout), the
    subscription reconnects and sends ``Last-Event-ID`` so the server can resume. A connection that
    delivered at least one event starts the retry count afresh; consecutive failures without an event
    follow *retry* (``is_retryable``, ``max_retries``, backoff, ``max_retry_after``, budget). The wait
    before a reconnection is the ``Retry-After`` of a 429/503 answer, else the server's ``retry:``
    field, else the policy's backoff. The policy's own ``timeout`` is not used: *timeout* is the
    subscription's total deadline. A 204 No Content answer ends the subscription (the server says
    "stop"), as does the end of the stream with ``reconnect=False``.

    Backpressure: one task reads and hands over each event when the consumer asks for it, so a slow
    consumer slows the reading; memory is one chunk and one event (``max_event_size``) at most.

    Args:
        open_stream: ``open_stream(request, timeout)``, an async context manager of a streamed response.
        request: a URL string or a request dict (headers are added, never replaced).
        retry: the reconnection policy (default ``RetryPolicy()``: 3 retries, backoff from 1 s).
        idle_timeout: seconds without an event after which the connection counts as dropped.
        timeout: seconds the whole subscription may last, or ``None``.
        last_event_id: resume after this id (sent as ``Last-Event-ID`` on the first connection too).
        reconnect: reconnect after the server closes the stream (default True).
        max_event_size: the largest event accepted, in characters.

    Raises:
        pynector.ConfigurationError: invalid arguments (on entering).
        Errors of the subscription are raised by the ``async for`` (see :meth:`EventStream.__anext__`).
    """
    policy = RetryPolicy() if retry is None else retry
    if not isinstance(policy, RetryPolicy):
        raise ConfigurationError(f"retry must be a RetryPolicy or None, got {retry!r}")
    idle = validate_timeout(idle_timeout, "idle_timeout")
    total = validate_timeout(timeout, "subscription timeout")
    if not isinstance(last_event_id, str) or "\x00" in last_event_id or _LINE_END.search(last_event_id):
        raise ConfigurationError(f"last_event_id must be a string without line breaks, got {last_event_id!r}")
    if not isinstance(reconnect, bool):
        raise ConfigurationError(f"reconnect must be True or False, got {reconnect!r}")
    size = validate_count(max_event_size, "max_event_size", 1)
    subscription_request(request, "")  # check the request's shape now, not in the reading task
    decoder = SSEDecoder(size, last_event_id)
    send, receive = trio.open_memory_channel[Any](0)
    events = EventStream(receive, decoder)
    reader = _Reader(open_stream, request, policy, idle, total, reconnect, decoder, send, events)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader.run)
            try:
                yield events
            finally:
                # No checkpoint here: a Cancelled raised now would replace the block's own exception.
                # Cancel first: the reading task then ends cancelled (not failed) in the statistics.
                nursery.cancel_scope.cancel()
                receive.close()
    except BaseExceptionGroup as group:
        # The reading task never raises an Exception (it hands errors to the consumer), so the group
        # holds what the consumer's block raised, or cancellation: one plain exception leaves.
        _reraise(collapse_group(group))


class _Dropped(ReadError):
    """A connection that ended (or failed) after delivering events: the retry count starts afresh."""


class _Reader:
    """The reading task of one subscription: connects, decodes, hands events over, reconnects."""

    def __init__(
        self,
        open_stream: OpenStream,
        request: Any,
        policy: RetryPolicy,
        idle: float | None,
        total: float | None,
        reconnect: bool,
        decoder: SSEDecoder,
        send: trio.MemorySendChannel[Any],
        events: EventStream,
    ) -> None:
        self.open_stream = open_stream
        self.request = request
        self.idle = idle
        self.total = total
        self.reconnect = reconnect
        self.decoder = decoder
        self.send = send
        self.events = events
        self.fatal: BaseException | None = None
        self.ended = False
        # The subscription's deadline is its own; the policy says what to retry and how long to wait.
        outer_if = policy.retry_if

        def retry_if(exc: Exception) -> bool:
            if exc is self.fatal or isinstance(exc, _Dropped):
                return False  # fatal, or handled by run() with a fresh count
            return outer_if is None or bool(outer_if(exc))

        self.policy = dataclasses.replace(policy, timeout=None, retry_if=retry_if)

    async def run(self) -> None:
        deadline = math.inf if self.total is None else trio.current_time() + self.total
        outcome: Any = _END
        try:
            with trio.move_on_at(deadline) as scope:
                while not self.ended:
                    try:
                        await call_with_retry(self.policy, self._connection)
                    except _Dropped as dropped:
                        # Events arrived, then the stream dropped: wait as asked, then a fresh count.
                        wait = min(self.policy.wait_before(dropped, 1), self.policy.max_retry_after)
                        hook = RETRY_WAIT_HOOK.get()  # pynector.testing.no_retry_wait()
                        await trio.sleep(wait if hook is None else hook(wait))
            if scope.cancelled_caught:
                outcome = TimeoutError(f"the subscription's total timeout of {self.total:g}s expired")
        except Exception as exc:
            outcome = exc
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.send.send(outcome)  # unless the consumer left
        await self.send.aclose()

    def _wait_hint(self, error: PynectorError) -> PynectorError:
        # The server's ``retry:`` field replaces the backoff (a Retry-After of the error wins).
        if self.decoder.retry is not None and getattr(error, "retry_after", None) is None:
            error.retry_after = self.decoder.retry / 1000.0  # type: ignore[attr-defined]
        return error

    async def _connection(self, number: int) -> None:
        """One connection. Returns when the subscription ended; raises to reconnect."""
        self.events.connections += 1
        request = subscription_request(self.request, self.decoder.last_event_id)
        decoder = self.decoder
        delivered = False
        clean_end = False
        try:
            async with self.open_stream(request, None) as response:
                if response.status_code == 204:
                    self.ended = True  # "204 No Content": the server asks us to stop
                    return
                try:
                    check_event_stream(response)
                except ProtocolError as exc:
                    self.fatal = exc  # not an event stream: reconnecting cannot help
                    raise
                chunks = response.aiter_bytes()
                idle = self.idle
                # Idle means no *event*: comments (keep-alives) do not reset it.
                idle_deadline = math.inf if idle is None else trio.current_time() + idle
                while True:
                    with trio.move_on_at(idle_deadline) as idle_scope:
                        try:
                            chunk = await chunks.__anext__()
                        except StopAsyncIteration:
                            # Ended here, inside the block: the stream's attempt ends as a success.
                            clean_end = True
                            break
                    if idle_scope.cancelled_caught:
                        raise TimeoutError(f"no event for {idle:g}s (idle_timeout)")
                    try:
                        ready = decoder.feed(chunk)
                    except ProtocolError as exc:
                        self.fatal = exc  # an oversized event would be sent again
                        raise
                    for event in ready:
                        await self.send.send(event)
                        delivered = True
                    if ready and idle is not None:
                        idle_deadline = trio.current_time() + idle
        except PynectorError as exc:
            decoder.end_of_input()
            if exc is self.fatal or not delivered:
                self._wait_hint(exc)
                raise
            error = exc
        else:
            if not clean_end:
                return  # 204
            decoder.end_of_input()
            if not self.reconnect:
                self.ended = True
                return
            error = ReadError("the server closed the event stream")
        if delivered:
            raise self._wait_hint(_Dropped(f"the event stream dropped ({error}); reconnecting")) from error
        raise self._wait_hint(error)


class SSETransport:
    """Subscriptions as exchanges, so batches can run many: ``Pynector(transport_type="sse", ...)``.

    ``exchange(request)`` reads one subscription and returns its events as a list: until
    ``max_events`` events arrived (reconnecting as needed), or, without ``max_events``, until the
    server ends the stream. ``stream(request)`` opens a live subscription (an :class:`EventStream`).

    Args:
        inner: the HTTP transport to stream through (anything with ``stream(request, **options)``).
        retry: the reconnection policy (see :func:`open_subscription`).
        idle_timeout: seconds without an event after which a connection counts as dropped.
        max_event_size: the largest event accepted, in characters.

    Per-request options of ``exchange``/``stream``: ``max_events``, ``idle_timeout``, ``last_event_id``,
    ``reconnect`` and ``timeout`` (the subscription's total deadline).

    Raises:
        pynector.ConfigurationError: *inner* cannot stream, or an invalid option.
    """

    name = "sse"

    def __init__(
        self,
        inner: Any,
        *,
        retry: RetryPolicy | None = None,
        idle_timeout: float | None = None,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        if not callable(getattr(inner, "stream", None)):
            raise ConfigurationError(f"the sse transport needs a transport with stream(), got {inner!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy or None, got {retry!r}")
        self.inner = inner
        self.retry = retry
        self.idle_timeout = validate_timeout(idle_timeout, "idle_timeout")
        self.max_event_size = validate_count(max_event_size, "max_event_size", 1)

    def __repr__(self) -> str:
        return f"<SSETransport over {self.inner!r}>"

    async def connect(self) -> None:
        """Connect the inner transport."""
        await self.inner.connect()

    async def disconnect(self) -> None:
        """Disconnect the inner transport (subscriptions in flight fail). Idempotent."""
        await self.inner.disconnect()

    def _open(self, request: Any, timeout: float | None) -> AbstractAsyncContextManager[Any]:
        return self.inner.stream(request)  # type: ignore[no-any-return]

    @asynccontextmanager
    async def stream(self, data: Any, **options: Any) -> AsyncIterator[EventStream]:
        """Open a live subscription to *data* (a URL or request dict); see :func:`open_subscription`.

        Raises:
            pynector.ConfigurationError: an unknown or invalid option.
        """
        max_events = options.pop("max_events", None)
        if max_events is not None:
            raise ConfigurationError("max_events is an option of exchange(), not of stream()")
        async with self._subscription(data, options, True) as events:
            yield events

    def _subscription(
        self, data: Any, options: dict[str, Any], reconnect: bool
    ) -> AbstractAsyncContextManager[EventStream]:
        unknown = set(options) - {"idle_timeout", "last_event_id", "reconnect", "timeout"}
        if unknown:
            raise ConfigurationError(f"unknown option(s) for the sse transport: {', '.join(sorted(unknown))}")
        return open_subscription(
            self._open,
            data,
            retry=self.retry,
            idle_timeout=options.get("idle_timeout", self.idle_timeout),
            timeout=options.get("timeout"),
            last_event_id=options.get("last_event_id", ""),
            reconnect=options.get("reconnect", reconnect),
            max_event_size=self.max_event_size,
        )

    async def exchange(self, data: Any, **options: Any) -> list[ServerSentEvent]:
        """Read one subscription and return its events.

        With ``max_events=N``: the first N events (reconnecting as needed). Without: every event
        until the server ends the stream (no reconnection unless ``reconnect=True``).

        Raises:
            As :meth:`EventStream.__anext__`; pynector.ConfigurationError for invalid options.
        """
        max_events = options.pop("max_events", None)
        limit = None if max_events is None else validate_count(max_events, "max_events", 1)
        collected: list[ServerSentEvent] = []
        async with self._subscription(data, options, limit is not None) as events:
            async for event in events:
                collected.append(event)
                if limit is not None and len(collected) >= limit:
                    break
        return collected


def create_sse_transport(
    engine: str = "http",
    *,
    retry: RetryPolicy | None = None,
    idle_timeout: float | None = None,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    **http_options: Any,
) -> SSETransport:
    """The ``"sse"`` registry entry: an :class:`SSETransport` over a new HTTP transport.

    Args:
        engine: ``"http"`` (native), ``"httpx"`` or ``"httpx2"``.
        **http_options: options of that HTTP transport (``base_url``, ``headers``...). Its
            ``timeout`` defaults to ``None`` here: subscriptions have their own deadlines.

    Raises:
        pynector.ConfigurationError: unknown engine or invalid options.
    """
    if engine not in {"http", "httpx", "httpx2"}:
        raise ConfigurationError(f"engine must be 'http', 'httpx' or 'httpx2', got {engine!r}")
    from .transport import get_transport_factory_registry

    http_options.setdefault("timeout", None)
    inner = get_transport_factory_registry().create_transport(engine, **http_options)
    return SSETransport(inner, retry=retry, idle_timeout=idle_timeout, max_event_size=max_event_size)
