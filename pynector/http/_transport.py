"""HTTPTransport: the engine-agnostic HTTP policy layer.

One exchange, in order:

1. the request (a dict or an :class:`~pynector.message.HttpMessage`) is validated and encoded once
   (CR/LF/NUL rejected, URL joined to ``base_url``, user-info turned into Basic auth and removed from
   the URL, httpx's encoders for JSON, forms and multipart), before anything is sent;
2. the whole exchange, redirects and body read included, runs under one cancel scope with the total
   deadline (httpx's own timeouts are per read and never bound a slowly dripping server); the same
   scope lets ``disconnect()`` abort exchanges in flight, which then raise ``ClientClosedError``;
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

import base64
import contextlib
import math
import re
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import trio

from .._config import validate_count, validate_timeout
from .._errors import (
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    PoolTimeout,
    ProtocolError,
    PynectorError,
    RedirectError,
    SerializationError,
    TimeoutError,
)
from .._redact import is_sensitive_header, is_sensitive_query_key, redact_url, scrub_text
from .._telemetry import Attributes, has_trace_context, inject_trace_context
from .._version import __version__
from ..message import HttpMessage
from ._engine import Body, HTTPEngine, WireBody, WireRequest, WireResponse
from ._model import (
    BodyReader,
    RequestInfo,
    Response,
    check_declared_length,
    decode_body,
    header_pairs,
    header_values,
    reject_control_characters,
    status_error,
)

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "DEFAULT_TIMEOUT", "HTTPTransport"]

#: Default total seconds for one exchange (connect, send, redirects and the whole body).
DEFAULT_TIMEOUT = 60.0
#: Default cap on a response body, raw and decoded (32 MiB).
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
#: Default cap on redirect hops (when ``follow_redirects`` is on).
DEFAULT_MAX_REDIRECTS = 10

_REQUEST_KEYS = frozenset(
    {"method", "url", "path", "params", "headers", "json", "data", "content", "files", "timeout"}
)
_SIMPLE_KEYS = frozenset({"method", "url", "path"})
_OPTION_KEYS = frozenset({"timeout", "raise_for_status", "follow_redirects"})
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_BODY_HEADERS = frozenset({"content-length", "content-type", "transfer-encoding", "content-encoding"})
_UNSET: Any = object()
_URL_CACHE_SIZE = 512
_ENCODED_KEYS = ("params", "json", "data", "content", "files")


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A validated, encoded request plus the per-request policy."""

    method: str
    url: httpx.URL
    headers: tuple[tuple[str, str], ...]
    body: Body
    replayable: bool
    secrets: tuple[str, ...]
    timeout: float | None
    raise_for_status: bool
    follow_redirects: bool
    # Derived once here, not per exchange: a simple request's _Prepared is cached and reused (see
    # HTTPTransport._prepare), and ``dataclasses.replace`` (redirects) runs __post_init__ again.
    wire_request: WireRequest = field(init=False, repr=False, compare=False)
    url_text: str = field(init=False, repr=False, compare=False)
    request_info: RequestInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        url = self.url
        scheme = url.scheme
        text = str(url)
        wire = WireRequest(
            method=self.method,
            scheme=scheme,
            host=url.host,
            port=url.port or (443 if scheme == "https" else 80),
            target=url.raw_path.decode("ascii"),
            headers=self.headers,
            body=self.body,
        )
        object.__setattr__(self, "wire_request", wire)
        object.__setattr__(self, "url_text", text)
        object.__setattr__(self, "request_info", RequestInfo(self.method, text))

    @property
    def described(self) -> str:
        return f"{self.method} {redact_url(self.url)}"

    # BodyReader formats its request description only when it raises; passing the request itself
    # (whose str() is the description) spares a URL redaction on every successful exchange.
    def __str__(self) -> str:
        return self.described

    def wire(self) -> WireRequest:
        return self.wire_request


def _with_trace_context(prepared: _Prepared) -> _Prepared:
    """*prepared* plus the current trace context's headers, unless it already names a traceparent."""
    if any(name.lower() == "traceparent" for name, _ in prepared.headers):
        return prepared
    carrier: dict[str, str] = {}
    inject_trace_context(carrier)  # the client's attempt span is current here
    if not carrier:
        return prepared
    return replace(prepared, headers=prepared.headers + tuple(carrier.items()))


_HTTP_VERSIONS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0", "2": "HTTP/2"}


def _new_response(
    prepared: _Prepared,
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


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value


def _check_url(url: httpx.URL, what: str) -> httpx.URL:
    if url.scheme not in {"http", "https"}:
        raise ConfigurationError(
            f"{what} {redact_url(url)!r} has scheme {url.scheme!r}; only http and https are supported"
        )
    if not url.host:
        raise ConfigurationError(f"{what} {redact_url(url)!r} has no host")
    return url


class HTTPTransport:
    """HTTP over any :class:`~pynector.http.HTTPEngine`, with pynector's HTTP policies.

    ``Pynector(transport_type="http", ...)`` builds one with the default engine; construct it directly
    to choose the engine. Options are validated here, at construction.

    Args:
        engine: does the wire work (``HttpxEngine``...). Closed by :meth:`disconnect`.
        base_url: prefix for relative request URLs (``"http://127.0.0.1:8000/api"``).
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
        **unknown: Any,
    ) -> None:
        if unknown:
            raise ConfigurationError(
                f"unknown option(s) for the HTTP transport: {', '.join(sorted(unknown))}"
            )
        self.engine = engine
        self._base_url: httpx.URL | None = None
        if base_url is not None:
            if not isinstance(base_url, (str, httpx.URL)):
                raise ConfigurationError(f"base_url must be a string, got {type(base_url).__name__}")
            reject_control_characters(str(base_url), "base_url")
            try:
                parsed = httpx.URL(base_url)
            except httpx.InvalidURL as exc:
                raise ConfigurationError(
                    f"base_url {redact_url(base_url)!r} is not a valid URL: {exc}"
                ) from exc
            _check_url(parsed, "base_url")
            if not parsed.raw_path.endswith(b"/"):
                parsed = parsed.copy_with(raw_path=parsed.raw_path + b"/")
            self._base_url = parsed
        if isinstance(secret_headers, str) or not all(isinstance(h, str) for h in secret_headers):
            raise ConfigurationError("secret_headers must be a list of header names")
        self._secret_headers = tuple(h.lower() for h in secret_headers)
        self._headers = header_pairs(headers, "headers")
        self._timeout = validate_timeout(timeout, "timeout")
        self._follow_redirects = _check_bool(follow_redirects, "follow_redirects")
        self._max_redirects = validate_count(max_redirects, "max_redirects", 0)
        self._max_bytes = (
            None
            if max_response_bytes is None
            else validate_count(max_response_bytes, "max_response_bytes", 1)
        )
        self._raise_for_status = _check_bool(raise_for_status, "raise_for_status")
        #: Whether requests carry the current span's trace context (``traceparent``...).
        self.propagate_trace_context = _check_bool(propagate_trace_context, "propagate_trace_context")
        self._resolved: dict[str, httpx.URL] = {}
        self._simple: dict[tuple[object, ...], _Prepared] = {}
        self._exchanges: set[trio.CancelScope] = set()
        self._sent_streams: weakref.WeakSet[AsyncIterable[bytes]] = weakref.WeakSet()
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
            data: a dict (``method``, ``url`` or ``path``, ``params``, ``headers``, ``json``, ``data``,
                ``content``, ``files``, ``timeout``), an :class:`~pynector.message.HttpMessage`, or a
                URL string (GET).
            **options: ``timeout`` (total seconds), ``raise_for_status`` and ``follow_redirects``.
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
        # _guarded inlined (this runs on every exchange): the same scope, registration and errors.
        timeout = prepared.timeout
        scope = trio.CancelScope(deadline=math.inf if timeout is None else start + timeout)
        exchanges = self._exchanges
        exchanges.add(scope)
        try:
            try:
                with scope:
                    # The hops of one exchange (one, unless redirects are followed), in this frame:
                    # every suspension of the exchange resumes through it.
                    fetch = self.engine.fetch
                    max_bytes = self._max_bytes
                    current = prepared
                    history: list[Response] | None = None
                    while True:
                        wire = await fetch(current.wire_request, max_bytes, current)
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
            finally:
                exchanges.discard(scope)
            self._cancelled_error(prepared)
        except PynectorError as exc:
            self._mark(exc, prepared)
            raise
        raise AssertionError("unreachable: a cancelled exchange raised above")

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
        return method.upper() if isinstance(method, str) and _TOKEN.match(method) else "HTTP"

    def span_attributes(self, data: Any, options: Mapping[str, Any]) -> Attributes:
        """``http.request.method``, ``url.full`` (redacted), ``server.address`` and ``server.port``."""
        attributes: dict[str, str | int] = {"http.request.method": self.span_name(data, options)}
        raw = data.url if isinstance(data, HttpMessage) else data
        if isinstance(data, Mapping):
            raw = data.get("url", data.get("path", ""))
        try:
            url = self._resolve(str(raw))
        except PynectorError:
            return attributes  # the request itself reports the problem
        if url.userinfo:
            url = url.copy_with(userinfo=b"")
        attributes["url.full"] = redact_url(url)
        attributes["server.address"] = url.host
        attributes["server.port"] = url.port or (443 if url.scheme == "https" else 80)
        return attributes

    def response_span_attributes(self, response: Any) -> Attributes:
        """``http.response.status_code`` of a successful exchange."""
        if isinstance(response, Response):
            return {"http.response.status_code": response.status_code}
        return {}

    # --- one attempt -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _guarded(self, prepared: _Prepared) -> Iterator[None]:
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
            self._cancelled_error(prepared)

    def _cancelled_error(self, prepared: _Prepared) -> None:
        """Raise what an exchange whose scope was cancelled (deadline, or disconnect) reports.

        Raises:
            pynector.TimeoutError: the deadline passed.
            pynector.ClientClosedError: the transport was closed during the exchange.
        """
        if self._closed:
            raise ClientClosedError(f"{prepared.described}: the HTTP transport was closed during the request")
        error = TimeoutError(
            f"{prepared.described} did not complete within its total deadline of {prepared.timeout:g}s "
            "(connect, send, redirects and body read)"
        )
        raise error from trio.TooSlowError()

    def _mark(self, exc: PynectorError, prepared: _Prepared) -> PynectorError:
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
        self, prepared: _Prepared, start: float, stack: contextlib.AsyncExitStack
    ) -> Response:
        current = prepared
        history: list[Response] = []
        while True:
            hop = contextlib.AsyncExitStack()
            await stack.enter_async_context(hop)
            wire_response = await hop.enter_async_context(self.engine.send(current.wire()))
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

    def _response(self, prepared: _Prepared, wire: WireResponse) -> tuple[Response, BodyReader]:
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

    def _next_hop(self, current: _Prepared, response: Response, hops: int) -> _Prepared | None:
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
        if current.url.scheme == "https" and target.scheme == "http":
            raise RedirectError(
                f"refusing redirect from https to http: {current.described} -> {redact_url(target)}"
            )
        if target.userinfo:
            target = target.copy_with(userinfo=b"")
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
        if _origin(target) != _origin(current.url):
            headers = [(n, v) for n, v in headers if not is_sensitive_header(n, self._secret_headers)]
        return replace(current, method=method, url=target, headers=tuple(headers), body=body, replayable=True)

    # --- building requests -----------------------------------------------------------------

    def _prepare(self, data: Any, options: Mapping[str, Any]) -> _Prepared:
        if self._closed:
            raise ClientClosedError("HTTP transport is closed")
        # Fast path for the most common request, a dict of only method/url/path strings with no
        # per-request options: its _Prepared depends on nothing else but this transport's fixed
        # settings, so it is built (and validated) once and reused. A trace context to propagate is
        # added to a copy of the cached one (``replace`` re-derives the wire request).
        if not options and type(data) is dict and _SIMPLE_KEYS.issuperset(data):
            method, url, path = data.get("method"), data.get("url"), data.get("path")
            if (
                (method is None or type(method) is str)
                and (url is None or type(url) is str)
                and (path is None or type(path) is str)
            ):
                simple_key = (method, url, path)
                prepared = self._simple.get(simple_key)
                if prepared is None:
                    prepared = self._prepare_uncached(data, options, inject=False)
                    if len(self._simple) >= _URL_CACHE_SIZE:
                        self._simple.clear()
                    self._simple[simple_key] = prepared
                if self.propagate_trace_context and has_trace_context():
                    prepared = _with_trace_context(prepared)
                return prepared
        return self._prepare_uncached(data, options)

    def _prepare_uncached(self, data: Any, options: Mapping[str, Any], inject: bool = True) -> _Prepared:
        unknown_options = set(options) - _OPTION_KEYS
        if unknown_options:
            raise ConfigurationError(f"unknown HTTP request option(s): {', '.join(sorted(unknown_options))}")
        if isinstance(data, HttpMessage):
            data = data.to_request()
        elif isinstance(data, (str, httpx.URL)):
            data = {"url": str(data)}
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"an HTTP request must be a dict, an HttpMessage or a URL string, got {type(data).__name__}"
            )
        unknown = set(data) - _REQUEST_KEYS
        if unknown:
            raise ConfigurationError(f"unknown HTTP request key(s): {', '.join(sorted(map(str, unknown)))}")
        method = data.get("method", "GET")
        if not isinstance(method, str) or not _TOKEN.match(method):
            raise ConfigurationError(f"invalid HTTP method {method!r}")
        method = method.upper()
        if "url" in data and "path" in data:
            raise ConfigurationError("pass either url or path, not both")
        raw_url = data.get("url", data.get("path", ""))
        if not isinstance(raw_url, (str, httpx.URL)):
            raise ConfigurationError(f"url must be a string, got {type(raw_url).__name__}")
        url = self._resolve(str(raw_url))

        request_headers = header_pairs(data.get("headers"), "request headers")
        overridden = {name.lower() for name, _ in request_headers}
        headers = [p for p in self._headers if p[0].lower() not in overridden] + request_headers
        present = {name.lower() for name, _ in headers}
        if "user-agent" not in present:
            headers.append(("User-Agent", f"pynector/{__version__}"))
        if "accept-encoding" not in present:
            headers.append(("Accept-Encoding", "gzip, deflate"))
        if inject and self.propagate_trace_context and "traceparent" not in present and has_trace_context():
            carrier: dict[str, str] = {}
            inject_trace_context(carrier)  # the client's attempt span is current here
            headers.extend(carrier.items())
        secrets = [v for n, v in headers if is_sensitive_header(n, self._secret_headers)]
        if url.userinfo:
            username, password = url.username, url.password
            secrets += [username, password]
            if "authorization" not in present:
                token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
                headers.append(("Authorization", f"Basic {token}"))
                secrets.append(token)
            url = url.copy_with(userinfo=b"")

        if not any(data.get(key) is not None for key in _ENCODED_KEYS):
            return self._prepared(method, url, headers, b"", True, secrets, data, options)
        built = self._encode(method, url, headers, data)
        final_url = built.url
        reject_control_characters(final_url.raw_path.decode("ascii", errors="replace"), "request URL")
        wire_headers = [
            (n, v) for n, v in built.headers.multi_items() if n.lower() not in {"host", "transfer-encoding"}
        ]
        body: Body
        replayable = True
        stream = built.stream
        if isinstance(stream, httpx.SyncByteStream):
            body = b"".join(stream)
            had_length = any(
                n.lower() in {"content-length", "transfer-encoding"} for n, _ in built.headers.multi_items()
            )
            wire_headers = [(n, v) for n, v in wire_headers if n.lower() != "content-length"]
            if had_length or body:
                wire_headers.append(("Content-Length", str(len(body))))
        else:
            content = data.get("content")
            if not isinstance(content, AsyncIterable):  # pragma: no cover - httpx only streams these
                raise SerializationError("request content must be bytes, str or an (async) iterable of bytes")
            self._claim_stream(content)
            body = content
            replayable = False
        for name, value in wire_headers:
            reject_control_characters(name, "header name")
            reject_control_characters(value, f"value of header {name!r}")
        return self._prepared(method, final_url, wire_headers, body, replayable, secrets, data, options)

    def _prepared(
        self,
        method: str,
        url: httpx.URL,
        headers: list[tuple[str, str]],
        body: Body,
        replayable: bool,
        secrets: list[str],
        data: Mapping[str, Any],
        options: Mapping[str, Any],
    ) -> _Prepared:
        framed = any(n.lower() in {"content-length", "transfer-encoding"} for n, _ in headers)
        if body == b"" and method in {"POST", "PUT", "PATCH"} and not framed:
            headers.append(("Content-Length", "0"))  # as httpx does: some servers require it
        if url.query:
            secrets += [v for k, v in url.params.multi_items() if is_sensitive_query_key(k)]
        timeout = options.get("timeout", data.get("timeout", _UNSET))
        return _Prepared(
            method=method,
            url=url,
            headers=tuple(headers),
            body=body,
            replayable=replayable,
            secrets=tuple(s for s in secrets if s),
            timeout=self._timeout if timeout is _UNSET else validate_timeout(timeout, "request timeout"),
            raise_for_status=_check_bool(
                options.get("raise_for_status", self._raise_for_status), "raise_for_status"
            ),
            follow_redirects=_check_bool(
                options.get("follow_redirects", self._follow_redirects), "follow_redirects"
            ),
        )

    def _claim_stream(self, content: AsyncIterable[bytes]) -> None:
        """An async iterable body can be sent once: refuse to send it again (a retry, a reused dict)."""
        try:
            if content in self._sent_streams:
                raise ConfigurationError(
                    "this async iterable body was already sent; a streamed body cannot be sent twice "
                    "(retries need bytes)"
                )
            self._sent_streams.add(content)
        except TypeError:  # not weak-referenceable: cannot be tracked
            pass

    def _resolve(self, raw: str) -> httpx.URL:
        # httpx parses URLs in pure Python (~50 us); requests repeat their URLs, so cache the result.
        cached = self._resolved.get(raw)
        if cached is not None:
            return cached
        url = self._resolve_uncached(raw)
        if len(self._resolved) >= _URL_CACHE_SIZE:
            self._resolved.clear()
        self._resolved[raw] = url
        return url

    def _resolve_uncached(self, raw: str) -> httpx.URL:
        reject_control_characters(raw, "request URL")
        try:
            url = httpx.URL(raw)
        except httpx.InvalidURL as exc:
            raise ConfigurationError(f"invalid request URL {redact_url(raw)!r}: {exc}") from exc
        if url.is_relative_url:
            if self._base_url is None:
                raise ConfigurationError(
                    f"relative URL {redact_url(raw)!r} needs the transport's base_url option"
                )
            url = self._base_url.copy_with(raw_path=self._base_url.raw_path + url.raw_path.lstrip(b"/"))
        return _check_url(url, "request URL")

    @staticmethod
    def _encode(
        method: str, url: httpx.URL, headers: list[tuple[str, str]], data: Mapping[str, Any]
    ) -> httpx.Request:
        content = data.get("content")
        if content is not None and not isinstance(
            content, (str, bytes, bytearray, memoryview, Iterable, AsyncIterable)
        ):
            raise SerializationError(f"request content must be bytes or str, got {type(content).__name__}")
        if isinstance(content, (bytearray, memoryview)):
            content = bytes(content)
        try:
            return httpx.Request(
                method,
                url,
                params=data.get("params"),
                headers=headers,
                json=data.get("json"),
                data=data.get("data"),
                content=content,
                files=data.get("files"),
            )
        except httpx.InvalidURL as exc:
            raise ConfigurationError(f"invalid request URL {redact_url(url)!r}: {exc}") from exc
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(
                f"the body of {method} {redact_url(url)} cannot be encoded: {exc}"
            ) from exc
