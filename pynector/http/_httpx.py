"""The httpx engine: ``httpx.AsyncClient`` under trio doing the wire work for :class:`HTTPTransport`.

It only sends a :class:`~pynector.http.WireRequest`, exposes the raw body and maps httpx's exceptions;
every policy (decoding, size caps, redirects, deadlines, status errors) lives in the shared layer.
Redirects are never followed by httpx (``follow_redirects=False``) and the body is read with
``aiter_raw()``, so httpx's unbounded decompression never runs.

Why a client-wide limiter: httpcore leaks a pool slot when a request is cancelled while it is queued
for a connection (encode/httpcore#1093, unreleased fix encode/httpcore#1099; measured: 20 callers on 4
connections with random cancellation leaked all 4 in 5 of 5 runs); after a few cancellations under
contention every later request fails with ``PoolTimeout``. So httpcore must never queue: one
``trio.CapacityLimiter(max_connections)`` is held for the whole exchange, from before ``send`` until
the response is closed (body read included), and httpcore's pool is sized to the same number. trio's
limiter guarantees that a cancelled waiter never holds a token, so cancellation is safe at every
checkpoint. Tokens are borrowed on behalf of a fresh object per exchange, so one task may hold
several streams at once.

Why a watched network stream: httpcore reads a response with h11 and, once it is complete, puts the
connection back in its pool even when more bytes were read along with it (a second, unsolicited
response in the same write, or a ``204`` whose ``Content-Length`` bytes are really the next
response): the next request on that connection then reads those bytes as its own response. Its only
idle check is the socket's readability, and these bytes are no longer in the socket but in h11's
buffer. So the client this engine builds runs httpcore over a network backend whose streams follow
each HTTP/1.1 exchange with a second h11 parser of their own (:class:`_WatchedStream`): bytes that
arrive after a complete response are counted, the response is refused with
:class:`pynector.ProtocolError` (as the native engine refuses it) and the stream reports itself
readable, which makes httpcore close the connection instead of reusing it. The same stream records,
for each exchange, whether its connection had served an earlier one and whether any response byte
came back: that is what the one-resend rule for a stale keep-alive connection needs
(:func:`~pynector.http._engine.may_resend`, shared with the native engine).

Not watched (the exposure remains there, as in plain httpx): a client of your own (``client=``),
proxied connections (proxies from the environment with ``trust_env``; their transports are httpx's
own) and HTTP/2 connections (one stream carries many exchanges; HTTP/2 frames every message).
"""

from __future__ import annotations

import contextlib
import ssl
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterable
from contextvars import ContextVar
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import ModuleType
from typing import Any

import h11
import httpcore
import httpx
import trio

from .._config import validate_count, validate_timeout
from .._errors import (
    ClientClosedError,
    ConfigurationError,
    ProtocolError,
    PynectorError,
    TransportError,
    describe_exception,
    map_builtin_exception,
)
from .._httpcommon import classify_httpx_error
from .._net import CLOSE_TIMEOUT, default_port, host_port
from .._redact import redact_url
from ._engine import (
    WireBody,
    WireRequest,
    conflicting_framing_error,
    fetch_streamed,
    has_conflicting_framing,
    may_resend,
)
from ._proxy import parse_proxy_url
from ._transport import HTTPTransport

__all__ = ["HttpxEngine", "create_httpx_transport", "map_httpx_error"]

#: Seconds that closing a response or the client may take under cancellation.
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_MAX_KEEPALIVE = 20

_UNSET: Any = object()
_URL_CACHE_SIZE = 512
_ENGINE_OPTIONS = frozenset(
    {
        "client",
        "connect_timeout",
        "verify",
        "max_connections",
        "max_keepalive_connections",
        "http2",
        "trust_env",
        "proxy",
        "library",
        "server_hostname",
    }
)


def _describe_request(request: WireRequest) -> str:
    port = None if request.port == default_port(request.scheme) else request.port
    netloc = host_port(request.host, port)
    return f"{request.method} {redact_url(f'{request.scheme}://{netloc}{request.target}')}"


def map_httpx_error(exc: Exception, request: WireRequest, library: ModuleType = httpx) -> PynectorError:
    """Map an exception raised by httpx (or under it) to the most specific pynector error.

    The message names the request (redacted), the phase and the root cause (for TLS, the
    verification reason that httpx hides three causes deep). ``request_sent`` is ``False`` for
    failures before any byte was sent (connect, TLS, pool), which the retry policy resends for any
    method (the server never saw them).
    """
    if isinstance(exc, PynectorError):
        return exc
    classified = classify_httpx_error(exc, library)
    if classified is None:
        mapped = map_builtin_exception(exc, _describe_request(request))
        if mapped is None:
            mapped = TransportError(f"{_describe_request(request)} failed: {describe_exception(exc)}")
        mapped.request_sent = True
        mapped.http_method = request.method
        return mapped
    cls, phase, sent = classified
    error = cls(f"{_describe_request(request)}: {phase}: {describe_exception(exc)}")
    error.request_sent = sent
    error.http_method = request.method
    return error


class _Attempt:
    """What the watched stream saw of one attempt to send a request."""

    __slots__ = ("received", "reused")

    def __init__(self) -> None:
        self.reused = False  # its connection had served an earlier exchange
        self.received = False  # at least one response byte arrived


#: The largest response head the watched stream follows: above httpcore's own limit (100 KiB), so
#: that httpcore, not the watcher, is the one to refuse a large head.
_WATCHED_HEAD_LIMIT = 256 * 1024

#: The attempt in progress in this task (httpcore writes and reads in the task that sends).
_ATTEMPT: ContextVar[_Attempt | None] = ContextVar("pynector_httpx_attempt", default=None)


class _WatchedStream(httpcore.AsyncNetworkStream):
    """An httpcore network stream that follows each HTTP/1.1 exchange with its own h11 parser.

    Counts the bytes that arrive after a complete response (:attr:`unexpected`) and reports itself
    readable then, so httpcore closes the connection instead of reusing it; records on the current
    :class:`_Attempt` whether the connection is reused and whether a response byte arrived. Stops
    following (for good) on a connection that switches protocol (``CONNECT``, ``101``) or speaks
    HTTP/2, or whose bytes h11 rejects (httpcore's own parser reports that).
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream, watch: bool = True) -> None:
        self._inner = inner
        self._watch = watch
        self._attempt: _Attempt | None = None
        self._exchanges = 0
        self._parser: h11.Connection | None = None
        self.unexpected = 0

    def _begin(self, attempt: _Attempt, head: bytes) -> None:
        """A new request starts with *head* (httpcore writes a request head in one call)."""
        self._attempt = attempt
        self._exchanges += 1
        attempt.reused = self._exchanges > 1
        method = head.split(b" ", 1)[0]
        if method == b"CONNECT" or not method.isalpha():
            self._watch = False
            self._parser = None
            return
        parser = h11.Connection(h11.CLIENT, max_incomplete_event_size=_WATCHED_HEAD_LIMIT)
        parser.send(h11.Request(method=method, target="/", headers=[("Host", "watched")]))
        parser.send(h11.EndOfMessage())
        self._parser = parser

    def _follow(self, data: bytes) -> None:
        parser = self._parser
        assert parser is not None
        if parser.their_state is h11.DONE:
            self.unexpected += len(data)
            return
        try:
            parser.receive_data(data)
            while True:
                event = parser.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED or type(event) is h11.ConnectionClosed:
                    break
                if type(event) is h11.InformationalResponse and event.status_code == 101:
                    self._watch = False
                    self._parser = None
                    return
        except h11.RemoteProtocolError:
            self._parser = None  # httpcore's parser sees the same bytes and reports them
            return
        if parser.their_state is h11.DONE:
            self.unexpected += len(parser.trailing_data[0])

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        attempt = _ATTEMPT.get()
        if self._watch and attempt is not None and attempt is not self._attempt:
            self._begin(attempt, bytes(buffer[:32]))
        await self._inner.write(buffer, timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._inner.read(max_bytes, timeout)
        if data and self._attempt is not None:
            self._attempt.received = True
        if self._parser is not None:
            self._follow(data)
        return data

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        tls = inner.get_extra_info("ssl_object")
        http2 = tls is not None and tls.selected_alpn_protocol() == "h2"
        return _WatchedStream(inner, watch=not http2)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self.unexpected:
            return True  # httpcore's idle check: a readable idle connection is closed, not reused
        return self._inner.get_extra_info(info)


class _WatchingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's trio backend, its streams watched (:class:`_WatchedStream`)."""

    def __init__(self) -> None:
        self._inner = httpcore.TrioBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _WatchedStream(
            await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _WatchedStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _WatchedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a watched httpcore pool.

    httpx offers no way to give its transport a network backend, so this is what
    ``AsyncHTTPTransport.__init__`` does without a proxy, with the backend added: everything else
    (request and response mapping, exceptions) is httpx's own code working on ``self._pool``.
    """

    def __init__(
        self, *, verify: bool | ssl.SSLContext, trust_env: bool, http2: bool, limits: httpx.Limits
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=trust_env),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=_WatchingBackend(),
        )


def _environment_has_proxies() -> bool:
    """Whether httpx, trusting the environment, would send requests through a proxy."""
    return any(key in ("http", "https", "all") for key in urllib.request.getproxies())


class _BytesStream(httpx.AsyncByteStream):
    """A bytes request body for httpx, iterated without an async generator: httpcore stops reading
    a body whose write failed (to read an early answer) and never closes its iterator, which, as an
    async generator, would be left to the garbage collector."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._sent = False

    def __aiter__(self) -> _BytesStream:
        self._sent = False
        return self

    async def __anext__(self) -> bytes:
        if self._sent:
            raise StopAsyncIteration
        self._sent = True
        return self._body


class _MappedRawIterator:
    """httpx's ``aiter_raw()`` with every exception mapped to a pynector error, and a response
    followed by unexpected bytes refused at its end."""

    def __init__(
        self, inner: AsyncIterator[bytes], request: WireRequest, stream: object, library: ModuleType
    ) -> None:
        self._inner = inner
        self._request = request
        self._stream = stream if isinstance(stream, _WatchedStream) else None
        self._library = library

    def __aiter__(self) -> _MappedRawIterator:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._inner.__anext__()
        except StopAsyncIteration:
            if self._stream is not None and self._stream.unexpected:
                raise ProtocolError(
                    f"{_describe_request(self._request)}: the server sent {self._stream.unexpected} "
                    "unexpected byte(s) after the response"
                ) from None
            raise
        except Exception as exc:
            raise map_httpx_error(exc, self._request, self._library) from exc


class _HttpxWireResponse:
    """A :class:`~pynector.http.WireResponse` over a streamed ``httpx.Response``."""

    def __init__(self, response: httpx.Response, request: WireRequest, library: ModuleType) -> None:
        self._library = library
        self.status_code = response.status_code
        self.reason = response.reason_phrase
        self.http_version = response.http_version
        self.headers = list(response.headers.multi_items())
        self._response = response
        self._request = request
        self._raw: Any = None

    def aiter_raw(self) -> AsyncIterator[bytes]:
        if self._raw is None:
            self._raw = self._response.aiter_raw()
        return _MappedRawIterator(
            self._raw, self._request, self._response.extensions.get("network_stream"), self._library
        )

    async def aclose(self) -> None:
        # Close the response (and its connection, unless the body was read to the end) first, then
        # run httpx's raw iterator to its end: it now finishes at once, with an error or EOF. Calling
        # ``aclose()`` on it instead would leave the nested generators inside httpx and httpcore
        # suspended, to be finalised later by the garbage collector with a ResourceWarning.
        with contextlib.suppress(Exception):
            await self._response.aclose()
        if self._raw is not None:
            with contextlib.suppress(Exception):
                async for _ in self._raw:
                    pass


class HttpxEngine:
    """Sends requests with an ``httpx.AsyncClient`` under trio.

    Args:
        client: your own ``httpx.AsyncClient`` (its cookies, proxies, auth and transport are used; it
            is not closed by :meth:`aclose`). Cannot be combined with the client options below.
        connect_timeout: seconds to establish a connection (default 10).
        verify: ``True`` (default), ``False`` or an ``ssl.SSLContext``.
        max_connections: the most exchanges in flight at once, body reads included (default 100).
            With your own client, keep it at or below that client's pool size.
        max_keepalive_connections: idle connections kept for reuse (default 20).
        http2: enable HTTP/2 (needs the ``http2`` extra: ``pip install 'pynector-trio[http2]'``).
        trust_env: read proxies and certificate settings from the environment (default True).
        proxy: a proxy URL (``"http://user:pass@proxy:3128"``) passed on to ``httpx.AsyncClient``.
        server_hostname: the TLS server name (SNI) and the name the certificate is checked against,
            instead of the URL's host (httpx's ``sni_hostname`` request extension, on every request).
        library: ``"httpx"`` (default) or ``"httpx2"``, the maintained continuation of httpx (with
            httpcore2), which ``transport_type="httpx2"`` selects. The default stays httpx, a runtime
            dependency, so that the engine does not change under a program because some other
            package (an SDK) happened to install httpx2. With ``client=``, the client's own library
            is used (an ``httpx.AsyncClient`` or an ``httpx2.AsyncClient``).

    Raises:
        pynector.ConfigurationError: for an invalid option, ``http2=True`` without ``h2`` installed,
            or client options combined with ``client=``.
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        connect_timeout: float | None = _UNSET,
        verify: bool | ssl.SSLContext = _UNSET,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_keepalive_connections: int = _UNSET,
        http2: bool = _UNSET,
        trust_env: bool = _UNSET,
        proxy: str | None = _UNSET,
        library: str | None = None,
        server_hostname: str | None = None,
    ) -> None:
        if server_hostname is not None and (not isinstance(server_hostname, str) or not server_hostname):
            raise ConfigurationError(f"server_hostname must be a host name, got {server_hostname!r}")
        self._extensions = {} if server_hostname is None else {"sni_hostname": server_hostname}
        max_connections = validate_count(max_connections, "max_connections", 1)
        self._limiter = trio.CapacityLimiter(max_connections)
        self._urls: dict[tuple[str, str, int, str], httpx.URL] = {}
        self._closed = False
        client_options = {
            "connect_timeout": connect_timeout,
            "verify": verify,
            "max_keepalive_connections": max_keepalive_connections,
            "http2": http2,
            "trust_env": trust_env,
            "proxy": proxy,
        }
        if client is not None:
            given = sorted(name for name, value in client_options.items() if value is not _UNSET)
            if given:
                raise ConfigurationError(
                    f"option(s) {', '.join(given)} configure the httpx client and cannot be combined with "
                    "client=; set them on your httpx.AsyncClient"
                )
            self._httpx = _library_of_client(client)
            self._client = client
            self._owns_client = False
            return
        self._httpx = _load_library(library or "httpx")
        connect = validate_timeout(
            DEFAULT_CONNECT_TIMEOUT if connect_timeout is _UNSET else connect_timeout, "connect_timeout"
        )
        keepalive = validate_count(
            min(DEFAULT_MAX_KEEPALIVE, max_connections)
            if max_keepalive_connections is _UNSET
            else max_keepalive_connections,
            "max_keepalive_connections",
            0,
        )
        verify = True if verify is _UNSET else verify
        if not isinstance(verify, (bool, ssl.SSLContext)):
            raise ConfigurationError(f"verify must be True, False or an ssl.SSLContext, got {verify!r}")
        http2 = False if http2 is _UNSET else http2
        trust_env = True if trust_env is _UNSET else trust_env
        for name, value in (("http2", http2), ("trust_env", trust_env)):
            if not isinstance(value, bool):
                raise ConfigurationError(f"{name} must be True or False, got {value!r}")
        if http2:
            try:
                import h2  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
            except ImportError as exc:
                raise ConfigurationError(
                    "http2=True needs the h2 package: install the http2 extra, "
                    "pip install 'pynector-trio[http2]'"
                ) from exc
        proxy = None if proxy is _UNSET else proxy
        if proxy is not None:
            proxy = parse_proxy_url(proxy).url_text
        limits = self._httpx.Limits(max_connections=max_connections, max_keepalive_connections=keepalive)
        # The watched transport (smuggled responses refused, stale connections resent) is built on
        # httpx and httpcore. httpx2, an explicit proxy and proxies from the environment get httpx's
        # own transports: those connections stay unwatched (see the module docstring).
        watched = self._httpx is httpx and proxy is None and not (trust_env and _environment_has_proxies())
        transport = (
            _WatchedTransport(verify=verify, trust_env=trust_env, http2=http2, limits=limits)
            if watched
            else None
        )
        self._client = self._httpx.AsyncClient(
            # No cookie kept by httpx: cookies are the transport's opt-in jar (``cookies=``), the same
            # on both engines; this jar's policy refuses every domain.
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
            proxy=proxy,
            verify=verify,
            http2=http2,
            trust_env=trust_env,
            timeout=self._httpx.Timeout(None, connect=connect),
            limits=limits,
            follow_redirects=False,
            transport=transport,
        )
        self._owns_client = True

    def _url(self, request: WireRequest) -> httpx.URL:
        # httpx builds URLs in pure Python (~30 us); targets repeat, so cache them.
        key = (request.scheme, request.host, request.port, request.target)
        url = self._urls.get(key)
        if url is None:
            url = self._httpx.URL(
                scheme=request.scheme,
                host=request.host,
                port=request.port,
                raw_path=request.target.encode("ascii"),
            )
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[key] = url
        return url

    @property
    def in_flight(self) -> int:
        """Exchanges currently holding a connection slot."""
        return int(self._limiter.borrowed_tokens)

    async def aclose(self) -> None:
        """Close the httpx client if we created it. Idempotent; shielded and bounded."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
                await self._client.aclose()

    async def fetch(self, request: WireRequest, max_bytes: int | None, what: object) -> WireBody:
        """Send *request* and read its whole raw body (see :meth:`pynector.http.HTTPEngine.fetch`).

        Raises:
            pynector.ProtocolError: the body is larger than *max_bytes*.
            pynector.TransportError: (most specific subclass) on any wire failure.
            pynector.ClientClosedError: the engine was closed.
        """
        return await fetch_streamed(self, request, max_bytes, what)

    @contextlib.asynccontextmanager
    async def send(self, request: WireRequest) -> AsyncIterator[_HttpxWireResponse]:
        """Send *request*; the block sees the response once its headers arrived.

        Holds one limiter token for the whole block. Leaving it closes the response (the connection
        is reused only if httpx read the body to the end).

        Raises:
            pynector.TransportError: (most specific subclass) on any wire failure.
            pynector.ClientClosedError: the engine was closed.
        """
        if self._closed:
            raise ClientClosedError("httpx engine is closed")
        borrower = object()
        await self._limiter.acquire_on_behalf_of(borrower)
        try:
            response = await self._send(request)
            wire = _HttpxWireResponse(response, request, self._httpx)
            try:
                if has_conflicting_framing(wire.headers):
                    raise conflicting_framing_error(_describe_request(request))
                yield wire
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
                    await wire.aclose()
        finally:
            self._limiter.release_on_behalf_of(borrower)

    async def _send_once(self, request: WireRequest, attempt: _Attempt) -> httpx.Response:
        token = _ATTEMPT.set(attempt)
        try:
            body = request.body
            content = None if isinstance(body, bytes) and not body else body
            built = self._client.build_request(
                request.method,
                self._url(request),
                headers=list(request.headers),
                content=content,
                extensions=self._extensions or None,
            )
            if self._httpx is httpx and isinstance(body, (bytes, bytearray, memoryview)) and body:
                built.stream = _BytesStream(bytes(body))
            return await self._client.send(built, stream=True, follow_redirects=False)
        finally:
            _ATTEMPT.reset(token)

    async def _send(self, request: WireRequest) -> httpx.Response:
        """Send *request* and return the response once its head arrived, sending it once more when a
        reused connection failed before any response byte (see :func:`may_resend`).

        Raises:
            pynector.TransportError: (most specific subclass) on any wire failure.
        """
        attempt = _Attempt()
        try:
            return await self._send_once(request, attempt)
        except Exception as exc:
            if not may_resend(request, attempt.reused, attempt.received):
                raise map_httpx_error(exc, request, self._httpx) from exc
        try:
            return await self._send_once(request, _Attempt())
        except Exception as exc:
            raise map_httpx_error(exc, request, self._httpx) from exc


def _load_library(name: object) -> ModuleType:
    """The httpx module named *name* (``"httpx"`` or ``"httpx2"``).

    Raises:
        pynector.ConfigurationError: another name, or httpx2 asked for but not installed.
    """
    if name == "httpx":
        return httpx
    if name == "httpx2":
        try:
            import httpx2  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise ConfigurationError(
                "library='httpx2' (transport_type='httpx2') needs the httpx2 package: pip install httpx2"
            ) from exc
        module: ModuleType = httpx2
        return module
    raise ConfigurationError(f"library must be 'httpx' or 'httpx2', got {name!r}")


def _library_of_client(client: object) -> ModuleType:
    """The module of a user's client: ``httpx`` or ``httpx2``.

    Raises:
        pynector.ConfigurationError: *client* is neither an ``httpx.AsyncClient`` nor an
            ``httpx2.AsyncClient``.
    """
    if isinstance(client, httpx.AsyncClient):
        return httpx
    module = sys.modules.get("httpx2")
    if module is not None and isinstance(client, module.AsyncClient):
        return module
    raise ConfigurationError(
        f"client must be an httpx.AsyncClient or an httpx2.AsyncClient, got {type(client).__name__}"
    )


def create_httpx_transport(**options: Any) -> HTTPTransport:
    """Create an :class:`HTTPTransport` over an :class:`HttpxEngine` (registered as ``"httpx"``).

    Engine options (``client``, ``connect_timeout``, ``verify``, ``max_connections``,
    ``max_keepalive_connections``, ``http2``, ``trust_env``) go to :class:`HttpxEngine`, the rest to
    :class:`HTTPTransport`.

    Raises:
        pynector.ConfigurationError: for an invalid or unknown option.
    """
    engine_options = {name: options.pop(name) for name in list(options) if name in _ENGINE_OPTIONS}
    return HTTPTransport(HttpxEngine(**engine_options), **options)
