"""HTTP/1.1 framing for the native engine: a lean response parser and the request head writer.

The naive design hands the wire to h11 and reads its events. h11 is correct and strict, but every
event is a validated object moved through a two-sided state machine: on a small request its
per-event Python work was about 80 of the 100 microseconds a minimal h11-on-trio client spends, and
a lean parser made the same minimal client about 4.5 times faster. A compiled parser (httptools,
i.e. llhttp) was only a little faster again, and it has its own leniencies (other line endings,
other header value rules), so its refusals would not be h11's; the gap to it is small next to the
layers above the engine. So this module is our own pure-Python parser, the only path, with h11's
rules kept rule for rule (the same regular expressions for the status line, header lines, chunk
headers; the same obs-fold joining, Content-Length and Transfer-Encoding normalisation, body
framing and keep-alive decision). ``tests/test_http_parser_differential.py`` generates valid and
hostile responses, splits them at random down to one byte per read, and checks that this parser and
h11 accept the same messages with the same fields and refuse the same ones. The one deliberate
difference is stricter: a head larger than ``max_header_bytes`` is refused even when it arrived
complete in one read (h11 bounds only what is still incomplete).

Once the regular expressions ran on every header line, they were most of the parser's time; yet a
server repeats most of its header lines verbatim from one response to the next. So each parser (one
per connection) remembers the lines it has validated, byte for byte, with the pair they give and
what they say to the framing; only the checks that involve several lines run again. The memory is
small and bounded, and lives and dies with the connection; the differential test also runs parsers
that have already read earlier responses.

What the parser does not do is the same as what h11 does not: it is a client-side parser for one
response at a time, fed bytes (any split) and asked for the head, then the body pieces. It keeps one
``bytearray`` buffer; a body piece is copied out of it once, as ``bytes``, and a piece already in
``bytes`` from the socket with nothing buffered before it is handed on without a copy. For a large
Content-Length body the engine reads past the parser: :meth:`ResponseParser.take_body_into` copies
what is buffered into the engine's buffer and :meth:`ResponseParser.body_received` counts what
the engine then read straight into it, so the framing stays the parser's.

Request heads are written directly (no event objects), with the validation h11 applied when sending:
token method and header names, header values without control characters, one Content-Length, only
``chunked`` as Transfer-Encoding. :class:`RequestFraming` checks that a body matches its declared
length, as h11 did.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

__all__ = [
    "END",
    "FramingError",
    "Head",
    "ParseError",
    "ResponseParser",
    "frame_request_head",
]

# The grammar, as h11 writes it (RFC 9110/9112 with h11's documented leniencies: optional reason
# phrase, trailing whitespace after a chunk size).
_OWS = rb"[ \t]*"
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_VCHAR_OR_OBS = rb"[^\x00\s]"
_FIELD_CONTENT = _VCHAR_OR_OBS + rb"+(?:[ \t]+" + _VCHAR_OR_OBS + rb"+)*"
_FIELD_VALUE = rb"(" + _FIELD_CONTENT + rb")?"
_HEADER_FIELD = re.compile(
    rb"(?P<name>" + _TOKEN + rb"):" + _OWS + rb"(?P<value>" + _FIELD_VALUE + rb")" + _OWS
)
_STATUS_LINE = re.compile(
    rb"HTTP/(?P<version>[0-9]\.[0-9]) (?P<status>[0-9]{3})(?: (?P<reason>(?:[ \t]|"
    + _VCHAR_OR_OBS
    + rb")*))?"
)
_CHUNK_HEADER = re.compile(rb"(?P<size>[0-9A-Fa-f]{1,20})(?:;.*)?" + _OWS + rb"\r\n")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_OBS_FOLD = re.compile(rb"[ \t]+")
_TOKEN_RE = re.compile(_TOKEN)
_VALUE_RE = re.compile(_FIELD_VALUE)
_TARGET_RE = re.compile(rb"[\x21-\x7e]+")
_DIGITS = re.compile(rb"[0-9]+")
#: h11's bound on Content-Length digits (larger values are refused, not parsed).
_MAX_LENGTH_DIGITS = 20

#: ``next_body`` returns this when the body is complete.
END: Final = object()

# Body framings.
_LENGTH = 0
_CHUNKED = 1
_CLOSE = 2

# Chunked reader states.
_SIZE = 0
_DATA = 1
_FOOTER = 2
_TRAILER = 3
_CRLF = b"\r\n"


class ParseError(Exception):
    """The response is malformed (the message says how), or its head is too large
    (``too_large``), or the connection closed before it was complete (``closed``)."""

    def __init__(self, message: str, *, too_large: bool = False, closed: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large
        self.closed = closed


class FramingError(ValueError):
    """A request cannot be framed: an invalid method, target or header, or a body whose length does
    not match its Content-Length."""


class Head:
    """A final response head: status, reason and version as received, headers as raw
    ``(name, value)`` byte pairs in order (names as sent; values normalised as h11 does: one
    Content-Length, stripped; Transfer-Encoding lower-cased), and what the framing read from them:
    ``content_length`` (the normalised value, or ``None``) and ``chunked``."""

    __slots__ = ("chunked", "content_length", "headers", "http_version", "reason", "status_code")

    def __init__(
        self,
        status_code: int,
        reason: bytes,
        http_version: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        content_length: bytes | None = None,
        chunked: bool = False,
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.http_version = http_version
        self.headers = headers
        self.content_length = content_length
        self.chunked = chunked


# What a header line says to the framing (see ``ResponseParser._cached_fields``).
_PLAIN = 0
_LENGTH_FIELD = 1
_ENCODING_FIELD = 2
_CLOSE_FIELD = 3
#: The most lines a parser remembers as validated (see ``ResponseParser._cached_fields``).
_LINE_CACHE_SIZE = 64
#: Lines longer than this are validated every time, not remembered.
_LINE_CACHE_LINE = 512
#: The most whole heads a parser remembers (see ``ResponseParser.next_head``), and the longest.
_HEAD_CACHE_SIZE = 8
_HEAD_CACHE_BYTES = 2048
#: A head as :meth:`ResponseParser.next_head` remembers it: version, status code, reason, headers,
#: Content-Length, chunked, ``Connection: close``.
_KnownHead = tuple[bytes, int, bytes, tuple[tuple[bytes, bytes], ...], bytes | None, bool, bool]


def _split_lines(block: bytes | bytearray) -> list[bytes]:
    """The lines of a head block that ends with a blank line (LF or CRLF endings, as h11 splits)."""
    lines = bytes(block).split(b"\n")
    del lines[-2:]
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def _stated_length(value: bytes, error: type[Exception]) -> bytes:
    """The one length a Content-Length value states: ``5``, or ``5, 5`` (a list of equal lengths, as
    h11 accepts it), as ASCII digits.

    Raises:
        error: several different lengths ("conflicting"), or not a decimal of at most
            ``_MAX_LENGTH_DIGITS`` digits ("bad").
    """
    lengths = {length.strip() for length in value.split(b",")}
    if len(lengths) != 1:
        raise error("conflicting Content-Length headers")
    value = lengths.pop()
    if not _DIGITS.fullmatch(value) or len(value) > _MAX_LENGTH_DIGITS:
        raise error("bad Content-Length")
    return value


def _take(buffer: bytearray, left: int) -> bytes:
    """Up to *left* bytes from the front of *buffer*, removed from it (one copy into ``bytes``)."""
    if len(buffer) <= left:
        data = bytes(buffer)
        buffer.clear()
        return data
    with memoryview(buffer) as view:
        data = bytes(view[:left])
    del buffer[:left]
    return data


def _chunked_coding(value: bytes, seen: bool, error: type[Exception]) -> bytes:
    """A Transfer-Encoding value, lower-cased, when it is the message's first (*seen*: one came
    before) and says ``chunked``, the one coding HTTP/1.1 framing here (and h11) supports.

    Raises:
        error: a second Transfer-Encoding field, or a coding other than ``chunked``.
    """
    if seen:
        raise error("multiple Transfer-Encoding headers")
    value = value.lower()
    if value != b"chunked":
        raise error("Only Transfer-Encoding: chunked is supported")
    return value


def _folded(lines: list[bytes]) -> list[bytes]:
    """Header lines (line endings removed) with each continuation line (obs-fold) joined to the
    line before it by one space, as h11 joins them.

    Raises:
        ParseError: a continuation line first.
    """
    folded: list[bytes] = []
    for line in lines:
        match = _OBS_FOLD.match(line)
        if match:
            if not folded:
                raise ParseError("continuation line at start of headers")
            folded[-1] = folded[-1] + b" " + line[match.end() :]
        else:
            folded.append(line)
    return folded


def _field_entry(line: bytes) -> tuple[tuple[bytes, bytes], int]:
    """One header line (no line ending, not a continuation) validated: its ``(name, value)`` pair,
    normalised as h11 normalises it (one Content-Length, stripped; Transfer-Encoding lower-cased),
    and what it says to the framing (``_PLAIN``, ``_LENGTH_FIELD``, ``_ENCODING_FIELD`` or
    ``_CLOSE_FIELD``).

    Raises:
        ParseError: an illegal line, a bad Content-Length, an unsupported Transfer-Encoding.
    """
    match = _HEADER_FIELD.fullmatch(line)
    if match is None:
        raise ParseError(f"illegal header line: {line!r}")
    name, value = match.group("name", "value")
    kind = _PLAIN
    if len(name) == 14 or len(name) == 17 or len(name) == 10:
        lowered = name.lower()
        if lowered == b"content-length":
            value = _stated_length(value, ParseError)
            kind = _LENGTH_FIELD
        elif lowered == b"transfer-encoding":
            value = _chunked_coding(value, False, ParseError)
            kind = _ENCODING_FIELD
        elif lowered == b"connection" and b"close" in [item.strip() for item in value.lower().split(b",")]:
            kind = _CLOSE_FIELD
    return (name, value), kind


def _combined(
    entries: list[tuple[tuple[bytes, bytes], int]],
) -> tuple[list[tuple[bytes, bytes]], bytes | None, bool, bool]:
    """The header pairs of validated lines (see :func:`_field_entry`), with the checks that involve
    several lines (conflicting lengths, a repeated Transfer-Encoding; a repeated equal length kept
    once, as h11 keeps it), and the Content-Length, chunked and ``Connection: close`` the framing
    needs.

    Raises:
        ParseError: conflicting Content-Length headers, more than one Transfer-Encoding.
    """
    headers: list[tuple[bytes, bytes]] = []
    length: bytes | None = None
    chunked = close = False
    for pair, kind in entries:
        if kind:
            if kind == _LENGTH_FIELD:
                if length is None:
                    length = pair[1]
                elif length != pair[1]:
                    raise ParseError("conflicting Content-Length headers")
                else:
                    continue
            elif kind == _ENCODING_FIELD:
                if chunked:
                    raise ParseError("multiple Transfer-Encoding headers")
                chunked = True
            else:
                close = True
        headers.append(pair)
    return headers, length, chunked, close


class ResponseParser:
    """An incremental parser for the responses on one client connection, one exchange at a time.

    Use: :meth:`start` before each request with its method, :meth:`receive_data` with every read
    (``b""`` at end of stream), :meth:`next_head` until it returns a :class:`Head` (1xx responses are
    skipped), then :meth:`next_body` until it returns :data:`END`. ``None`` from either means more
    bytes are needed. After the end, :attr:`trailing` counts bytes received after the response and
    :meth:`reusable` says whether the connection may carry the next exchange.

    Neither method blocks; both raise :class:`ParseError` for a malformed or oversized response and
    for an end of stream in the middle of one.
    """

    __slots__ = (
        "_body_state",
        "_buffer",
        "_chunk_left",
        "_direct",
        "_eof",
        "_framing",
        "_head_bytes",
        "_heads",
        "_keep_alive",
        "_left",
        "_limit",
        "_lines",
        "_method",
        "_status_lines",
        "complete",
        "request_done",
        "trailers",
    )

    def __init__(self, max_header_bytes: int) -> None:
        self._limit = max_header_bytes
        self._buffer = bytearray()
        self._eof = False
        # Lines already validated, as received (see _cached_fields); per parser, so they live and
        # die with the connection that received them.
        self._lines: dict[bytes, tuple[tuple[bytes, bytes], int]] = {}
        self._status_lines: dict[bytes, tuple[bytes, int, bytes]] = {}
        self._heads: dict[bytes, _KnownHead] = {}
        self.start(b"GET")

    def start(self, method: bytes, *, keep_alive: bool = True) -> None:
        """Expect the response to a *method* request (``keep_alive=False``: the request said
        ``Connection: close``)."""
        self._method = method
        self._keep_alive = keep_alive
        self._head_bytes = 0
        self._framing = -1  # no head yet
        self._left = 0
        self._body_state = _SIZE
        self._chunk_left = 0
        self._direct: bytes | None = None
        self.complete = False
        self.request_done = False
        self.trailers: list[tuple[bytes, bytes]] = []

    @property
    def idle(self) -> bool:
        """Between exchanges: nothing buffered, nothing started."""
        return self._framing == -1 and not self._buffer and not self._eof

    @property
    def trailing(self) -> int:
        """Bytes buffered (after the response, once it is complete)."""
        return len(self._buffer)

    def reusable(self) -> bool:
        """Whether the connection may carry another exchange: the request was written whole, the
        response is complete, both sides keep the connection alive, and nothing else arrived."""
        return (
            self.complete
            and self.request_done
            and self._keep_alive
            and not self._eof
            and self._framing != _CLOSE
            and not self._buffer
        )

    def receive_data(self, data: bytes | bytearray) -> None:
        """Add bytes read from the connection; ``b""`` marks the end of the stream."""
        if not data:
            self._eof = True
            return
        buffer = self._buffer
        if not buffer and type(data) is bytes:
            # A body piece with nothing before it (Content-Length, or inside a chunk's data):
            # handed on as it is (no copy).
            framing = self._framing
            if (framing == _LENGTH and len(data) <= self._left) or (
                framing == _CHUNKED and self._body_state == _DATA and len(data) <= self._chunk_left
            ):
                if self._direct is None:
                    self._direct = data
                    return
                buffer += self._direct
                self._direct = None
        buffer += data

    def body_wanted(self) -> int:
        """Bytes of the body known to be on their way and not yet received: the rest of a
        Content-Length body, or of the current chunk's data (0 when unknown)."""
        direct = self._direct
        buffered = len(self._buffer) + (0 if direct is None else len(direct))
        if self._framing == _LENGTH:
            return self._left - buffered
        if self._framing == _CHUNKED and self._body_state == _DATA:
            return self._chunk_left - buffered
        return 0

    def length_left(self) -> int:
        """Bytes of a Content-Length body not yet handed out (buffered or still on the wire), or -1
        for any other framing."""
        return self._left if self._framing == _LENGTH else -1

    def take_body_into(self, view: memoryview) -> int:
        """Copy the Content-Length body bytes buffered so far into *view* (at most ``len(view)``,
        at most the body's end); they count as handed out. Returns how many were copied."""
        size = 0
        direct = self._direct
        if direct is not None:
            self._direct = None
            size = len(direct)
            view[:size] = direct
        buffer = self._buffer
        if buffer:
            more = min(len(buffer), self._left - size, len(view) - size)
            with memoryview(buffer) as buffered:
                view[size : size + more] = buffered[:more]
            del buffer[:more]
            size += more
        self._left -= size
        return size

    def body_received(self, size: int) -> None:
        """*size* Content-Length body bytes were read past the parser, straight into the caller's
        buffer (at most :meth:`length_left`, after :meth:`take_body_into` emptied the buffer)."""
        self._left -= size

    # --- the head ----------------------------------------------------------------------------

    def next_head(self) -> Head | None:
        """The final response head, or ``None`` until enough bytes arrived.

        Raises:
            ParseError: a malformed or oversized head, or the stream ended before it was complete.
        """
        buffer = self._buffer
        if not buffer and not self._eof:
            return None  # (the first call of every exchange: nothing read yet)
        while True:
            if buffer[:1] == b"\n" or buffer[:2] == b"\r\n":
                raise ParseError("no response line received")
            match = _BLANK_LINE.search(buffer)
            if match is None:
                if self._head_bytes + len(buffer) > self._limit:
                    raise ParseError("Receive buffer too long", too_large=True)
                if self._eof:
                    if buffer:
                        raise ParseError("peer unexpectedly closed connection", closed=True)
                    raise ParseError("the connection closed without a response", closed=True)
                return None
            end = match.end()
            self._head_bytes += end
            if self._head_bytes > self._limit:
                raise ParseError("Receive buffer too long", too_large=True)
            block = bytes(buffer[:end])
            del buffer[:end]
            headers: Sequence[tuple[bytes, bytes]]
            if b"\n " in block or b"\n\t" in block:
                # A continuation line (obs-fold): the general path joins it first.
                lines = _split_lines(block)
                version, status_code, reason = self._status_line(lines[0])
                entries = [_field_entry(line) for line in _folded(lines[1:])]
                headers, length, chunked, close = _combined(entries)
            else:
                # A server sends the same head again and again (until its Date changes, once a
                # second): one lookup of the whole block instead of one per line.
                known = self._heads.get(block)
                if known is None:
                    known = self._known_head(block)
                version, status_code, reason, headers, length, chunked, close = known
            if status_code < 200:
                if status_code < 100:
                    raise ParseError(f"status code {status_code} is not informational or final")
                if status_code == 101:
                    # Unasked for, or asked for by an Upgrade header: either way h11 refuses it
                    # (no pending proposal; or a protocol switch, which the engine never follows).
                    raise ParseError("unexpected 101 Switching Protocols response")
                continue  # 1xx (100 Continue, 103 Early Hints): the final response follows
            self._frame(status_code, version, length, chunked, close)
            return Head(status_code, reason, version, headers, length, chunked)

    def _known_head(self, block: bytes) -> _KnownHead:
        """Parse and validate a head *block* with no continuation line, and remember it.

        Raises:
            ParseError: as :meth:`_status_line` and :meth:`_cached_fields`.
        """
        lines = block.split(b"\n")
        del lines[-2:]
        version, status_code, reason = self._status_line(lines[0])
        headers, length, chunked, close = self._cached_fields(lines)
        known = (version, status_code, reason, tuple(headers), length, chunked, close)
        if len(block) <= _HEAD_CACHE_BYTES:
            heads = self._heads
            if len(heads) >= _HEAD_CACHE_SIZE:
                heads.clear()
            heads[block] = known
        return known

    def _status_line(self, line: bytes) -> tuple[bytes, int, bytes]:
        """The version, status code and reason of a status line as received (``\r`` or not).

        Raises:
            ParseError: an illegal status line.
        """
        known = self._status_lines.get(line)
        if known is not None:
            return known
        stripped = line[:-1] if line.endswith(b"\r") else line
        status = _STATUS_LINE.fullmatch(stripped)
        if status is None:
            raise ParseError(f"illegal status line: {stripped!r}")
        version, code, reason = status.group("version", "status", "reason")
        known = (version, int(code), reason or b"")
        if len(self._status_lines) >= _LINE_CACHE_SIZE:
            self._status_lines.clear()
        self._status_lines[line] = known
        return known

    def _cached_fields(
        self, lines: list[bytes]
    ) -> tuple[list[tuple[bytes, bytes]], bytes | None, bool, bool]:
        """The header lines (``lines[1:]``, no continuation line among them) as :func:`_combined`
        returns them.

        A server repeats most of its header lines verbatim from one response to the next (only
        ``Date`` changes, once a second), and validating a line with the grammar's regular expression
        cost more than the rest of the head. So each parser remembers the lines it has validated, as
        received, with the pair they give and what they say to the framing; the checks that involve
        several lines (conflicting lengths, a repeated Transfer-Encoding) run every time. Bounded:
        the memory is cleared when full, and long lines are not kept.

        Raises:
            ParseError: as :func:`_field_entry` and :func:`_combined`.
        """
        cache = self._lines
        entries: list[tuple[tuple[bytes, bytes], int]] = []
        for index in range(1, len(lines)):
            line = lines[index]
            entry = cache.get(line)
            if entry is None:
                entry = _field_entry(line[:-1] if line.endswith(b"\r") else line)
                if len(line) <= _LINE_CACHE_LINE:
                    if len(cache) >= _LINE_CACHE_SIZE:
                        cache.clear()
                    cache[line] = entry
            entries.append(entry)
        return _combined(entries)

    def _frame(
        self, status_code: int, version: bytes, length: bytes | None, chunked: bool, close: bool
    ) -> None:
        """Choose the body framing and the keep-alive decision as RFC 9112 and h11 do."""
        method = self._method
        if close or version < b"1.1":
            self._keep_alive = False
        if (
            status_code == 204
            or status_code == 304
            or method == b"HEAD"
            or (method == b"CONNECT" and status_code < 300)
        ):
            self._framing, self._left = _LENGTH, 0
        elif chunked:
            self._framing = _CHUNKED
        elif length is not None:
            self._framing, self._left = _LENGTH, int(length)
        else:
            self._framing = _CLOSE

    # --- the body ----------------------------------------------------------------------------

    def next_body(self) -> bytes | object | None:
        """The next body piece (``bytes``, never empty), :data:`END`, or ``None`` until more bytes
        arrived.

        Raises:
            ParseError: malformed chunked framing or trailers, or the stream ended before the body
                was complete.
        """
        if self.complete:
            return END
        buffer = self._buffer
        framing = self._framing
        if framing == _LENGTH:
            left = self._left
            if not left:
                self.complete = True
                return END
            direct = self._direct
            if direct is not None:
                self._direct = None
                self._left = left - len(direct)
                return direct
            if not buffer:
                if self._eof:
                    raise ParseError(
                        "peer closed connection without sending complete message body", closed=True
                    )
                return None
            data = _take(buffer, left)
            self._left = left - len(data)
            return data
        if framing == _CHUNKED:
            return self._next_chunk()
        if buffer:
            data = bytes(buffer)
            buffer.clear()
            return data
        if self._eof:
            self.complete = True
            return END
        return None

    def _next_chunk(self) -> bytes | object | None:
        buffer = self._buffer
        while True:
            state = self._body_state
            if state == _DATA:
                left = self._chunk_left
                direct = self._direct
                if direct is not None:  # (nothing is buffered then)
                    self._direct = None
                    data = direct
                elif not buffer:
                    break
                else:
                    data = _take(buffer, left)
                left -= len(data)
                self._chunk_left = left
                if not left:
                    self._body_state = _FOOTER
                return data
            if state == _SIZE:
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > self._limit:
                        raise ParseError("Receive buffer too long", too_large=True)
                    break
                line = bytes(buffer[: end + 2])
                match = _CHUNK_HEADER.fullmatch(line)
                if match is None:
                    raise ParseError(f"illegal chunk header: {line!r}")
                del buffer[: end + 2]
                size = int(match.group("size"), 16)
                if size:
                    self._chunk_left = size
                    self._body_state = _DATA
                else:
                    self._body_state = _TRAILER
            elif state == _FOOTER:
                # The CRLF after a chunk's data, compared as it arrives (_chunk_left: bytes of it seen).
                expected = _CRLF[self._chunk_left :]
                got = bytes(buffer[: len(expected)])
                if not got:
                    break
                if got != expected[: len(got)]:
                    raise ParseError(f"malformed chunk footer: {got!r} (expected {expected!r})")
                del buffer[: len(got)]
                self._chunk_left += len(got)
                if self._chunk_left == 2:
                    self._chunk_left = 0
                    self._body_state = _SIZE
            else:  # _TRAILER
                if buffer[:1] == b"\n":
                    del buffer[:1]
                    lines: list[bytes] = []
                elif buffer[:2] == b"\r\n":
                    del buffer[:2]
                    lines = []
                else:
                    match = _BLANK_LINE.search(buffer)
                    if match is None:
                        if len(buffer) > self._limit:
                            raise ParseError("Receive buffer too long", too_large=True)
                        break
                    end = match.end()
                    lines = _split_lines(buffer[:end])
                    del buffer[:end]
                self.trailers = _combined([_field_entry(line) for line in _folded(lines)])[0]
                self.complete = True
                return END
        if self._eof:
            raise ParseError(
                "peer closed connection without sending complete message body (incomplete chunked read)",
                closed=True,
            )
        return None


# --- requests ------------------------------------------------------------------------------------

_CHUNKED_FRAMING: Final = -1


def frame_request_head(method: str, target: str, headers: list[tuple[str, str]]) -> tuple[bytes, int]:
    """The request head bytes and the body framing: the declared Content-Length, or -1 for chunked
    (the caller adds a framing header when the body needs one).

    ``Host`` is written first, as h11 writes it.

    Raises:
        FramingError: an invalid method, target, header name or value, conflicting Content-Length
            values, or a Transfer-Encoding other than ``chunked``.
    """
    try:
        raw_method = method.encode("ascii")
        raw_target = target.encode("ascii")
    except UnicodeEncodeError as exc:
        raise FramingError("the method and target must be ASCII") from exc
    if not _TOKEN_RE.fullmatch(raw_method):
        raise FramingError(f"illegal method {method!r}")
    if not _TARGET_RE.fullmatch(raw_target):
        raise FramingError("illegal request target")
    host: list[bytes] = []
    lines: list[bytes] = []
    length: bytes | None = None
    chunked = False
    for name, value in headers:
        raw_name = name.encode("ascii") if isinstance(name, str) and name.isascii() else None
        if raw_name is None or not _TOKEN_RE.fullmatch(raw_name):
            raise FramingError(f"illegal header name {name!r}")
        try:
            raw_value = value.encode("ascii")
        except (UnicodeEncodeError, AttributeError) as exc:
            raise FramingError(f"illegal value for header {name!r}") from exc
        if not _VALUE_RE.fullmatch(raw_value):
            raise FramingError(f"illegal value for header {name!r}")
        lowered = raw_name.lower()
        if lowered == b"content-length":
            raw_value = _stated_length(raw_value, FramingError)
            if length is not None:
                if length != raw_value:
                    raise FramingError("conflicting Content-Length headers")
                continue
            length = raw_value
        elif lowered == b"transfer-encoding":
            raw_value = _chunked_coding(raw_value, chunked, FramingError)
            chunked = True
        line = raw_name + b": " + raw_value + b"\r\n"
        (host if lowered == b"host" else lines).append(line)
    if not host:
        raise FramingError("missing mandatory Host: header")
    head = b"".join([raw_method, b" ", raw_target, b" HTTP/1.1\r\n", *host, *lines, b"\r\n"])
    if chunked:
        return head, _CHUNKED_FRAMING
    return head, 0 if length is None else int(length)
