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
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import trio

from .._config import validate_count, validate_timeout
from .._errors import (
    ClientClosedError,
    ConfigurationError,
    PynectorError,
    TransportError,
    describe_exception,
    map_builtin_exception,
)
from .._httpcommon import classify_httpx_error
from .._net import CLOSE_TIMEOUT, default_port, host_port
from .._redact import redact_url
from ._engine import WireBody, WireRequest, fetch_streamed
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
    }
)


def _describe_request(request: WireRequest) -> str:
    port = None if request.port == default_port(request.scheme) else request.port
    netloc = host_port(request.host, port)
    return f"{request.method} {redact_url(f'{request.scheme}://{netloc}{request.target}')}"


def map_httpx_error(exc: Exception, request: WireRequest) -> PynectorError:
    """Map an exception raised by httpx (or under it) to the most specific pynector error.

    The message names the request (redacted), the phase and the root cause (for TLS, the
    verification reason that httpx hides three causes deep). ``request_sent`` is ``False`` for
    failures before any byte was sent (connect, TLS, pool), which the retry policy resends for any
    method (the server never saw them).
    """
    if isinstance(exc, PynectorError):
        return exc
    classified = classify_httpx_error(exc, httpx)
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


class _MappedRawIterator:
    """httpx's ``aiter_raw()`` with every exception mapped to a pynector error."""

    def __init__(self, inner: AsyncIterator[bytes], request: WireRequest) -> None:
        self._inner = inner
        self._request = request

    def __aiter__(self) -> _MappedRawIterator:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._inner.__anext__()
        except StopAsyncIteration:
            raise
        except Exception as exc:
            raise map_httpx_error(exc, self._request) from exc


class _HttpxWireResponse:
    """A :class:`~pynector.http.WireResponse` over a streamed ``httpx.Response``."""

    def __init__(self, response: httpx.Response, request: WireRequest) -> None:
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
        return _MappedRawIterator(self._raw, self._request)

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
        http2: enable HTTP/2 (needs the ``http2`` extra: ``pip install 'pynector[http2]'``).
        trust_env: read proxies and certificate settings from the environment (default True).

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
    ) -> None:
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
        }
        if client is not None:
            given = sorted(name for name, value in client_options.items() if value is not _UNSET)
            if given:
                raise ConfigurationError(
                    f"option(s) {', '.join(given)} configure the httpx client and cannot be combined with "
                    "client=; set them on your httpx.AsyncClient"
                )
            if not isinstance(client, httpx.AsyncClient):
                raise ConfigurationError(f"client must be an httpx.AsyncClient, got {type(client).__name__}")
            self._client = client
            self._owns_client = False
            return
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
                    "http2=True needs the h2 package: install the http2 extra, pip install 'pynector[http2]'"
                ) from exc
        self._client = httpx.AsyncClient(
            verify=verify,
            http2=http2,
            trust_env=trust_env,
            timeout=httpx.Timeout(None, connect=connect),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=keepalive),
            follow_redirects=False,
        )
        self._owns_client = True

    def _url(self, request: WireRequest) -> httpx.URL:
        # httpx builds URLs in pure Python (~30 us); targets repeat, so cache them.
        key = (request.scheme, request.host, request.port, request.target)
        url = self._urls.get(key)
        if url is None:
            url = httpx.URL(
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
            try:
                url = self._url(request)
                body = request.body
                content = None if isinstance(body, bytes) and not body else body
                built = self._client.build_request(
                    request.method, url, headers=list(request.headers), content=content
                )
                response = await self._client.send(built, stream=True, follow_redirects=False)
            except Exception as exc:
                raise map_httpx_error(exc, request) from exc
            wire = _HttpxWireResponse(response, request)
            try:
                yield wire
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
                    await wire.aclose()
        finally:
            self._limiter.release_on_behalf_of(borrower)


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
