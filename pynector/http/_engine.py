"""The contract between the shared HTTP layer and the engines that do the wire work.

One HTTP model, two engines. The shared layer (request building, ``Response``, status errors,
redirects, size caps and bounded decompression, retries, redaction, the total deadline) is written once
and talks to an engine only through this contract:

- ``"http"``: the native HTTP/1.1 engine (our own HTTP/1.1 parser over pooled trio streams);
- ``"httpx"``: ``httpx.AsyncClient`` running under trio (HTTP/2, proxies, cookies).

An engine receives a fully validated :class:`WireRequest` (no CR/LF/NUL anywhere, absolute target,
``Host`` not included: the engine writes it) and yields a :class:`WireResponse` whose body is still
content-encoded (``aiter_raw``): decoding and size limits belong to the shared layer so that there is
one implementation of each. An engine maps its own foreign exceptions (OSError, ssl, trio, parser,
httpx...) to the most specific pynector error at its boundary, with the original as ``__cause__``.
Total deadlines are the shared layer's: it wraps the whole exchange in one cancel scope, unless the
engine says it keeps the deadline itself (``keeps_deadline = True``; the native engine does, where
its own I/O lets it bound only the waits an exchange really makes: see :meth:`HTTPEngine.fetch`).

Most exchanges want the whole body at once. For them the shared layer calls :meth:`HTTPEngine.fetch`,
which returns a :class:`WireBody` (head and raw body) in one call. The size cap is the one exception
to "policies stay out of engines": a raw body must be refused while it arrives, not after it was
buffered, so ``fetch`` takes the cap and applies the shared layer's two checks
(:func:`~pynector.http._model.check_declared_length`, :func:`~pynector.http._model.body_too_large`).
An engine may implement ``fetch`` as :func:`fetch_streamed` (``send`` plus reading ``aiter_raw``); the
native engine does it in one coroutine over its pool, without the context manager, the response object
and the body iterator of ``send``, which are a large part of the CPU cost of a small request.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from .._errors import ProtocolError, TimeoutError
from .._httpcommon import IDEMPOTENT_METHODS
from ._model import body_too_large, check_declared_length, header_values

__all__ = [
    "Body",
    "DeadlineExpired",
    "HTTPEngine",
    "WireBody",
    "WireRequest",
    "WireResponse",
    "conflicting_framing_error",
    "fetch_streamed",
    "has_conflicting_framing",
    "may_resend",
]

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
        origin: ``(scheme, host, port)``, the connection pool key (derived).
    """

    method: str
    scheme: str
    host: str
    port: int
    target: str
    headers: tuple[tuple[str, str], ...]
    body: Body = b""
    origin: tuple[str, str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin", (self.scheme, self.host, self.port))


def may_resend(request: WireRequest, reused: bool, received: bool) -> bool:
    """Whether a request that failed may be sent once more, on a fresh connection (both engines'
    rule for the keep-alive race: a server may close an idle connection just as a request is sent).

    Only when the connection had served an earlier exchange (*reused*), not one response byte came
    back (*received* is false: the server cannot have answered), the method is idempotent (sending
    it twice means the same as once) and the body is bytes (a streamed body cannot be replayed).
    An engine resends at most once; every later failure is the shared retry policy's business.
    """
    return (
        reused
        and not received
        and request.method in IDEMPOTENT_METHODS
        and isinstance(request.body, (bytes, bytearray, memoryview))
    )


def has_conflicting_framing(headers: Iterable[tuple[bytes, bytes]] | Iterable[tuple[str, str]]) -> bool:
    """Whether a response head gives both ``Content-Length`` and ``Transfer-Encoding``.

    Its length is then ambiguous: RFC 9112 section 6.3 says to treat it as an error and not reuse
    the connection, since the two framings can disagree about where the next response starts (the
    basis of response smuggling). *headers* are ``(name, value)`` pairs, str or raw bytes, names in
    any case. Runs on every response, so names are compared only when their length matches.
    """
    chunked = length = False
    for name, _ in headers:
        # Only names of the right length are lowered and compared: this runs on every response.
        if len(name) == 17 and name.lower() in _TRANSFER_ENCODING:
            chunked = True
        elif len(name) == 14 and name.lower() in _CONTENT_LENGTH:
            length = True
    return chunked and length


_CONTENT_LENGTH = (b"content-length", "content-length")
_TRANSFER_ENCODING = (b"transfer-encoding", "transfer-encoding")


def conflicting_framing_error(described: str) -> ProtocolError:
    """The error for a response whose head has both ``Content-Length`` and ``Transfer-Encoding``."""
    return ProtocolError(
        f"{described}: the response gives both Content-Length and Transfer-Encoding, so its length "
        "is ambiguous; refused, and the connection is not reused"
    )


class WireResponse(Protocol):
    """A response whose status and headers have arrived; the body is read with :meth:`aiter_raw`.

    ``headers`` are ``(name, value)`` pairs in order, names lower-case.
    """

    status_code: int
    reason: str
    http_version: str
    headers: list[tuple[str, str]]

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body bytes as received (still content-encoded), chunk by chunk."""
        ...


class WireBody:
    """A whole response: the head of a :class:`WireResponse` plus its raw (still content-encoded) body.

    Attributes:
        status_code: the HTTP status.
        reason: the reason phrase (may be empty).
        http_version: ``"1.1"``, ``"HTTP/2"``... as the engine reports it.
        headers: ``(name, value)`` pairs in order, as bytes as received (names in any case): decoding
            them is left to whoever reads them (``Response.headers``, on first access).
        body: the raw body bytes.
    """

    __slots__ = ("body", "headers", "http_version", "reason", "status_code")

    def __init__(
        self,
        status_code: int,
        reason: str,
        http_version: str,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.http_version = http_version
        self.headers = headers
        self.body = body


class DeadlineExpired(TimeoutError):
    """The deadline an engine keeps itself (see :meth:`HTTPEngine.fetch`) passed; the shared layer
    reports it as a :class:`~pynector.TimeoutError` naming the request and its timeout."""


class HTTPEngine(Protocol):
    """Does the wire work for the shared HTTP layer.

    An engine may keep the total deadline of :meth:`fetch` itself: it then has a class attribute
    ``keeps_deadline = True``, its ``fetch`` takes a fourth argument, ``deadline`` (absolute, on
    trio's clock), raises :class:`DeadlineExpired` once a wait would pass it, and its ``aclose``
    ends the fetches in flight with :class:`~pynector.ClientClosedError`. The shared layer then
    enters no cancel scope of its own around ``fetch`` (it still does around ``send``).
    """

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
                (connect, TLS, pool): the retry policy resends those for any method, since the server never
                saw them (only idempotent requests are resent once they may have arrived). A peer
                that hangs up early or truncates the body is a ``ReadError``; bytes that break HTTP
                are a ``ProtocolError``.
        """
        ...

    async def fetch(self, request: WireRequest, max_bytes: int | None, what: object) -> WireBody:
        """Send *request* and read the whole raw body: ``send`` and reading ``aiter_raw`` in one call.

        The body is refused before it is read when its ``Content-Length`` passes *max_bytes*
        (:func:`~pynector.http._model.check_declared_length`), and as soon as the bytes received pass
        it (:func:`~pynector.http._model.body_too_large`); *what* names the request in those messages.
        The connection is released before returning, under the same rule as ``send``.

        Raises:
            pynector.ProtocolError: the body is larger than *max_bytes*.
            pynector.TransportError: as :meth:`send`, or while reading the body.
        """
        ...


async def fetch_streamed(
    engine: HTTPEngine, request: WireRequest, max_bytes: int | None, what: object
) -> WireBody:
    """:meth:`HTTPEngine.fetch` written with the engine's ``send`` (for engines without a faster way).

    Raises:
        As :meth:`HTTPEngine.fetch`.
    """
    async with engine.send(request) as response:
        # Decoded header values go back to bytes as UTF-8, which any str encodes to and which the
        # reader's decoding (httpx.Headers tries ASCII, then UTF-8) turns back into the same str.
        headers = [(name.encode(), value.encode()) for name, value in response.headers]
        lengths = header_values(headers, b"content-length")
        check_declared_length(
            request.method, response.status_code, lengths[0] if lengths else None, max_bytes, what
        )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise body_too_large(what, max_bytes, "raw")
            chunks.append(chunk)
    return WireBody(response.status_code, response.reason, response.http_version, headers, b"".join(chunks))
