"""A scriptable transport for testing code built on pynector, without a network.

:class:`MockTransport` implements the transport contract (``connect``, ``disconnect``, ``exchange``), so
``Pynector(transport=mock)`` runs the real client (timeouts, batches, retries) against it. Each exchange:

1. is matched against the routes, in the order they were added; the first match answers. A route
   matches on the HTTP method and path of HTTP-shaped requests (a mapping with ``method`` and
   ``url``/``path`` keys, or an object with those attributes, such as an HTTP request object; the
   exchange options are consulted too), and/or on a predicate for any other kind of request;
2. falls back to the transport's ``handler`` when no route matches, and otherwise fails with
   :class:`UnexpectedRequestError` (recorded, so the test can also assert on it afterwards);
3. is recorded with its outcome and timing on trio's clock (see :mod:`._recorder`).

A route answers with a script of steps, consumed in order; the last step keeps answering once the
script is used up (so ``route.fail_connect(times=2).respond("ok")`` fails twice, then succeeds every
time). Every step may wait first (``delay=`` seconds with ``trio.sleep``, so ``autojump_clock`` makes
slow responses instant), and scripted faults raise the same pynector errors a real transport raises,
with a realistic builtin exception as ``__cause__``.

For HTTP-shaped requests the mock answers as the HTTP transport does, with the HTTP layer's own code
(imported on first use, so the mock costs nothing to import): ``respond(status=..., json=...)`` builds
a real ``pynector.http.Response``, an error status raises the status error of that response, and
``fail_status(429, retry_after=...)`` raises the error of a response carrying ``Retry-After``. Those
errors say which method was used and that the request was sent, so the retry policy's resend rule (a
``POST`` that may have reached the server is resent only on opt-in) applies to them as to real responses.

The step is chosen when the exchange starts, before any await, so concurrent requests consume the
script in arrival order, deterministically.
"""

from __future__ import annotations

import errno
import inspect
import math
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import trio

from .._config import validate_count, validate_delay
from .._errors import (
    ConfigurationError,
    ConnectError,
    HTTPStatusError,
    PynectorError,
    ReadError,
    TimeoutError,
    describe_exception,
    status_error_class,
)
from ..transport._base import closed_error
from ._http_server import SSEChunks, SSEStep
from ._recorder import RecordedCall, Recorder

__all__ = ["MockTransport", "Route", "UnexpectedRequestError"]

#: ``handler(data, **options)``, sync or async: returns the response or raises.
Handler = Callable[..., Any]
#: ``predicate(data, **options) -> bool``.
Predicate = Callable[..., bool]
#: ``factory(data, options, **fields) -> response``: builds the response of ``respond(**fields)``.
ResponseFactory = Callable[..., Any]

_NOTHING: Any = object()


def _request_line(data: Any, options: Mapping[str, Any]) -> tuple[str, str]:
    """The method and URL (as written, query included) of a request, for the response it gets."""
    method = _text(_field(data, "method")) or _text(options.get("method")) or "GET"
    url: Any = None
    for candidate in (_field(data, "url"), _field(data, "path"), options.get("url"), options.get("path")):
        if candidate is not None:
            url = candidate
            break
    if url is None and isinstance(data, str):
        url = data  # the HTTP transport takes a bare string as a URL to GET
    return method.upper(), "/" if url is None else str(url)


def http_response(data: Any, options: Mapping[str, Any], **fields: Any) -> Any:
    """Build the ``pynector.http.Response`` of ``route.respond(**fields)`` (the default factory).

    *fields* are those of :func:`pynector.http._model.build_response` (``status``, ``headers``,
    ``json``, ``content``, ``reason``, ``http_version``). As with the HTTP transport, a 4xx/5xx
    status raises its :class:`~pynector.HTTPStatusError` (carrying the response) unless the request
    was made with ``raise_for_status=False``.

    Raises:
        pynector.HTTPStatusError: for a 4xx/5xx status (most specific subclass).
        pynector.ConfigurationError: invalid or unknown fields.
        pynector.SerializationError: ``json`` cannot be encoded.
    """
    return _HTTPAnswer(fields)(data, options)


class _HTTPAnswer:
    """``respond(**fields)`` with the default factory: the fields are checked and encoded once, when
    scripted; each request gets a fresh response (its own headers) naming its method and URL."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        from ..http._model import build_response  # the HTTP layer (httpx) only when a test uses it

        try:
            self._template = build_response("GET", "/", **fields)
        except TypeError as exc:
            raise ConfigurationError(f"respond(): {exc}") from exc

    def __call__(self, data: Any, options: Mapping[str, Any]) -> Any:
        from ..http._model import RequestInfo, Response

        method, url = _request_line(data, options)
        template = self._template
        response = Response(
            template.status_code,
            template.reason_phrase,
            template.http_version,
            template.headers.copy(),
            url,
            RequestInfo(method, url),
            _content=template.content,
        )
        if options.get("raise_for_status", True) is not False:
            response.raise_for_status()
        return response


def default_response_factory() -> ResponseFactory:
    """The response factory of a MockTransport created without one: :func:`http_response`.

    ``route.respond(status=200, json={...}, headers={...})`` then answers with a real
    ``pynector.http.Response``, as the HTTP transport returns.
    """
    return http_response


class UnexpectedRequestError(PynectorError):
    """A mock transport received a request that no route matches, and it has no fallback handler.

    Attributes:
        call: the :class:`~pynector.testing.RecordedCall` of the request.
    """

    def __init__(self, message: str, call: RecordedCall) -> None:
        super().__init__(message)
        self.call = call


# --- reading HTTP-shaped requests ------------------------------------------------------------


def _field(data: Any, name: str) -> Any:
    if isinstance(data, Mapping):
        return data.get(name)
    if isinstance(data, (str, bytes, bytearray, memoryview, int, float)):
        return None
    return getattr(data, name, None)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return None


def _path_of(url: Any) -> str | None:
    text = _text(url)
    if text is None:
        # URL objects (httpx.URL and the like) expose the path directly.
        return _text(getattr(url, "path", None)) if url is not None else None
    parts = urlsplit(text)
    if parts.scheme or parts.netloc:
        return parts.path or "/"
    return parts.path


def http_shape(data: Any, options: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The ``(method, path)`` of an HTTP-shaped request, each ``None`` when absent.

    Looks at ``data["method"]``/``data.method`` and ``data["path"]``/``data["url"]`` (or attributes),
    then at the ``method``/``path``/``url`` exchange options. The path has no query string; the
    method is upper-cased, and ``GET`` when a request with a path names none (as the HTTP transport
    sends it).
    """
    method = _text(_field(data, "method"))
    if method is None:
        method = _text(options.get("method"))
    path = None
    for url in (_field(data, "path"), _field(data, "url"), options.get("path"), options.get("url")):
        path = _path_of(url)
        if path is not None:
            break
    if method is None:
        return ("GET" if path is not None else None, path)
    return (method.upper(), path)


# --- scripted steps ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Step:
    """One scripted answer: wait *delay*, then call *action* (which returns the response or raises)."""

    action: Callable[[Any, Mapping[str, Any], str], Any]
    delay: float
    times: int

    async def run(self, data: Any, options: Mapping[str, Any], request: str) -> Any:
        if self.delay:
            await trio.sleep(self.delay)
        result = self.action(data, options, request)
        if inspect.isawaitable(result):
            result = await result
        return result


def _fault(cls: type[PynectorError], what: str, cause: Callable[[], BaseException]) -> Callable[..., Any]:
    def action(data: Any, options: Mapping[str, Any], request: str) -> Any:
        raise cls(f"mock transport: {what} during {request} (scripted)") from cause()

    return action


async def _scripted_drop() -> None:
    cause = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    raise ReadError("mock transport: the event stream dropped (scripted)") from cause


class Route:
    """Requests that match some criteria, and the script of answers they get.

    Created by :meth:`MockTransport.route`; every scripting method returns the route, so calls chain::

        mock.route(method="GET", path="/users/1").fail_status(503, retry_after=1).respond({"id": 1})

    Scripting methods take ``delay`` (seconds to wait first, on trio's clock) and ``times`` (how many
    requests this step answers before the next step takes over; the last step answers all the rest).

    Attributes:
        name: a readable name, used in messages.
        recorder: the calls this route answered (see :class:`~pynector.testing.Recorder`).
    """

    def __init__(
        self,
        transport: MockTransport,
        method: str | None,
        path: str | re.Pattern[str] | None,
        predicate: Predicate | None,
        name: str | None,
    ) -> None:
        if method is not None and not (isinstance(method, str) and method):
            raise ConfigurationError(f"route method must be a non-empty string, got {method!r}")
        if path is not None and not isinstance(path, (str, re.Pattern)):
            raise ConfigurationError(f"route path must be a string or a compiled regex, got {path!r}")
        if predicate is not None and not callable(predicate):
            raise ConfigurationError(f"route predicate must be callable, got {predicate!r}")
        self._transport = transport
        self.method = None if method is None else method.upper()
        self.path = path
        self.predicate = predicate
        if name is None:
            shown_path = path.pattern if isinstance(path, re.Pattern) else path
            parts = [self.method or "*", shown_path or "*"]
            if predicate is not None:
                parts.append(f"if {getattr(predicate, '__name__', repr(predicate))}")
            name = " ".join(parts)
        self.name = name
        self.recorder = Recorder(f"route {name!r}", context=transport.recorder)
        self._steps: list[_Step] = []
        self._position = 0
        self._used = 0

    def __repr__(self) -> str:
        return f"<Route {self.name!r} steps={len(self._steps)} calls={len(self.recorder)}>"

    # --- matching and answering ---

    def matches(self, data: Any, options: Mapping[str, Any], method: str | None, path: str | None) -> bool:
        """Whether this route answers the request (method, path and predicate all agree)."""
        if self.method is not None and method != self.method:
            return False
        if self.path is not None:
            if path is None:
                return False
            if isinstance(self.path, re.Pattern):
                if self.path.fullmatch(path) is None:
                    return False
            elif path != self.path:
                return False
        if self.predicate is None:
            return True
        try:
            return bool(self.predicate(data, **options))
        except Exception as exc:
            raise ConfigurationError(
                f"the predicate of route {self.name!r} raised {describe_exception(exc)}; a predicate "
                "sees every request no earlier route matched, so it must accept any request shape"
            ) from exc

    def _next_step(self, request: str) -> _Step:
        if not self._steps:
            raise ConfigurationError(
                f"route {self.name!r} matched {request} but has no answer scripted: call .respond(...), "
                ".respond_with(handler) or one of the .fail_*() methods"
            )
        step = self._steps[self._position]
        self._used += 1
        if self._used >= step.times and self._position < len(self._steps) - 1:
            self._position += 1
            self._used = 0
        return step

    def _add(
        self,
        action: Callable[[Any, Mapping[str, Any], str], Any],
        delay: float,
        times: int,
        *,
        forever: bool = False,
    ) -> Route:
        # ``hang()`` is the only step that waits forever; user-given delays must be finite.
        seconds = math.inf if forever else validate_delay(delay, "delay")
        self._steps.append(_Step(action, seconds, validate_count(times, "times", 1)))
        return self

    # --- scripting ---

    def respond(self, value: Any = _NOTHING, *, delay: float = 0.0, times: int = 1, **fields: Any) -> Route:
        """Answer with *value*, or with a response built from *fields* by the response factory.

        ``respond(status=200, json={...}, headers={...})`` and the like call the transport's
        ``response_factory`` (``factory(data, options, **fields)``) once per request. The default
        factory (:func:`http_response`) builds a real ``pynector.http.Response``, and for a 4xx/5xx
        status raises its status error, as the HTTP transport does.

        Raises:
            pynector.ConfigurationError: both *value* and *fields* are given, or (default factory)
                the fields are invalid: checked here, when the answer is scripted.
        """
        if fields:
            if value is not _NOTHING:
                raise ConfigurationError("respond() takes a value or response fields, not both")
            factory = self._transport.response_factory
            if factory is http_response:
                http = _HTTPAnswer(fields)  # checks the fields now, when the answer is scripted
                return self._add(lambda data, options, request: http(data, options), delay, times)
            return self._add(lambda data, options, request: factory(data, options, **fields), delay, times)
        answer = None if value is _NOTHING else value
        return self._add(lambda data, options, request: answer, delay, times)

    def respond_sse(
        self,
        steps: Sequence[SSEStep],
        *,
        status: int = 200,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
        delay: float = 0.0,
        times: int = 1,
    ) -> Route:
        """Answer with a streamed ``text/event-stream`` response played from *steps*.

        Steps are events (:class:`pynector.sse.ServerSentEvent`), ``str`` (the data of a message
        event), raw ``bytes``, :class:`~pynector.testing.SSEDelay` (a wait on trio's clock) and
        :class:`~pynector.testing.SSEDrop` (the body raises :class:`pynector.ReadError`, cause a
        connection reset, as a dropped connection does). Read it with ``client.stream(...)`` and
        ``response.aiter_sse()``, or ``client.subscribe(...)``; each connection of a subscription
        is one request, so chain ``respond_sse`` calls to script reconnections.

        Raises:
            pynector.ConfigurationError: a step of the wrong type, or invalid headers.
        """
        from ..http._model import build_streamed_response, header_pairs

        pairs = [("Content-Type", "text/event-stream"), *header_pairs(headers, "respond_sse headers")]
        script = list(steps)
        try:
            SSEChunks(script, _scripted_drop)
        except TypeError as exc:
            raise ConfigurationError(f"respond_sse(): {exc}") from exc
        build_streamed_response("GET", "/", SSEChunks([], _scripted_drop), status=status, headers=pairs)

        def action(data: Any, options: Mapping[str, Any], request: str) -> Any:
            method, url = _request_line(data, options)
            chunks = SSEChunks(script, _scripted_drop)
            response = build_streamed_response(method, url, chunks, status=status, headers=pairs)
            if options.get("raise_for_status", True) is not False:
                response.raise_for_status()
            return response

        return self._add(action, delay, times)

    def respond_with(self, handler: Handler, *, delay: float = 0.0, times: int = 1) -> Route:
        """Answer by calling ``handler(data, **options)`` (sync or async); what it raises is the failure.

        Raises:
            pynector.ConfigurationError: *handler* is not callable.
        """
        if not callable(handler):
            raise ConfigurationError(f"handler must be callable, got {handler!r}")
        return self._add(lambda data, options, request: handler(data, **options), delay, times)

    def fail(self, error: Exception | type[Exception], *, delay: float = 0.0, times: int = 1) -> Route:
        """Raise *error*: an exception instance (raised as is, every time) or class (instantiated).

        Builtin ``OSError``/``TimeoutError`` are mapped to pynector errors by the client, as with a
        real transport; prefer the ``fail_*`` methods for the common faults.

        Raises:
            pynector.ConfigurationError: *error* is not an exception.
        """
        if isinstance(error, Exception):
            instance = error

            def action(data: Any, options: Mapping[str, Any], request: str) -> Any:
                raise instance

        elif isinstance(error, type) and issubclass(error, Exception):
            cls = error

            def action(data: Any, options: Mapping[str, Any], request: str) -> Any:
                raise cls(f"mock transport: scripted {cls.__name__} during {request}")

        else:
            raise ConfigurationError(f"fail() needs an Exception instance or class, got {error!r}")
        return self._add(action, delay, times)

    def fail_connect(self, *, delay: float = 0.0, times: int = 1) -> Route:
        """Raise :class:`pynector.ConnectError` (cause: ``ConnectionRefusedError``)."""

        def cause() -> OSError:
            return ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")

        return self._add(_fault(ConnectError, "connection refused", cause), delay, times)

    def fail_timeout(self, *, delay: float = 0.0, times: int = 1) -> Route:
        """Raise :class:`pynector.TimeoutError` (cause: ``trio.TooSlowError``).

        To let the client's own ``timeout`` fire instead, use :meth:`hang`.
        """
        return self._add(_fault(TimeoutError, "timed out", trio.TooSlowError), delay, times)

    def fail_reset(self, *, delay: float = 0.0, times: int = 1) -> Route:
        """Raise :class:`pynector.ReadError` (cause: ``ConnectionResetError``): the peer reset."""

        def cause() -> OSError:
            return ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

        return self._add(_fault(ReadError, "connection reset by peer", cause), delay, times)

    def fail_status(
        self,
        status: int,
        *,
        retry_after: float | None = None,
        response: Any = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> Route:
        """Raise the status error a 4xx/5xx answer produces (``RateLimitError`` for 429...).

        The error has ``status_code``, ``retry_after`` (seconds, as parsed from ``Retry-After``) and
        ``response`` set, so ``request_with_retry`` honours it as it would a real server's.

        Raises:
            pynector.ConfigurationError: *status* is not an int in 400..599, or *retry_after* is
                negative or not a number.
        """
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ConfigurationError(f"fail_status() needs an error status in 400..599, got {status!r}")
        if retry_after is not None:
            retry_after = validate_delay(retry_after, "retry_after")
        cls: type[HTTPStatusError] = status_error_class(status)
        wait = "" if retry_after is None else f" (Retry-After: {retry_after:g}s)"
        headers = [] if retry_after is None else [("Retry-After", repr(retry_after))]
        transport = self._transport

        def action(data: Any, options: Mapping[str, Any], request: str) -> Any:
            if response is None and transport.response_factory is http_response:
                method, path = http_shape(data, options)
                if method is not None or path is not None:
                    # An HTTP-shaped request gets what the HTTP transport raises: the status error of
                    # a real response, whose Retry-After header gives ``retry_after``.
                    http_response(data, {}, status=status, headers=headers)
            raise cls(
                f"mock transport: server answered {status} to {request}{wait} (scripted)",
                status_code=status,
                response=response,
                retry_after=retry_after,
            )

        return self._add(action, delay, times)

    def hang(self, *, times: int = 1) -> Route:
        """Never answer: the exchange waits until it is cancelled (by a client or batch timeout)."""
        return self._add(lambda data, options, request: None, 0.0, times, forever=True)

    def reset(self) -> Route:
        """Forget the script (keep the recorded calls), to script new answers."""
        self._steps.clear()
        self._position = 0
        self._used = 0
        return self

    # --- assertions ---

    @property
    def calls(self) -> list[RecordedCall]:
        """The calls this route answered, in arrival order."""
        return self.recorder.calls

    @property
    def called(self) -> bool:
        """Whether this route answered at least one request."""
        return bool(self.recorder.calls)

    @property
    def call_count(self) -> int:
        """How many requests this route answered."""
        return len(self.recorder.calls)

    def assert_called(self, times: int | None = None) -> None:
        """Assert this route answered at least one request, or exactly *times*.

        Raises:
            AssertionError: listing every request the transport received.
        """
        self.recorder.assert_called(times)

    def assert_not_called(self) -> None:
        """Assert this route answered no request.

        Raises:
            AssertionError: listing every request the transport received.
        """
        self.recorder.assert_not_called()


class MockTransport:
    """A transport that answers from routes and scripts, recording every exchange.

    Args:
        handler: optional fallback ``handler(data, **options)`` (sync or async) for requests no
            route matches; without it they fail with :class:`UnexpectedRequestError`.
        response_factory: builds the response of ``route.respond(**fields)``, called as
            ``factory(data, options, **fields)`` (default: :func:`default_response_factory`).

    Attributes:
        routes: the routes, in matching order.
        recorder: every exchange, in arrival order (see :class:`~pynector.testing.Recorder`).
        connects: how many times ``connect()`` was called.
        disconnects: how many times ``disconnect()`` was called.
        check_unexpected_on_teardown: read by the ``pynector_mock`` pytest fixture, which asserts no
            unexpected requests at teardown unless this is set to ``False``.

    Raises:
        pynector.ConfigurationError: *handler* or *response_factory* is not callable.
    """

    def __init__(
        self, handler: Handler | None = None, *, response_factory: ResponseFactory | None = None
    ) -> None:
        if handler is not None and not callable(handler):
            raise ConfigurationError(f"handler must be callable, got {handler!r}")
        if response_factory is not None and not callable(response_factory):
            raise ConfigurationError(f"response_factory must be callable, got {response_factory!r}")
        self.handler = handler
        self.response_factory: ResponseFactory = (
            response_factory if response_factory is not None else default_response_factory()
        )
        self.routes: list[Route] = []
        self.recorder = Recorder("mock transport")
        self.connects = 0
        self.disconnects = 0
        self.check_unexpected_on_teardown = True
        self._closed = False

    def __repr__(self) -> str:
        return f"<MockTransport routes={len(self.routes)} calls={len(self.recorder)}>"

    def route(
        self,
        method: str | None = None,
        path: str | re.Pattern[str] | None = None,
        *,
        predicate: Predicate | None = None,
        name: str | None = None,
    ) -> Route:
        """Add a route; requests are matched against routes in the order they were added.

        Args:
            method: HTTP method to match (case-insensitive), or ``None`` for any.
            path: exact URL path (no query) or a compiled regex that must match the whole path.
            predicate: ``predicate(data, **options) -> bool``, for requests of any shape.
            name: a name for messages (default: built from the criteria).

        A route with no criteria matches every request.

        Raises:
            pynector.ConfigurationError: invalid criteria.
        """
        new = Route(self, method, path, predicate, name)
        self.routes.append(new)
        return new

    # --- the transport contract ---

    async def connect(self) -> None:
        """Open the transport (again, after ``disconnect()``)."""
        self.connects += 1
        self._closed = False

    async def disconnect(self) -> None:
        """Close the transport; exchanges fail with ``ClientClosedError`` until ``connect()``."""
        self.disconnects += 1
        self._closed = True

    async def exchange(self, data: Any, **options: Any) -> Any:
        """Answer *data* from the first matching route, the fallback handler, or fail.

        Blocks for the scripted ``delay`` and for async handlers.

        Raises:
            UnexpectedRequestError: no route matches and there is no fallback handler.
            pynector.ClientClosedError: after ``disconnect()``.
            pynector.ConfigurationError: the matching route has nothing scripted, or a route's
                predicate raised.
            Exception: the scripted fault, or whatever the handler raises.
        """
        if self._closed:
            raise closed_error("mock")
        # As in the memory transport: honour cancellation before answering, never lose an answer after.
        await trio.lowlevel.checkpoint_if_cancelled()
        method, path = http_shape(data, options)
        call = self.recorder.start(data, options, method=method, path=path, route=None)
        try:
            route = next((r for r in self.routes if r.matches(data, options, method, path)), None)
            if route is not None:
                call.route = route.name
                route.recorder.calls.append(call)
                request = call.describe_request()
                result = await route._next_step(request).run(data, options, request)
            elif self.handler is not None:
                result = self.handler(data, **options)
                if inspect.isawaitable(result):
                    result = await result
            else:
                call.unexpected = True
                raise UnexpectedRequestError(self._unexpected_message(call), call)
        except Exception as exc:
            Recorder.finish(call, exception=exc)
            raise
        except BaseException:
            Recorder.finish(call, cancelled=True)
            raise
        Recorder.finish(call, result=result)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return result

    @asynccontextmanager
    async def stream(self, data: Any, **options: Any) -> AsyncIterator[Any]:
        """Answer *data* as :meth:`exchange` does, for ``client.stream(...)`` and subscriptions.

        A ``respond_sse`` answer is a streamed response read while the block runs; any other answer
        is yielded as it is (a whole response reads as one chunk).

        Raises:
            As :meth:`exchange`.
        """
        response = await self.exchange(data, **options)
        try:
            yield response
        finally:
            if hasattr(response, "_closed"):
                response._closed = True

    def _unexpected_message(self, call: RecordedCall) -> str:
        routes = "\n".join(f"  {r.name}" for r in self.routes) or "  (none)"
        return (
            f"unexpected request #{call.index} to the mock transport: {call.describe_request()}; no route "
            f"matches it and there is no fallback handler. Routes:\n{routes}"
        )

    # --- assertions ---

    @property
    def calls(self) -> list[RecordedCall]:
        """Every exchange, in arrival order."""
        return self.recorder.calls

    def assert_called(self, times: int | None = None) -> None:
        """Assert the transport received at least one request, or exactly *times*.

        Raises:
            AssertionError: listing every request received.
        """
        self.recorder.assert_called(times)

    def assert_not_called(self) -> None:
        """Assert the transport received no request.

        Raises:
            AssertionError: listing every request received.
        """
        self.recorder.assert_not_called()

    def assert_no_unexpected_requests(self) -> None:
        """Assert every request matched a route (or went to the fallback handler).

        Raises:
            AssertionError: naming the unexpected requests and listing every request received.
        """
        self.recorder.assert_no_unexpected_requests()

    def assert_all_routes_used(self) -> None:
        """Assert every route answered at least one request.

        Raises:
            AssertionError: naming the unused routes and listing every request received.
        """
        unused = [r.name for r in self.routes if not r.called]
        if unused:
            self.recorder._fail(f"{len(unused)} route(s) never used: {', '.join(unused)}")
