"""The contract between the shared HTTP layer and the engines that do the wire work.

One HTTP model, two engines. The shared layer (request building, ``Response``, status errors,
redirects, size caps and bounded decompression, retries, redaction, the total deadline) is written once
and talks to an engine only through this contract:

- ``"http"``: the native HTTP/1.1 engine (h11 over pooled trio streams);
- ``"httpx"``: ``httpx.AsyncClient`` running under trio (HTTP/2, proxies, cookies).

An engine receives a fully validated :class:`WireRequest` (no CR/LF/NUL anywhere, absolute target,
``Host`` not included: the engine writes it) and yields a :class:`WireResponse` whose body is still
content-encoded (``aiter_raw``): decoding and size limits belong to the shared layer so that there is
one implementation of each. An engine maps its own foreign exceptions (OSError, ssl, trio, h11,
httpx...) to the most specific pynector error at its boundary, with the original as ``__cause__``.
Total deadlines are not the engine's business: the shared layer wraps the whole exchange in
``trio.fail_after``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Body", "HTTPEngine", "WireRequest", "WireResponse"]

#: A request body: bytes, or a (sync or async) iterable of byte chunks streamed with chunked encoding
#: unless a Content-Length header is given.
Body = bytes | Iterable[bytes] | AsyncIterable[bytes]


@dataclass(frozen=True, slots=True)
class WireRequest:
    """One HTTP request, ready for the wire.

    Attributes:
        method: upper-case method (``"GET"``).
        scheme: ``"http"`` or ``"https"``.
        host: host name or IP literal (no brackets), used for connecting, SNI and ``Host``.
        port: TCP port.
        target: the origin-form request target: path plus ``?query``, percent-encoded.
        headers: header (name, value) pairs in order, without ``Host``.
        body: the body, or ``b""`` for none.
    """

    method: str
    scheme: str
    host: str
    port: int
    target: str
    headers: tuple[tuple[str, str], ...]
    body: Body = b""

    @property
    def origin(self) -> tuple[str, str, int]:
        """``(scheme, host, port)``: the connection pool key."""
        return (self.scheme, self.host, self.port)


class WireResponse(Protocol):
    """A response whose status and headers have arrived; the body is read with :meth:`aiter_raw`."""

    status_code: int
    reason: str
    http_version: str
    headers: list[tuple[str, str]]

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body bytes as received (still content-encoded), chunk by chunk."""
        ...


class HTTPEngine(Protocol):
    """Does the wire work for the shared HTTP layer."""

    async def aclose(self) -> None:
        """Close every connection; idempotent, safe under cancellation."""

    def send(self, request: WireRequest) -> AbstractAsyncContextManager[WireResponse]:
        """Send *request*; entering yields the response once its headers arrived.

        Leaving the block releases the connection: it is reused only if the body was read to the end
        and the exchange ended cleanly; otherwise (body not consumed, cancellation, error) it is
        closed.

        Raises:
            pynector.TransportError: (most specific subclass) on any wire failure. Set
                ``request_sent = False`` on errors raised before any byte of the request was written
                (connect, TLS, pool): the retry policy resends those for any method (rule R3). A peer
                that hangs up early or truncates the body is a ``ReadError``; bytes that break HTTP
                are a ``ProtocolError``.
        """
        ...
