"""The shared HTTP model: requests, responses, bounded decoding, status errors, Retry-After.

Everything here is engine-agnostic policy, written once for every HTTP engine.

Bounded decompression. httpx decodes ``Content-Encoding`` itself and does not bound it: a 64 KiB gzip
body became one 64 MiB chunk, even when streaming (measured with httpx 0.28). We ask engines for the raw
body and decode it here with ``zlib.decompressobj().decompress(data, max_length)``, which produces at
most ``max_length`` bytes per call and keeps the rest of the input in ``unconsumed_tail``. Each decoder
is a generator of pieces of at most :data:`DECODE_CHUNK` bytes, chained for multiple encodings, and
the size cap is checked after every piece, so a bomb costs at most the cap plus one piece of memory
before it is refused. The cap applies to the raw bytes too (an endless identity body).

Request building uses httpx's encoders (JSON, forms, multipart) to turn a request dict into bytes and
headers; that is encoding, not wire work, and keeps one implementation of multipart. The result is
validated (no CR, LF or NUL anywhere, http/https only) before any engine sees it.
"""

from __future__ import annotations

import json
import json as _json
import re
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, AnyStr, cast

import httpx

from .._errors import (
    ConfigurationError,
    DeserializationError,
    HTTPStatusError,
    ProtocolError,
    ReadError,
    SerializationError,
    status_error_class,
)
from .._httpcommon import HTTP_TOKEN, parse_retry_after
from .._redact import redact_headers, redact_url
from ..sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent, aiter_sse
from . import _codings
from ._codings import DecodeError, Decoder

__all__ = [
    "DECODE_CHUNK",
    "BodyReader",
    "Headers",
    "RequestInfo",
    "Response",
    "body_too_large",
    "build_response",
    "check_declared_length",
    "decode_body",
    "header_values",
    "parse_retry_after",
    "reject_control_characters",
    "status_error",
]

#: The largest piece a decoder produces at once (bounds the memory of decompression).
DECODE_CHUNK = 64 * 1024

_FORBIDDEN = re.compile(r"[\r\n\x00]")
# A header value as RFC 9110 (section 5.5) and h11 define it, restricted to ASCII: visible characters,
# with spaces and tabs allowed only between them (never leading or trailing), or empty.
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[ \t]*[\x21-\x7e])*)?")


def reject_control_characters(value: str, what: str) -> str:
    """Return *value* unchanged, or raise if it contains CR, LF or NUL (header/URL injection).

    Raises:
        pynector.ConfigurationError: naming *what* (never the value, which may be a secret).
    """
    if _FORBIDDEN.search(value):
        raise ConfigurationError(f"{what} contains CR, LF or NUL, which could inject into the request")
    return value


# --- decoding --------------------------------------------------------------------------------


_DecodeError = DecodeError


class _Unsupported:
    """A coding that cannot be decoded here: refused as soon as a body byte arrives (a response
    without a body, to HEAD or a 304, passes)."""

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            raise _DecodeError(self._reason)
        return iter(())

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        yield data

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Zlib:
    """gzip (``wbits=31``) or deflate (zlib-wrapped, falling back to raw deflate like browsers do)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._wbits = 16 + zlib.MAX_WBITS if name in {"gzip", "x-gzip"} else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(self._wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        tail = data
        while True:
            try:
                out = self._obj.decompress(tail, DECODE_CHUNK)
            except zlib.error as exc:
                if not self._started and self._wbits == zlib.MAX_WBITS:
                    self._wbits = -zlib.MAX_WBITS
                    self._obj = zlib.decompressobj(self._wbits)
                    self._started = True
                    continue
                raise _DecodeError(f"invalid {self.name} data: {exc}") from exc
            self._started = True
            if out:
                yield out
            tail = self._obj.unconsumed_tail
            if not tail and len(out) < DECODE_CHUNK:
                return

    def flush(self) -> Iterator[bytes]:
        yield from self.feed(b"")
        try:
            rest = self._obj.flush()
        except zlib.error as exc:  # pragma: no cover - flush after a full drain rarely fails
            raise _DecodeError(f"invalid {self.name} data: {exc}") from exc
        if rest:
            yield rest


class _Chain:
    """Applies several decoders in order (the reverse of the ``Content-Encoding`` list)."""

    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = decoders

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._decoders):
            if data:
                yield data
            return
        for piece in self._decoders[index].feed(data):
            yield from self._through(index + 1, piece)

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, data)

    def flush(self) -> Iterator[bytes]:
        for index, decoder in enumerate(self._decoders):
            for piece in decoder.flush():
                yield from self._through(index + 1, piece)


def _decoder_for(content_encoding: str | None) -> _Chain:
    names = [n.strip().lower() for n in (content_encoding or "").split(",") if n.strip()]
    decoders: list[Decoder] = []
    codings = _codings.INSTALLED
    for name in reversed(names):
        if name in {"gzip", "x-gzip", "deflate"}:
            decoders.append(_Zlib(name))
        elif name in codings.decoders:
            decoders.append(codings.decoders[name](DECODE_CHUNK))
        elif name != "identity":
            decoders.append(_Unsupported(codings.unsupported(name)))
    return _Chain(decoders or [_Identity()])


#: The decoder of a body without content coding; never fed (BodyReader reads such bodies directly).
_IDENTITY_CHAIN = _Chain([_Identity()])


def body_too_large(what: object, max_bytes: int, kind: str) -> ProtocolError:
    """The error for a body whose *kind* (``"raw"`` or ``"decoded"``) size passed *max_bytes*."""
    return ProtocolError(f"response to {what} exceeded max_response_bytes={max_bytes} ({kind} bytes)")


def header_values(headers: Iterable[tuple[AnyStr, AnyStr]], name: AnyStr) -> list[AnyStr]:
    """Every value of header *name* (given in lower case), in order, from ``(name, value)`` pairs of
    str or of raw bytes (names in any case)."""
    size = len(name)
    return [value for key, value in headers if len(key) == size and key.lower() == name]


def check_declared_length(
    method: str, status_code: int, declared: str | bytes | None, max_bytes: int | None, what: object
) -> None:
    """Refuse a response whose ``Content-Length`` (*declared*: its value, or ``None``) passes
    *max_bytes*, before its body is read. HEAD, 204 and 304 responses have no body to refuse.

    Raises:
        pynector.ProtocolError: the declared length is larger than *max_bytes*.
    """
    if max_bytes is None or declared is None or method == "HEAD" or status_code in (204, 304):
        return
    if declared.isdigit() and int(declared) > max_bytes:
        shown = declared.decode("ascii") if isinstance(declared, bytes) else declared
        raise ProtocolError(
            f"response to {what} declares {shown} bytes, more than max_response_bytes={max_bytes}"
        )


class BodyReader:
    """Reads a response body from an engine's raw iterator: decoded, bounded, chunk by chunk.

    Iterating yields decoded chunks of at most :data:`DECODE_CHUNK` bytes (raw chunks pass as they
    came when there is no content encoding).

    Raises (while iterating):
        pynector.ProtocolError: the raw or decoded size passed ``max_bytes``, or the body could not be
            decoded.
        pynector.TransportError: (a subclass) the engine failed while receiving.

    *what* names the request in error messages: a string, or any object whose ``str()`` does (it is
    formatted only when an error is raised).
    """

    def __init__(
        self, raw: AsyncIterator[bytes], content_encoding: str | None, max_bytes: int | None, what: object
    ) -> None:
        self._raw = raw
        # No content coding (the common case): raw chunks are the body, so __anext__ skips the
        # decoder chain's generators (and none is built).
        self._identity = content_encoding is None
        self._decoder = _IDENTITY_CHAIN if self._identity else _decoder_for(content_encoding)
        self._max = max_bytes
        self._what = what
        self._pending: Iterator[bytes] = iter(())
        self._eof = False
        self.raw_bytes = 0
        self.decoded_bytes = 0

    def __aiter__(self) -> BodyReader:
        return self

    def _too_large(self, kind: str) -> ProtocolError:
        assert self._max is not None
        return body_too_large(self._what, self._max, kind)

    async def __anext__(self) -> bytes:
        if self._identity:
            return await self._next_identity()
        while True:
            try:
                for piece in self._pending:
                    self.decoded_bytes += len(piece)
                    if self._max is not None and self.decoded_bytes > self._max:
                        raise self._too_large("decoded")
                    return piece
            except _DecodeError as exc:
                raise ProtocolError(f"could not decode the response to {self._what}: {exc}") from exc
            if self._eof:
                raise StopAsyncIteration
            try:
                chunk = await self._raw.__anext__()
            except StopAsyncIteration:
                self._eof = True
                self._pending = self._decoder.flush()
                continue
            self.raw_bytes += len(chunk)
            if self._max is not None and self.raw_bytes > self._max:
                raise self._too_large("raw")
            self._pending = self._decoder.feed(chunk)

    async def _next_identity(self) -> bytes:
        """The next raw chunk as is, with the same size cap (raw and decoded sizes are equal)."""
        while not self._eof:
            try:
                chunk = await self._raw.__anext__()
            except StopAsyncIteration:
                self._eof = True
                break
            if not chunk:
                continue
            size = len(chunk)
            self.raw_bytes += size
            self.decoded_bytes += size
            if self._max is not None and self.raw_bytes > self._max:
                raise self._too_large("raw")
            return chunk
        raise StopAsyncIteration

    async def read_all(self) -> bytes:
        """Read and return the rest of the decoded body."""
        if self._identity:
            # Straight from the raw iterator (no coroutine of ours per chunk, and ``async for`` ends
            # on StopAsyncIteration without a Python-level handler); same size cap as _next_identity.
            if self._eof:
                return b""
            chunks = []
            limit = self._max
            async for chunk in self._raw:
                if chunk:
                    size = len(chunk)
                    self.raw_bytes += size
                    self.decoded_bytes += size
                    if limit is not None and self.raw_bytes > limit:
                        raise self._too_large("raw")
                    chunks.append(chunk)
            self._eof = True
            # A body that arrived in one piece (the usual small response) is returned as is.
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return b"".join([chunk async for chunk in self])

    def iter_raw(self) -> AsyncIterator[bytes]:
        """The remaining raw (still encoded) chunks, with the raw size cap."""
        return _RawChunks(self)


async def decode_body(raw: bytes, content_encoding: str, max_bytes: int | None, what: object) -> bytes:
    """Decode a whole raw body, with the same bounded decoders and size cap as :class:`BodyReader`.

    Raises:
        pynector.ProtocolError: the decoded size passed *max_bytes*, or the body could not be decoded.
    """
    return await BodyReader(_once(raw), content_encoding, max_bytes, what).read_all()


class _RawChunks:
    """Raw chunks of a :class:`BodyReader` (a class, not an async generator: a caller may stop early,
    and a suspended async generator left to the garbage collector makes trio warn)."""

    def __init__(self, reader: BodyReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _RawChunks:
        return self

    async def __anext__(self) -> bytes:
        reader = self._reader
        chunk = await reader._raw.__anext__()
        reader.raw_bytes += len(chunk)
        if reader._max is not None and reader.raw_bytes > reader._max:
            raise reader._too_large("raw")
        return chunk


# --- responses -------------------------------------------------------------------------------


class Headers(httpx.Headers):
    """Case-insensitive multi-dict of headers (``httpx.Headers``) whose ``repr`` hides credentials."""

    def __repr__(self) -> str:
        return f"Headers({redact_headers(self.multi_items())!r})"


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What a response answered: the method and URL (shown redacted in ``repr``)."""

    method: str
    url: str

    def __repr__(self) -> str:
        return f"<Request {self.method} {redact_url(self.url)}>"

    __str__ = __repr__


class Response:
    """An HTTP response.

    Attributes:
        status_code: the status (200).
        reason_phrase: the reason the server sent (``"OK"``), or the standard one.
        http_version: ``"HTTP/1.1"`` or ``"HTTP/2"``.
        headers: case-insensitive multi-dict of the response headers (an ``httpx.Headers`` whose
            ``repr`` redacts ``Set-Cookie`` and other credentials).
        url: the URL that answered (after redirects). Its ``repr`` is redacted.
        request: method and URL of the request that produced this response.
        elapsed: seconds on trio's clock from sending the request to reading the whole body (for a
            streamed response: until the headers arrived).
        history: the redirect responses that led here, oldest first.
    """

    # A plain slotted class, not a dataclass: the HTTP transport builds one per exchange, and the
    # header multi-dict (an httpx.Headers, ~3 us) is built only when someone reads ``headers``.
    __slots__ = (
        "_closed",
        "_content",
        "_header_pairs",
        "_headers",
        "_history",
        "_reader",
        "elapsed",
        "http_version",
        "reason_phrase",
        "request",
        "status_code",
        "url",
    )

    def __init__(
        self,
        status_code: int,
        reason_phrase: str,
        http_version: str,
        headers: httpx.Headers | Sequence[tuple[str, str]] | Sequence[tuple[bytes, bytes]],
        url: str,
        request: RequestInfo,
        elapsed: float = 0.0,
        history: list[Response] | None = None,
        _content: bytes | None = None,
    ) -> None:
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.http_version = http_version
        if type(headers) is tuple or type(headers) is list:  # the transport's case (before an ABC check)
            self._headers: httpx.Headers | None = None
            # Kept as a tuple (the engine's own when it gives one: the native engine shares one
            # tuple among the responses with the same head): a tuple of (bytes, bytes) tuples holds
            # no container the garbage collector keeps tracking, so a batch holding thousands of
            # responses costs each collection one object per response, not two plus the headers.
            self._header_pairs: tuple[tuple[str, str], ...] | tuple[tuple[bytes, bytes], ...] = tuple(
                cast("list[tuple[str, str]]", headers)  # (or of bytes: the narrowing lost the item type)
            )
        else:
            assert isinstance(headers, httpx.Headers)
            self._headers = headers
            self._header_pairs = ()
        self.url = url
        self.request = request
        self.elapsed = elapsed
        self._history = history
        self._content = _content
        self._reader: BodyReader | None = None
        self._closed = False

    @property
    def history(self) -> list[Response]:
        """The redirect responses that led here, oldest first (the list is made on first access:
        most responses have no history)."""
        history = self._history
        if history is None:
            history = self._history = []
        return history

    @history.setter
    def history(self, value: list[Response]) -> None:
        self._history = value

    @property
    def headers(self) -> httpx.Headers:
        """The response headers (built on first access)."""
        headers = self._headers
        if headers is None:
            pairs = self._header_pairs
            if pairs and isinstance(pairs[0][0], str):
                # Values decoded by an engine (a streamed response) may hold any character: httpx
                # would encode them as ASCII, so give it UTF-8, which round-trips every str.
                headers = Headers(pairs, encoding="utf-8")
            else:
                headers = Headers(pairs)  # raw bytes: httpx decodes as ASCII, else UTF-8, else Latin-1
            self._headers = headers
        return headers

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies this response set (``Set-Cookie``), name to value; a malformed one is skipped."""
        found: dict[str, str] = {}
        for value in self.headers.get_list("set-cookie"):
            # name=value up to the first ";" (the attributes follow), as browsers read it.
            name, equals, cookie = value.split(";", 1)[0].partition("=")
            if equals and name.strip():
                found[name.strip()] = cookie.strip()
        return found

    # -- body --
    @property
    def content(self) -> bytes:
        """The decoded body.

        Raises:
            pynector.ReadError: for a streamed response whose body was not read with :meth:`aread`.
        """
        if self._content is None:
            raise ReadError(
                "the body of a streamed response must be read first: await response.aread() "
                "or iterate response.aiter_bytes()"
            )
        return self._content

    def __bytes__(self) -> bytes:
        return self.content

    @property
    def encoding(self) -> str:
        """The charset from ``Content-Type``, else ``"utf-8"``."""
        content_type = self.headers.get("content-type", "")
        for parameter in content_type.split(";")[1:]:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return str(value.strip().strip('"'))
        return "utf-8"

    @property
    def text(self) -> str:
        """The body decoded with :attr:`encoding` (undecodable bytes replaced)."""
        try:
            return self.content.decode(self.encoding, errors="replace")
        except LookupError:  # an unknown charset name
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            pynector.DeserializationError: the body is not valid JSON.
        """
        try:
            return json.loads(self.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DeserializationError(
                f"the body of {self.request!r} ({self.status_code}) is not valid JSON: {exc}"
            ) from exc

    async def aread(self) -> bytes:
        """Read the whole (decoded, size-capped) body of a streamed response and return it.

        Blocks until the body has arrived.

        Raises:
            pynector.ReadError: the stream was closed before the body was read.
            pynector.ProtocolError: the body is larger than ``max_response_bytes`` or undecodable.
        """
        if self._content is None:
            reader = self._open_reader()
            self._content = await reader.read_all()
        return self._content

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """Iterate the decoded body in chunks (at most 64 KiB each when decompressing).

        Raises (while iterating): as :meth:`aread`, plus transport errors from the connection.
        """
        if self._content is not None:
            return _once(self._content)
        return self._open_reader()

    def aiter_sse(self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> AsyncIterator[ServerSentEvent]:
        """Iterate the body as server-sent events (see :func:`pynector.sse.aiter_sse`).

        Raises:
            pynector.ProtocolError: the response is not ``text/event-stream`` (at once), or an event
                is larger than *max_event_size* characters (while iterating).
            pynector.ReadError: the stream was closed or already consumed (at once).
            pynector.TransportError: the connection failed while reading (while iterating).
        """
        return aiter_sse(self, max_event_size=max_event_size)

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """Iterate the body as received (still content-encoded), with the raw size cap."""
        return self._open_reader().iter_raw()

    def _open_reader(self) -> BodyReader:
        if self._closed or self._reader is None:
            raise ReadError(f"the stream of {self.request!r} is closed or was already consumed")
        reader, self._reader = self._reader, None
        return reader

    @property
    def is_success(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status_code < 300

    def raise_for_status(self) -> Response:
        """Return the response, or raise its status error for a 4xx/5xx status.

        Raises:
            pynector.HTTPStatusError: (the most specific subclass) for status >= 400.
        """
        if self.status_code >= 400:
            raise status_error(self)
        return self

    def __repr__(self) -> str:
        status = f"{self.status_code} {self.reason_phrase}"
        return f"<Response [{status}] {self.request.method} {redact_url(self.url)}>"


class _once:
    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def __aiter__(self) -> _once:
        return self

    async def __anext__(self) -> bytes:
        if not self._data:
            raise StopAsyncIteration
        data, self._data = self._data, None
        return data


# --- status errors and Retry-After -----------------------------------------------------------


_NO_JSON: Any = object()


def build_response(
    method: str,
    url: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | list[tuple[str, str]] | tuple[tuple[str, str], ...] | None = None,
    json: Any = _NO_JSON,
    content: bytes | str | None = None,
    reason: str | None = None,
    http_version: str = "HTTP/1.1",
) -> Response:
    """A complete :class:`Response` to *method* *url*, built without a server (for test doubles).

    It is the same class, with the same header handling, ``json()``, ``raise_for_status()`` and status
    errors, as the responses of the HTTP transport; :class:`pynector.testing.MockTransport` uses it
    for ``route.respond(status=..., json=...)``.

    Args:
        method: the request method.
        url: the request URL (absolute, or a path).
        status: the status code (100..599).
        headers: response headers (a mapping or ``(name, value)`` pairs).
        json: a value sent as the JSON body (adds ``Content-Type: application/json``).
        content: the body, bytes or text (UTF-8); not with *json*.
        reason: the reason phrase (default: the standard one for *status*).
        http_version: ``"HTTP/1.1"`` (default) or ``"HTTP/2"``.

    Raises:
        pynector.ConfigurationError: an invalid status, both *json* and *content*, invalid headers.
        pynector.SerializationError: *json* cannot be encoded as JSON.
    """
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ConfigurationError(f"a response status must be an int in 100..599, got {status!r}")
    pairs = header_pairs(headers, "response headers")
    names = {name.lower() for name, _ in pairs}
    body: bytes
    if json is not _NO_JSON:
        if content is not None:
            raise ConfigurationError("a response takes json= or content=, not both")
        try:
            body = _json.dumps(json).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(f"the JSON body of the response cannot be encoded: {exc}") from exc
        if "content-type" not in names:
            pairs.append(("Content-Type", "application/json"))
    elif isinstance(content, str):
        body = content.encode()
        if "content-type" not in names:
            pairs.append(("Content-Type", "text/plain; charset=utf-8"))
    elif isinstance(content, (bytes, bytearray, memoryview)):
        body = bytes(content)
    elif content is None:
        body = b""
    else:
        raise ConfigurationError(f"response content must be bytes or str, got {type(content).__name__}")
    if "content-length" not in names and "transfer-encoding" not in names:
        pairs.append(("Content-Length", str(len(body))))
    return Response(
        status_code=status,
        reason_phrase=reason if reason is not None else httpx.codes.get_reason_phrase(status),
        http_version=http_version,
        headers=Headers(pairs),
        url=url,
        request=RequestInfo(method.upper(), url),
        _content=body,
    )


def build_streamed_response(
    method: str,
    url: str,
    chunks: AsyncIterator[bytes],
    *,
    status: int = 200,
    headers: Mapping[str, str] | list[tuple[str, str]] | tuple[tuple[str, str], ...] | None = None,
) -> Response:
    """A streamed :class:`Response` whose body is read from *chunks* (for test doubles).

    As :func:`build_response`, but the body is not there yet: ``aiter_bytes()`` / ``aiter_sse()``
    read it from *chunks* as the transport's streamed responses do from the connection.

    Raises:
        pynector.ConfigurationError: an invalid status or invalid headers.
    """
    pairs = header_pairs(headers, "response headers")
    if not any(name.lower() in {"content-length", "transfer-encoding"} for name, _ in pairs):
        pairs.append(("Transfer-Encoding", "chunked"))
    response = build_response(method, url, status=status, headers=pairs)
    response._content = None
    response._reader = BodyReader(chunks, None, None, response.request)
    return response


def status_error(response: Response) -> HTTPStatusError:
    """The most specific :class:`~pynector.HTTPStatusError` for an error *response*.

    The message names the status, the reason and the (redacted) request; ``retry_after`` comes from
    the ``Retry-After`` header when the server sent one.
    """
    cls = status_error_class(response.status_code)
    error = cls(
        f"{response.status_code} {response.reason_phrase} for {response.request.method} "
        f"{redact_url(response.url)}",
        status_code=response.status_code,
        response=response,
        retry_after=parse_retry_after(response.headers.get("retry-after"), response.headers.get("date")),
    )
    error.http_method = response.request.method
    error.request_sent = True
    return error


def header_pairs(headers: object, what: str) -> list[tuple[str, str]]:
    """Validate *headers* (a mapping or ``(name, value)`` pairs of strings) and return the pairs.

    Raises:
        pynector.ConfigurationError: not a mapping/pairs of strings, an invalid name, CR/LF/NUL, a
            control character, non-ASCII, or leading/trailing whitespace in a value (the message names
            the header, never the value).
    """
    if headers is None:
        return []
    items: Any
    if isinstance(headers, httpx.Headers):
        items = headers.multi_items()
    elif isinstance(headers, Mapping):
        items = headers.items()
    elif isinstance(headers, (list, tuple)):
        items = headers
    else:
        raise ConfigurationError(
            f"{what} must be a mapping of header names to values, got {type(headers).__name__}"
        )
    pairs: list[tuple[str, str]] = []
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ConfigurationError(f"{what} must contain (name, value) pairs")
        name, value = item
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError(f"{what}: header names and values must be strings")
        reject_control_characters(name, f"header name in {what}")
        if not HTTP_TOKEN.match(name):
            raise ConfigurationError(f"{what}: {name!r} is not a valid header name")
        reject_control_characters(value, f"value of header {name!r}")
        if not value.isascii():
            raise ConfigurationError(
                f"{what}: the value of header {name!r} is not ASCII; encode it first (RFC 8187)"
            )
        if not _HEADER_VALUE.fullmatch(value):
            # Named, never quoted: the value may be a credential. (Sent as is, h11 would refuse it
            # with an error quoting the value, and a retry policy would resend it as a transport error.)
            raise ConfigurationError(
                f"{what}: the value of header {name!r} has leading or trailing whitespace or a control "
                "character; strip it before sending"
            )
        pairs.append((name, value))
    return pairs
