"""HTTPTransport: the engine-agnostic HTTP policy layer.

One exchange, in order:

1. the request (a dict or an :class:`~pynector.message.HttpMessage`) is validated and encoded once,
   before anything is sent, by :mod:`pynector.http._request` (CR/LF/NUL rejected, URL joined to
   ``base_url``, user-info turned into Basic auth, httpx's encoders for JSON, forms and multipart);
   this module is the sending side;
2. the whole exchange, redirects and body read included, is bounded by one total deadline (httpx's
   own timeouts are per read and never bound a slowly dripping server). For most engines that is one
   cancel scope around the exchange, which also lets ``disconnect()`` abort exchanges in flight (they
   then raise ``ClientClosedError``). An engine that says ``keeps_deadline`` (the native one) is
   handed the deadline instead and bounds each real wait itself, which saves a scope per exchange on
   the hot path; the errors the user sees are the same;
3. the engine sends the request and hands back the raw body, which is decoded here with a size cap
   on raw and decoded bytes;
4. redirects, when enabled, are followed here, not in the engine: credential headers are dropped on
   any change of scheme, host or port (httpx only drops ``Authorization``), https -> http is refused,
   and hops are capped;
5. an error status raises the most specific :class:`~pynector.HTTPStatusError` (unless
   ``raise_for_status`` is off), carrying ``retry_after`` from ``Retry-After``.

Every pynector error leaving an exchange is marked with ``http_method`` and ``request_sent`` (engines
set ``request_sent = False`` for failures before any byte was sent), which is what
:class:`~pynector.RetryPolicy` reads to apply its resend rule (only idempotent requests are resent
after they may have reached the server). Its message is scrubbed of this request's secret values as a
last line of defence, on top of the redaction of every URL and header we print ourselves.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import httpx
import trio

from .._config import validate_count
from .._errors import (
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    PoolTimeout,
    ProtocolError,
    PynectorError,
    RedirectError,
    TimeoutError,
)
from .._httpcommon import HTTP_TOKEN
from .._net import default_port
from .._redact import is_sensitive_header, redact_url, scrub_text
from .._telemetry import Attributes
from ..message import HttpMessage
from ._cookies import CookieStore, make_store
from ._engine import Body, DeadlineExpired, HTTPEngine, WireBody, WireRequest, WireResponse
from ._model import (
    BodyReader,
    Response,
    check_declared_length,
    decode_body,
    header_values,
    reject_control_characters,
    status_error,
)
from ._request import PreparedRequest, RequestBuilder, check_bool, origin_of, port_in_range

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "DEFAULT_TIMEOUT", "HTTPTransport"]

#: Default total seconds for one exchange (connect, send, redirects and the whole body).
DEFAULT_TIMEOUT = 60.0
#: Default cap on a response body, raw and decoded (32 MiB).
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
#: Default cap on redirect hops (when ``follow_redirects`` is on).
DEFAULT_MAX_REDIRECTS = 10

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_BODY_HEADERS = frozenset({"content-length", "content-type", "transfer-encoding", "content-encoding"})


_HTTP_VERSIONS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0", "2": "HTTP/2"}


def _new_response(
    prepared: PreparedRequest,
    wire: WireBody | WireResponse,
    elapsed: float = 0.0,
    history: list[Response] | None = None,
    content: bytes | None = None,
) -> Response:
    """The :class:`Response` to *prepared* for an engine's head (*content*: the decoded body, or
    ``None`` for a streamed response)."""
    status = wire.status_code
    version = wire.http_version
    return Response(
        status,
        wire.reason or httpx.codes.get_reason_phrase(status),
        _HTTP_VERSIONS.get(version) or (version if version.startswith("HTTP/") else f"HTTP/{version}"),
        wire.headers,
        prepared.url_text,
        prepared.request_info,
        elapsed,
        history,
        content,
    )


def _with_jar(jar: CookieStore, prepared: PreparedRequest) -> WireRequest:
    """*prepared*'s wire request plus the jar's cookies for its URL (decided again on every hop)."""
    wire = prepared.wire_request
    value = jar.header_for(prepared.url)
    if value is None:
        return wire
    headers = list(wire.headers)
    for index, (name, existing) in enumerate(headers):
        if name.lower() == "cookie":
            headers[index] = (name, f"{value}; {existing}")
            break
    else:
        headers.append(("Cookie", value))
    return replace(wire, headers=tuple(headers))


class HTTPTransport:
    """HTTP over any :class:`~pynector.http.HTTPEngine`, with pynector's HTTP policies.

    ``Pynector(transport_type="http", ...)`` builds one with the default engine; construct it directly
    to choose the engine. Options are validated here, at construction.

    Args:
        engine: does the wire work (``HttpxEngine``...). Closed by :meth:`disconnect`.
        base_url: prefix for relative request URLs (``"http://127.0.0.1:8000/api"``). A relative URL,
            with or without a leading slash, is appended to its path (as httpx merges them:
            ``"users/1"`` and ``"/users/1"`` both give ``/api/users/1``). One whose ``..`` segments
            (plain or percent-encoded) would climb above that path, and a scheme-relative
            ``"//host/path"`` (which would silently lose its host), raise ``ConfigurationError``. An
            absolute URL is sent as is.
        headers: headers sent with every request (a request's own headers override them by name).
        timeout: total seconds per exchange, including redirects and the body read (default 60);
            ``None`` disables it. For ``stream()`` it bounds the whole ``async with`` block.
        follow_redirects: follow 301/302/303/307/308 (default False).
        max_redirects: the most redirect hops to follow (default 10).
        max_response_bytes: cap on a body, raw and decoded (default 32 MiB); ``None`` disables it.
        raise_for_status: raise :class:`pynector.HTTPStatusError` for 4xx/5xx (default True; a
            request can override it).
        secret_headers: more header names to treat as credentials (redacted, stripped on redirects).
        propagate_trace_context: inject W3C ``traceparent`` for the current span (default True).
            ``Pynector(enable_telemetry=False)`` turns it off on the transport it creates.
        cookies: an opt-in cookie jar (see :mod:`pynector.http._cookies`): ``True`` for an empty
            one, an ``http.cookiejar.CookieJar``, or a mapping of cookies for the ``base_url`` host.
            Default: no jar, no cookie kept.

    Raises:
        pynector.ConfigurationError: for an invalid or unknown option.
    """

    def __init__(
        self,
        engine: HTTPEngine,
        *,
        base_url: str | httpx.URL | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        follow_redirects: bool = False,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        raise_for_status: bool = True,
        secret_headers: Iterable[str] = (),
        propagate_trace_context: bool = True,
        cookies: object = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise ConfigurationError(
                f"unknown option(s) for the HTTP transport: {', '.join(sorted(unknown))}"
            )
        self.engine = engine
        self._requests = RequestBuilder(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            follow_redirects=follow_redirects,
            raise_for_status=raise_for_status,
            secret_headers=secret_headers,
        )
        self._max_redirects = validate_count(max_redirects, "max_redirects", 0)
        self._max_bytes = (
            None
            if max_response_bytes is None
            else validate_count(max_response_bytes, "max_response_bytes", 1)
        )
        #: Whether requests carry the current span's trace context (``traceparent``...).
        self.propagate_trace_context = check_bool(propagate_trace_context, "propagate_trace_context")
        #: The opt-in cookie jar (``None``: no cookie is kept), applied on every hop.
        self._cookies: CookieStore | None = make_store(cookies, self._requests.base_url)
        self._exchanges: set[trio.CancelScope] = set()
        #: The engine keeps fetch's total deadline itself (see HTTPEngine): no scope here then.
        self._engine_keeps_deadline = getattr(engine, "keeps_deadline", False) is True
        self._closed = False

    # --- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Nothing to prepare (connections are opened per exchange). Idempotent.

        Raises:
            pynector.ClientClosedError: after :meth:`disconnect`.
        """
        if self._closed:
            raise ClientClosedError("HTTP transport is closed")

    async def disconnect(self) -> None:
        """Abort the exchanges in flight, then close the engine and every connection.

        The aborted requests raise :class:`pynector.ClientClosedError`. Idempotent, safe under
        cancellation.
        """
        if not self._closed:
            self._closed = True
            for scope in list(self._exchanges):
                scope.cancel()
            await self.engine.aclose()

    async def __aenter__(self) -> HTTPTransport:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    # --- requests --------------------------------------------------------------------------

    async def exchange(self, data: Any, **options: Any) -> Response:
        """Send one request and return its response, body read.

        Args:
            data: a dict (``method``, ``url`` or ``path``, ``params``, ``headers``, ``cookies``,
                ``json``, ``data``, ``content``, ``files``, ``timeout``), an
                :class:`~pynector.message.HttpMessage`, or a URL string (GET).
            **options: ``timeout`` (total seconds), ``raise_for_status`` and ``follow_redirects``;
                request fields given as keywords (``headers=``, ``params=``...) override *data*'s.
                Retries are the client's: ``Pynector.request(..., retry=RetryPolicy(...))``.

        Blocks until the whole body has been read, at most ``timeout`` seconds.

        Raises:
            pynector.ConfigurationError: an invalid request (bad URL or scheme, CR/LF/NUL, unknown key).
            pynector.SerializationError: the body cannot be encoded.
            pynector.HTTPStatusError: a 4xx/5xx status (most specific subclass), when raising is on.
            pynector.TimeoutError: the total deadline passed.
            pynector.RedirectError: too many redirects, or a redirect from https to http.
            pynector.TransportError: (most specific subclass) the engine failed.
            pynector.ClientClosedError: the transport was closed.
        """
        prepared = self._prepare(data, options)
        start = trio.current_time()
        timeout = prepared.timeout
        deadline = math.inf if timeout is None else start + timeout
        if self._engine_keeps_deadline:
            # No scope: the engine bounds each wait by the deadline and ends its fetches on close
            # (trio's scope enter/exit and deadline registration were a sixth of a small GET's CPU
            # time; decoding and the redirect and status rules below do not wait).
            try:
                return await self._hops(prepared, start, deadline)
            except DeadlineExpired as exc:  # (reported as our own scope's: the cause is trio's)
                raise self._mark(self._cancelled(prepared), prepared) from exc.__cause__
            except PynectorError as exc:
                if self._closed and isinstance(exc, ClientClosedError):
                    raise self._mark(self._cancelled(prepared), prepared) from exc
                self._mark(exc, prepared)
                raise
        # _guarded inlined (this runs on every exchange): the same scope, registration and errors.
        scope = trio.CancelScope(deadline=deadline)
        exchanges = self._exchanges
        exchanges.add(scope)
        try:
            try:
                with scope:
                    return await self._hops(prepared, start, deadline)
            finally:
                exchanges.discard(scope)
            raise self._cancelled(prepared)
        except PynectorError as exc:
            self._mark(exc, prepared)
            raise

    async def _hops(self, prepared: PreparedRequest, start: float, deadline: float) -> Response:
        """The hops of one exchange (one, unless redirects are followed): fetch, decode, follow.

        Raises:
            As :meth:`exchange`, and :class:`~pynector.http._engine.DeadlineExpired` from an engine
            that keeps the deadline.
        """
        fetch = self.engine.fetch
        keeps_deadline = self._engine_keeps_deadline
        max_bytes = self._max_bytes
        current = prepared
        history: list[Response] | None = None
        jar = self._cookies
        while True:
            wire_request = current.wire_request if jar is None else _with_jar(jar, current)
            if keeps_deadline:
                # (the fourth argument of an engine that keeps the deadline: see HTTPEngine)
                wire = await fetch(wire_request, max_bytes, current, deadline)  # type: ignore[call-arg]
            else:
                wire = await fetch(wire_request, max_bytes, current)
            if jar is not None:
                jar.store(current.url, wire.headers)
            body = wire.body
            encodings = header_values(wire.headers, b"content-encoding")
            if encodings:  # (several are joined, as httpx does)
                encoding = b", ".join(encodings).decode("latin-1")
                body = await decode_body(body, encoding, max_bytes, current)
            response = _new_response(current, wire, trio.current_time() - start, history, body)
            if current.follow_redirects:
                following = self._next_hop(current, response, len(history or ()))
                if following is not None:
                    history = [*(history or ()), response]  # each keeps the hops before it
                    current = following
                    continue
            if current.raise_for_status and response.status_code >= 400:
                raise status_error(response)
            return response

    @contextlib.asynccontextmanager
    async def stream(self, data: Any, **options: Any) -> AsyncIterator[Response]:
        """Open a request whose body is read incrementally.

        ``async with transport.stream(request) as response: async for chunk in response.aiter_bytes()``.
        The connection is released when the block ends, whether the body was read or not (break,
        error, cancellation). The transport's ``timeout`` bounds the whole block. Streams are never
        retried: once a response is handed to the caller, its body may be half consumed.

        Raises:
            As :meth:`exchange` (status errors are raised on entry, after reading the error body).
        """
        if options.pop("retry", None) is not None:
            raise ConfigurationError(
                "retry= is not supported for streamed requests: a response handed to the caller "
                "cannot be fetched again"
            )
        prepared = self._prepare(data, options)
        start = trio.current_time()
        try:
            with self._guarded(prepared):
                async with contextlib.AsyncExitStack() as stack:
                    response = await self._open_stream(prepared, start, stack)
                    try:
                        yield response
                    finally:
                        response._closed = True
        except PynectorError as exc:
            self._mark(exc, prepared)
            raise

    # --- telemetry hooks (pynector.transport.TracedTransport) ---------------------------------

    def span_name(self, data: Any, options: Mapping[str, Any]) -> str:
        """The attempt span's name: the request method (HTTP semantic conventions)."""
        method = data.method if isinstance(data, HttpMessage) else "GET"
        if isinstance(data, Mapping):
            method = data.get("method", "GET")
        return method.upper() if isinstance(method, str) and HTTP_TOKEN.match(method) else "HTTP"

    def span_attributes(self, data: Any, options: Mapping[str, Any]) -> Attributes:
        """``http.request.method``, ``url.full`` (redacted), ``server.address`` and ``server.port``."""
        attributes: dict[str, str | int] = {"http.request.method": self.span_name(data, options)}
        raw = data.url if isinstance(data, HttpMessage) else data
        if isinstance(data, Mapping):
            raw = data.get("url", data.get("path", ""))
        try:
            url = self._requests.resolve(str(raw))
        except PynectorError:
            return attributes  # the request itself reports the problem
        if url.userinfo:
            url = url.copy_with(userinfo=b"")
        attributes["url.full"] = redact_url(url)
        attributes["server.address"] = url.host
        attributes["server.port"] = url.port or default_port(url.scheme)
        return attributes

    def response_span_attributes(self, response: Any) -> Attributes:
        """``http.response.status_code`` of a successful exchange."""
        if isinstance(response, Response):
            return {"http.response.status_code": response.status_code}
        return {}

    # --- one attempt -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _guarded(self, prepared: PreparedRequest) -> Iterator[None]:
        """One cancel scope per exchange: the total deadline, and :meth:`disconnect` aborting it.

        Raises (after the block):
            pynector.TimeoutError: the deadline passed.
            pynector.ClientClosedError: the transport was closed during the exchange.
        """
        deadline = math.inf if prepared.timeout is None else trio.current_time() + prepared.timeout
        scope = trio.CancelScope(deadline=deadline)
        self._exchanges.add(scope)
        try:
            with scope:
                yield
        finally:
            self._exchanges.discard(scope)
        if scope.cancelled_caught:
            raise self._cancelled(prepared)

    def _cancelled(self, prepared: PreparedRequest) -> PynectorError:
        """What an exchange cut short by its deadline or by :meth:`disconnect` reports: a
        :class:`~pynector.TimeoutError`, or :class:`~pynector.ClientClosedError` once closed (with
        ``trio.TooSlowError`` as the cause when the scope was ours)."""
        if self._closed:
            described = prepared.described
            return ClientClosedError(f"{described}: the HTTP transport was closed during the request")
        error = TimeoutError(
            f"{prepared.described} did not complete within its total deadline of {prepared.timeout:g}s "
            "(connect, send, redirects and body read)"
        )
        error.__cause__ = trio.TooSlowError()
        return error

    def _mark(self, exc: PynectorError, prepared: PreparedRequest) -> PynectorError:
        """Attach what the retry policy's resend rule reads (method, whether the request was sent) and
        scrub this request's secrets from the message."""
        if exc.http_method is None:
            exc.http_method = prepared.method
        if exc.request_sent is None:
            # Engines may say; otherwise a connect-phase class means nothing was sent.
            exc.request_sent = not isinstance(exc, (ConnectError, PoolTimeout))
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (scrub_text(exc.args[0], prepared.secrets), *exc.args[1:])
        return exc

    async def _open_stream(
        self, prepared: PreparedRequest, start: float, stack: contextlib.AsyncExitStack
    ) -> Response:
        current = prepared
        history: list[Response] = []
        while True:
            hop = contextlib.AsyncExitStack()
            await stack.enter_async_context(hop)
            jar = self._cookies
            wire_request = current.wire() if jar is None else _with_jar(jar, current)
            wire_response = await hop.enter_async_context(self.engine.send(wire_request))
            if jar is not None:
                jar.store(current.url, wire_response.headers)
            response, reader = self._response(current, wire_response)
            response.elapsed = trio.current_time() - start
            following = self._next_hop(current, response, len(history))
            if following is None:
                break
            await reader.read_all()
            await hop.aclose()
            history.append(response)
            current = following
        response.history = history
        response._reader = reader
        if current.raise_for_status and response.status_code >= 400:
            await response.aread()
            raise status_error(response)
        return response

    def _response(self, prepared: PreparedRequest, wire: WireResponse) -> tuple[Response, BodyReader]:
        """The response to a streamed request, and the reader of its body."""
        headers = wire.headers
        lengths = header_values(headers, "content-length")
        check_declared_length(
            prepared.method, wire.status_code, lengths[0] if lengths else None, self._max_bytes, prepared
        )
        response = _new_response(prepared, wire)
        encodings = header_values(headers, "content-encoding")
        encoding = ", ".join(encodings) if encodings else None
        reader = BodyReader(wire.aiter_raw(), encoding, self._max_bytes, prepared)
        return response, reader

    def _next_hop(self, current: PreparedRequest, response: Response, hops: int) -> PreparedRequest | None:
        """The request to send after a redirect, or ``None`` to stop here."""
        if not current.follow_redirects or response.status_code not in _REDIRECT_STATUSES:
            return None
        location = response.headers.get("location")
        if location is None:
            return None
        if hops >= self._max_redirects:
            raise RedirectError(
                f"{current.described} exceeded max_redirects={self._max_redirects} "
                f"(last hop: {response.status_code} to {redact_url(location)})"
            )
        reject_control_characters(location, "redirect Location")
        try:
            target = current.url.join(location)
        except httpx.InvalidURL as exc:
            raise ProtocolError(f"{current.described} redirected to an invalid URL: {exc}") from exc
        if target.scheme not in {"http", "https"} or not target.host:
            raise RedirectError(f"{current.described} redirected to unsupported URL {redact_url(target)}")
        if not port_in_range(target):
            raise RedirectError(
                f"{current.described} redirected to {redact_url(target)}, whose port {target.port} is "
                "outside 1..65535"
            )
        if current.url.scheme == "https" and target.scheme == "http":
            raise RedirectError(
                f"refusing redirect from https to http: {current.described} -> {redact_url(target)}"
            )
        if target.userinfo:
            target = target.copy_with(userinfo=b"")
        if target.fragment:  # never sent, and never shown (see check_url)
            target = target.copy_with(fragment=None)
        method = current.method
        if (response.status_code == 303 and method != "HEAD") or (
            response.status_code in {301, 302} and method == "POST"
        ):
            method = "GET"
        headers = list(current.headers)
        body: Body = current.body
        if method != current.method:
            headers = [(n, v) for n, v in headers if n.lower() not in _BODY_HEADERS]
            body = b""
        elif not current.replayable:
            return None  # a streamed body cannot be sent again: hand the redirect to the caller
        if origin_of(target) != origin_of(current.url):
            secret = self._requests.secret_headers
            headers = [(n, v) for n, v in headers if not is_sensitive_header(n, secret)]
        return replace(current, method=method, url=target, headers=tuple(headers), body=body, replayable=True)

    def _prepare(self, data: Any, options: Mapping[str, Any]) -> PreparedRequest:
        if self._closed:
            raise ClientClosedError("HTTP transport is closed")
        return self._requests.build(data, options, self.propagate_trace_context)
