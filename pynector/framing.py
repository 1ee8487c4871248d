"""Framing: turning a trio byte stream into a sequence of messages, and back.

A TCP or Unix socket carries bytes, not messages: one ``send_all`` may arrive as many
``receive_some`` chunks, and many sends may arrive as one chunk. A framing says where a message ends.
Three are provided, each as a small sans-I/O piece (an encoder and an incremental decoder that accepts
any chunking) plus :class:`FramedStream`, which runs them over any :class:`trio.abc.Stream`:

- ``"line"`` (:class:`LineFraming`): each frame is the payload followed by ``\\n``. A payload containing
  ``\\n``, ``\\r`` or NUL is rejected *before anything is written*: writing it would let the peer read
  two messages (or a forged one) where we sent one. The decoder accepts ``\\r\\n`` from peers.
- ``"length"`` (:class:`LengthPrefixFraming`): a 4-byte big-endian length, then that many bytes. Any
  payload can be sent. A length above ``max_frame_size`` is rejected as soon as the 4 bytes arrive,
  before buffering anything.
- ``"raw"`` (:class:`RawFraming`): one exchange per connection. The sender writes its payload and sends
  EOF; the receiver reads to EOF. Needs a half-closeable stream (TCP, Unix; not TLS).

Line framing takes another ``delimiter`` (``b"\r\n"`` for redis, memcached, SMTP-like protocols), and
requests of several lines: a list or tuple of lines is sent as one request, each line checked and
terminated (memcached's ``set``: ``[b"set k 0 0 5", b"hello"]``).

Replies of several frames: a :class:`ReplyDecoder` decides where one *reply* ends, so one request
reads a whole multi-line reply. It looks at the bytes received so far and answers "need more bytes"
(``None``), "one reply" (the value and how many bytes it used) or raises
:class:`pynector.ProtocolError`. :class:`LineReply` (one line is one reply) is the default;
:class:`RespReply` reads redis's RESP2 replies (simple strings, errors, integers, bulk strings
including null, arrays including nested and null), and ``framing="resp"`` (:class:`RespFraming`)
sends commands as RESP arrays of bulk strings, so any byte can be an argument. A reply decoder that
stops early leaves bytes in the buffer: the stream transports then fail the exchange
(:class:`pynector.ProtocolError`) rather than return a truncated reply.

Every decoder bounds its buffer by ``max_frame_size``, so a peer that never sends a delimiter cannot
make us buffer without limit.

Errors (all :class:`pynector.PynectorError` subclasses, nothing else escapes a decoder):

- :class:`pynector.SerializationError`: a payload cannot be framed (not bytes, too large, forbidden
  byte in line mode). Nothing was written; not retried.
- :class:`pynector.ProtocolError`: the peer sent a frame larger than ``max_frame_size``.
- :class:`pynector.ReadError`: the stream ended in the middle of a frame (truncated), or failed.
- :class:`pynector.WriteError`: the stream failed while sending.
"""

from __future__ import annotations

import inspect
import struct
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal, Protocol

import trio

from ._config import validate_count
from ._errors import (
    ConfigurationError,
    ProtocolError,
    ReadError,
    SerializationError,
    WriteError,
    describe_exception,
)

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "LineReply",
    "Reply",
    "ReplyDecoder",
    "RespError",
    "RespFraming",
    "RespReply",
    "encode_resp_command",
    "encode_resp_value",
    "FrameDecoder",
    "FramedStream",
    "Framing",
    "LengthPrefixDecoder",
    "LengthPrefixFraming",
    "LineDecoder",
    "LineFraming",
    "RawDecoder",
    "RawFraming",
    "make_framing",
    "serve_frames",
]

#: The default largest payload (16 MiB) a framing accepts in either direction.
DEFAULT_MAX_FRAME_SIZE: Final = 16 * 1024 * 1024

#: The largest size a 4-byte length prefix can express.
_MAX_LENGTH_PREFIX: Final = 2**32 - 1

_HEADER = struct.Struct(">I")

FramingName = Literal["line", "length", "raw", "resp"]


def _as_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    raise SerializationError(
        f"a frame payload must be bytes, got {type(payload).__name__}; set message_type= to send "
        "other objects"
    )


class FrameDecoder(Protocol):
    """An incremental decoder: feed it chunks as they arrive, take complete frames out."""

    def feed(self, data: bytes) -> None:
        """Append received bytes.

        Raises:
            pynector.ProtocolError: the buffered data can only be part of an oversized frame.
        """

    def next_frame(self) -> bytes | None:
        """Return the next complete frame, or ``None`` if more data is needed.

        Raises:
            pynector.ProtocolError: the next frame is larger than the maximum frame size.
        """

    def feed_and_next(self, data: bytes) -> bytes | None:
        """``feed(data)`` then ``next_frame()``, with a fast path for a chunk that is exactly one frame."""

    def end_of_input(self) -> bytes | None:
        """Declare that the stream ended; return a final frame (raw framing) or ``None``.

        Raises:
            pynector.ReadError: a frame was cut off by the end of the stream.
        """

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame."""


class Framing(Protocol):
    """How payloads are delimited on a stream.

    Attributes:
        name: ``"line"``, ``"length"`` or ``"raw"``.
        max_frame_size: the largest payload sent or accepted, in bytes.
        one_exchange_per_connection: the frame ends with EOF, so a connection carries one exchange.
    """

    name: str
    max_frame_size: int
    one_exchange_per_connection: bool

    def encode(self, payload: bytes) -> bytes:
        """Return the bytes to write for *payload*.

        Raises:
            pynector.SerializationError: *payload* cannot be framed (nothing should be written).
        """
        ...

    def decoder(self) -> FrameDecoder:
        """A fresh decoder for one direction of one connection."""
        ...


def _oversized(size: int, limit: int) -> ProtocolError:
    return ProtocolError(f"received a frame of {size} bytes or more, above max_frame_size={limit}")


def _truncated(buffered: int) -> ReadError:
    return ReadError(f"connection closed in the middle of a frame ({buffered} bytes of it received)")


class _BufferedDecoder:
    """What the decoders share: a byte buffer and a size limit."""

    __slots__ = ("_buffer", "_max")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self._max = max_frame_size
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def end_of_input(self) -> bytes | None:
        if self._buffer:
            raise _truncated(len(self._buffer))
        return None


class LineDecoder(_BufferedDecoder):
    """Splits a byte stream at ``\\n`` (a preceding ``\\r`` is dropped too).

    Args:
        max_line_length: the longest line accepted, without its terminator.
    """

    __slots__ = ("_scanned",)

    def __init__(self, max_line_length: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_line_length)
        # Bytes already searched for "\n": each byte is scanned once, however the input is chunked.
        self._scanned = 0

    def next_frame(self) -> bytes | None:
        buffer = self._buffer
        end = buffer.find(b"\n", self._scanned)
        if end < 0:
            self._scanned = len(buffer)
            # One byte of slack for a "\r" that may precede the "\n".
            if len(buffer) > self._max + 1:
                raise _oversized(len(buffer), self._max)
            return None
        cut = end - 1 if end and buffer[end - 1] == 0x0D else end
        if cut > self._max:
            raise _oversized(cut, self._max)
        frame = bytes(buffer[:cut])
        del buffer[: end + 1]
        self._scanned = 0
        return frame

    def feed_and_next(self, data: bytes) -> bytes | None:
        # The common case on a request/response connection: the reply arrives as one chunk holding
        # exactly one line. Slice it directly instead of copying through the buffer.
        if not self._buffer:
            end = data.find(b"\n")
            if end >= 0 and end == len(data) - 1:
                cut = end - 1 if end and data[end - 1] == 0x0D else end
                if cut > self._max:
                    raise _oversized(cut, self._max)
                return data[:cut]
        self._buffer += data
        return self.next_frame()


class LengthPrefixDecoder(_BufferedDecoder):
    """Reads frames made of a 4-byte big-endian length and that many bytes.

    Args:
        max_frame_size: the largest payload accepted; a larger announced length is rejected at once.
    """

    __slots__ = ()

    def next_frame(self) -> bytes | None:
        buffer = self._buffer
        if len(buffer) < 4:
            return None
        (size,) = _HEADER.unpack_from(buffer)
        if size > self._max:
            raise _oversized(size, self._max)
        end = 4 + size
        if len(buffer) < end:
            return None
        frame = bytes(buffer[4:end])
        del buffer[:end]
        return frame

    def feed_and_next(self, data: bytes) -> bytes | None:
        if not self._buffer and len(data) >= 4:
            (size,) = _HEADER.unpack_from(data)
            if size > self._max:
                raise _oversized(size, self._max)
            if len(data) == 4 + size:
                return data[4:]
        self._buffer += data
        return self.next_frame()


class RawDecoder(_BufferedDecoder):
    """Collects everything until the end of the stream, which is the end of the one frame.

    Args:
        max_size: the most bytes accepted before the end of the stream.
    """

    __slots__ = ()

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_size)

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > self._max:
            raise _oversized(len(self._buffer), self._max)

    def next_frame(self) -> None:
        return None

    def feed_and_next(self, data: bytes) -> None:
        self.feed(data)

    def end_of_input(self) -> bytes:
        frame = bytes(self._buffer)
        self._buffer.clear()
        return frame


def _check_size(payload: bytes, limit: int) -> None:
    if len(payload) > limit:
        raise SerializationError(f"payload of {len(payload)} bytes is above max_frame_size={limit}")


class _SizedFraming:
    """What the three framings share: a size limit, a decoder class, a repr."""

    name: str
    one_exchange_per_connection = False
    _decoder: type[LineDecoder | LengthPrefixDecoder | RawDecoder]

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size

    def decoder(self) -> FrameDecoder:
        """A fresh decoder for one direction of one connection."""
        return self._decoder(self.max_frame_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_frame_size={self.max_frame_size})"


class LineFraming(_SizedFraming):
    """Delimited frames (``payload + b"\\n"``), for JSON lines and text protocols.

    Args:
        max_frame_size: the longest line (or reply) sent or accepted, without its terminator.
        delimiter: the line end written after each line (default ``b"\\n"``; ``b"\\r\\n"`` for
            redis, memcached and most internet text protocols). With the default, the decoder also
            accepts ``\\r\\n`` from peers.
        reply: makes the :class:`ReplyDecoder` of one connection (default: one line is one reply,
            :class:`LineReply`); for replies of several lines.

    Raises:
        pynector.ConfigurationError: an empty delimiter, or *reply* is not callable.
    """

    name = "line"
    _decoder = LineDecoder

    def __init__(
        self,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        delimiter: bytes = b"\n",
        reply: Callable[[], ReplyDecoder] | None = None,
    ) -> None:
        super().__init__(max_frame_size)
        if not isinstance(delimiter, bytes) or not delimiter:
            raise ConfigurationError(f"delimiter must be non-empty bytes, got {delimiter!r}")
        if reply is not None and not callable(reply):
            raise ConfigurationError(f"reply must make a ReplyDecoder (a class or factory), got {reply!r}")
        self.delimiter = delimiter
        self.reply = reply
        self._plain = delimiter == b"\n" and reply is None
        # A delimiter made of other bytes than CR, LF or NUL is forbidden inside a line too.
        self._extra_forbidden = b"" if any(c in delimiter for c in b"\r\n\x00") else delimiter

    def decoder(self) -> FrameDecoder:
        """A fresh decoder for one direction of one connection."""
        if self._plain:
            return LineDecoder(self.max_frame_size)
        reply = self.reply() if self.reply is not None else LineReply(self.delimiter)
        return ReplyFrameDecoder(reply, self.max_frame_size)

    def _line(self, payload: bytes) -> bytes:
        if type(payload) is not bytes:
            payload = _as_bytes(payload)
        if len(payload) > self.max_frame_size:
            _check_size(payload, self.max_frame_size)
        extra = self._extra_forbidden
        if b"\n" in payload or b"\r" in payload or b"\x00" in payload or (extra and extra in payload):
            for forbidden, label in (
                (b"\n", "LF"),
                (b"\r", "CR"),
                (b"\x00", "NUL"),
                (extra, "the delimiter"),
            ):
                if forbidden and forbidden in payload:
                    raise SerializationError(
                        f"a line-framed payload cannot contain {label} (byte {payload.index(forbidden)})"
                    )
        return payload + self.delimiter

    def encode(self, payload: bytes | list[bytes] | tuple[bytes, ...]) -> bytes:
        """Return ``payload + delimiter``; a list or tuple of lines is one request of several lines.

        Raises:
            pynector.SerializationError: a line is not bytes, is too long, or contains ``\\n``,
                ``\\r``, NUL or the delimiter (which would let the peer parse something we did not
                send); an empty list.
        """
        if type(payload) is bytes:  # the hot path: one line
            return self._line(payload)
        if isinstance(payload, (list, tuple)):
            if not payload:
                raise SerializationError("a request of several lines needs at least one line")
            return b"".join(self._line(line) for line in payload)
        return self._line(payload)

    def __repr__(self) -> str:
        extra = "" if self.delimiter == b"\n" else f", delimiter={self.delimiter!r}"
        if self.reply is not None:
            extra += f", reply={getattr(self.reply, '__name__', self.reply)!r}"
        return f"{type(self).__name__}(max_frame_size={self.max_frame_size}{extra})"


class LengthPrefixFraming(_SizedFraming):
    """Frames made of a 4-byte big-endian payload length and the payload; any bytes can be sent.

    Args:
        max_frame_size: the largest payload sent or accepted (at most ``2**32 - 1``).
    """

    name = "length"
    _decoder = LengthPrefixDecoder

    def encode(self, payload: bytes) -> bytes:
        """Return the length prefix followed by *payload*.

        Raises:
            pynector.SerializationError: *payload* is not bytes or is above ``max_frame_size``.
        """
        payload = _as_bytes(payload)
        _check_size(payload, self.max_frame_size)
        return _HEADER.pack(len(payload)) + payload


class RawFraming(_SizedFraming):
    """One exchange per connection: the payload, then EOF.

    Args:
        max_frame_size: the most bytes sent or read before EOF.
    """

    name = "raw"
    one_exchange_per_connection = True
    _decoder = RawDecoder

    def encode(self, payload: bytes) -> bytes:
        """Return *payload* unchanged.

        Raises:
            pynector.SerializationError: *payload* is not bytes or is above ``max_frame_size``.
        """
        payload = _as_bytes(payload)
        _check_size(payload, self.max_frame_size)
        return payload


# --- replies of several frames --------------------------------------------------------------------


class ReplyDecoder(Protocol):
    """Decides where one reply ends in the bytes received so far (one instance per connection).

    The buffer only grows between calls until a reply is returned; then the bytes it used are
    removed, so a decoder may keep state (how far it already parsed) from one call to the next, and
    must start afresh after returning a reply.
    """

    def parse(self, buffer: bytearray) -> tuple[Any, int] | None:
        """Return ``(reply, used)`` when *buffer* starts with a complete reply of *used* bytes, or
        ``None`` when more bytes are needed.

        Raises:
            pynector.ProtocolError: the bytes cannot be the start of a reply.
        """
        ...


class Reply:
    """A reply decoded by a :class:`ReplyDecoder`, boxed so that a reply of ``None`` (redis's null)
    is not mistaken for the end of the stream; the stream transports hand out :attr:`value`."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Reply({self.value!r})"


class LineReply:
    """One line is one reply (the line without its delimiter, as bytes).

    Args:
        delimiter: the line end (``b"\\r\\n"``...).
    """

    __slots__ = ("_delimiter", "_scanned")

    def __init__(self, delimiter: bytes = b"\r\n") -> None:
        self._delimiter = delimiter
        self._scanned = 0

    def parse(self, buffer: bytearray) -> tuple[Any, int] | None:
        """The first line of *buffer*, or ``None``."""
        start = max(0, self._scanned - len(self._delimiter) + 1)
        end = buffer.find(self._delimiter, start)
        if end < 0:
            self._scanned = len(buffer)
            return None
        self._scanned = 0
        return bytes(buffer[:end]), end + len(self._delimiter)


class ReplyFrameDecoder(_BufferedDecoder):
    """A :class:`FrameDecoder` whose frames are the replies of a :class:`ReplyDecoder` (boxed in
    :class:`Reply`), with the buffer bounded by ``max_frame_size``.

    Args:
        reply: the reply decoder of this connection.
        max_frame_size: the most bytes one reply may take.
    """

    __slots__ = ("_reply",)

    def __init__(self, reply: ReplyDecoder, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size)
        self._reply = reply

    def next_frame(self) -> Any:
        """The next complete reply as a :class:`Reply`, or ``None``.

        Raises:
            pynector.ProtocolError: malformed bytes, or a reply larger than ``max_frame_size``.
        """
        buffer = self._buffer
        if not buffer:
            return None
        try:
            parsed = self._reply.parse(buffer)
        except ProtocolError:
            raise
        except Exception as exc:  # a user's decoder: its failure is the peer's bad bytes
            raise ProtocolError(f"the reply decoder failed: {describe_exception(exc)}") from exc
        if parsed is None:
            if len(buffer) > self._max:
                raise _oversized(len(buffer), self._max)
            return None
        value, used = parsed
        if not 0 < used <= len(buffer):
            raise ProtocolError(f"the reply decoder used {used} bytes of a {len(buffer)}-byte buffer")
        if used > self._max:
            raise _oversized(used, self._max)
        del buffer[:used]
        return Reply(value)

    def feed_and_next(self, data: bytes) -> Any:
        self._buffer += data
        return self.next_frame()


class RespError(str):
    """A RESP error reply (``-ERR unknown command``): a ``str`` of the message, not raised.

    Redis answers a failed command with an error *reply*; it arrives as this value (also inside an
    array, as ``EXEC`` returns them), so check ``isinstance(reply, RespError)``.
    """

    __slots__ = ()

    @property
    def kind(self) -> str:
        """The first word (``"ERR"``, ``"WRONGTYPE"``...)."""
        return self.split(" ", 1)[0]


_RESP_NULL_LENGTH: Final = -1


class RespReply:
    """Reads one RESP2 reply (redis): ``+`` simple string (``str``), ``-`` error (:class:`RespError`),
    ``:`` integer (``int``), ``$`` bulk string (``bytes``, ``None`` for ``$-1``), ``*`` array
    (``list``, nested, ``None`` for ``*-1``).

    Incremental: a reply arriving in many chunks is parsed once, element by element (the state is
    kept between calls), so a large array costs linear time however it is chunked.

    Args:
        max_frame_size: the largest bulk string accepted (a larger announced length fails at once).
    """

    __slots__ = ("_max", "_pos", "_stack")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self._max = max_frame_size
        self._pos = 0
        self._stack: list[tuple[list[Any], int]] = []

    def _line(self, buffer: bytearray, start: int) -> tuple[bytes, int] | None:
        end = buffer.find(b"\r\n", start)
        if end < 0:
            return None
        return bytes(buffer[start:end]), end + 2

    @staticmethod
    def _integer(text: bytes, what: str) -> int:
        if not text or not (text.isdigit() or (text[:1] == b"-" and text[1:].isdigit())):
            raise ProtocolError(f"RESP {what} is not an integer: {text[:40]!r}")
        return int(text)

    def parse(self, buffer: bytearray) -> tuple[Any, int] | None:
        """One complete reply at the start of *buffer*, or ``None``.

        Raises:
            pynector.ProtocolError: an unknown type byte, a bad length or integer, a bulk string not
                followed by CRLF, or a bulk string longer than ``max_frame_size``.
        """
        pos = self._pos
        stack = self._stack
        while True:
            line = self._line(buffer, pos)
            if line is None:
                self._pos = pos
                return None
            header, after = line
            kind, body = header[:1], header[1:]
            value: Any
            if kind == b"+":
                value = body.decode("utf-8", "replace")
            elif kind == b"-":
                value = RespError(body.decode("utf-8", "replace"))
            elif kind == b":":
                value = self._integer(body, "integer")
            elif kind == b"$":
                length = self._integer(body, "bulk length")
                if length == _RESP_NULL_LENGTH:
                    value = None
                elif length < 0:
                    raise ProtocolError(f"RESP bulk length {length} is negative")
                elif length > self._max:
                    raise ProtocolError(
                        f"RESP bulk string of {length} bytes, above max_frame_size={self._max}"
                    )
                else:
                    end = after + length
                    if len(buffer) < end + 2:
                        self._pos = pos  # the header is parsed again when the body has arrived
                        return None
                    if buffer[end : end + 2] != b"\r\n":
                        raise ProtocolError(f"RESP bulk string of {length} bytes is not followed by CRLF")
                    value = bytes(buffer[after:end])
                    after = end + 2
            elif kind == b"*":
                count = self._integer(body, "array length")
                if count == _RESP_NULL_LENGTH:
                    value = None
                elif count < 0:
                    raise ProtocolError(f"RESP array length {count} is negative")
                elif count > 0:
                    stack.append(([], count))
                    pos = after
                    continue
                else:
                    value = []
            else:
                raise ProtocolError(f"RESP reply starts with an unknown type byte {kind!r}")
            pos = after
            while stack:
                items, remaining = stack[-1]
                items.append(value)
                if len(items) < remaining:
                    break
                stack.pop()
                value = items
            else:
                self._pos = 0
                return value, pos


def _resp_argument(arg: object) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, (bytearray, memoryview)):
        return bytes(arg)
    if isinstance(arg, (int, float)) and not isinstance(arg, bool):
        return repr(arg).encode()
    raise SerializationError(
        f"a RESP command argument must be bytes, str, int or float, got {type(arg).__name__}"
    )


def encode_resp_command(*args: object) -> bytes:
    """A command as redis expects it: a RESP array of bulk strings (any byte may be in an argument).

    ``encode_resp_command("GET", "k")`` == ``b"*2\\r\\n$3\\r\\nGET\\r\\n$1\\r\\nk\\r\\n"``.

    Raises:
        pynector.SerializationError: no argument, or one that is not bytes, str, int or float.
    """
    if not args:
        raise SerializationError("a RESP command needs at least one argument (the command name)")
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _resp_argument(arg)
        parts.append(b"$%d\r\n" % len(data))
        parts.append(data)
        parts.append(b"\r\n")
    return b"".join(parts)


def encode_resp_value(value: Any) -> bytes:
    """A reply in RESP2, as a redis server writes it (for fake servers in tests).

    ``str`` -> simple string, :class:`RespError` -> error, ``int`` -> integer, ``bytes`` -> bulk
    string, ``None`` -> null bulk string, ``list``/``tuple`` -> array (nested as given).

    Raises:
        pynector.SerializationError: a value of another type, or a simple string or error containing
            CR or LF.
    """
    if isinstance(value, str):  # RespError included
        if "\r" in value or "\n" in value:
            raise SerializationError("a RESP simple string or error cannot contain CR or LF")
        return (b"-" if isinstance(value, RespError) else b"+") + value.encode() + b"\r\n"
    if isinstance(value, bool) or (
        not isinstance(value, (int, bytes, bytearray, list, tuple)) and value is not None
    ):
        raise SerializationError(f"no RESP2 form for {type(value).__name__}")
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, (bytes, bytearray)):
        return b"$%d\r\n%s\r\n" % (len(value), bytes(value))
    return b"*%d\r\n" % len(value) + b"".join(encode_resp_value(item) for item in value)


class RespFraming(_SizedFraming):
    """Redis's protocol: commands out as RESP arrays, RESP2 replies in (``framing="resp"``).

    A request is a list or tuple of arguments (``["GET", "k"]``, ``("HSET", "h", "f", b"v")``),
    sent with :func:`encode_resp_command`; a ``bytes`` request is sent as an inline command line
    (``b"PING"``, checked like a line). A reply is what :class:`RespReply` reads.

    Args:
        max_frame_size: the largest request, and the largest reply accepted.
    """

    name = "resp"

    def decoder(self) -> FrameDecoder:
        """A fresh RESP reply decoder for one connection."""
        return ReplyFrameDecoder(RespReply(self.max_frame_size), self.max_frame_size)

    def encode(self, payload: Any) -> bytes:
        """The bytes of one command.

        Raises:
            pynector.SerializationError: a bad argument, an inline command containing CR, LF or
                NUL, or a command above ``max_frame_size``.
        """
        if isinstance(payload, (list, tuple)):
            data = encode_resp_command(*payload)
        else:
            payload = _as_bytes(payload)
            if b"\n" in payload or b"\r" in payload or b"\x00" in payload:
                raise SerializationError("an inline RESP command cannot contain CR, LF or NUL")
            data = payload + b"\r\n"
        _check_size(data, self.max_frame_size)
        return data


_FRAMINGS: dict[str, type[LineFraming | LengthPrefixFraming | RawFraming | RespFraming]] = {
    "line": LineFraming,
    "resp": RespFraming,
    "length": LengthPrefixFraming,
    "raw": RawFraming,
}


_REPLY_DECODERS: dict[str, Callable[[], ReplyDecoder]] = {"resp": RespReply}


def make_framing(
    framing: object, max_frame_size: object = None, *, delimiter: object = None, reply_decoder: object = None
) -> Framing:
    """Return a :class:`Framing` from a name (``"line"``, ``"length"``, ``"raw"``, ``"resp"``) or an instance.

    Args:
        framing: a framing name, or an object implementing :class:`Framing` (used as is).
        max_frame_size: the largest payload in bytes (default 16 MiB); only with a name.
        delimiter: the line end of ``"line"`` framing (default ``b"\\n"``).
        reply_decoder: for ``"line"`` framing, what reads one reply: ``"resp"`` or a class/factory
            making a :class:`ReplyDecoder` (default: one line).

    Raises:
        pynector.ConfigurationError: unknown name, an invalid ``max_frame_size``, or ``delimiter`` /
            ``reply_decoder`` with another framing than ``"line"``.
    """
    if not isinstance(framing, str):
        if callable(getattr(framing, "encode", None)) and callable(getattr(framing, "decoder", None)):
            if max_frame_size is not None or delimiter is not None or reply_decoder is not None:
                raise ConfigurationError(
                    "max_frame_size, delimiter and reply_decoder cannot be combined with a framing object"
                )
            return framing  # type: ignore[return-value]
        raise ConfigurationError(
            f"framing must be one of 'line', 'length', 'raw', 'resp' or a Framing object, got {framing!r}"
        )
    cls = _FRAMINGS.get(framing)
    if cls is None:
        raise ConfigurationError(f"framing must be one of 'line', 'length', 'raw', 'resp', got {framing!r}")
    size = DEFAULT_MAX_FRAME_SIZE
    if max_frame_size is not None:
        size = validate_count(max_frame_size, "max_frame_size", 1)
        if size > _MAX_LENGTH_PREFIX:
            raise ConfigurationError(f"max_frame_size must be at most {_MAX_LENGTH_PREFIX}, got {size}")
    if delimiter is None and reply_decoder is None:
        return cls(size)
    if cls is not LineFraming:
        raise ConfigurationError(
            f"delimiter and reply_decoder are options of 'line' framing, not {framing!r}"
        )
    if isinstance(reply_decoder, str):
        known = _REPLY_DECODERS.get(reply_decoder)
        if known is None:
            raise ConfigurationError(
                f"reply_decoder must be 'resp' or a ReplyDecoder factory, got {reply_decoder!r}"
            )
        reply_decoder = known
    if reply_decoder is not None and not callable(reply_decoder):
        raise ConfigurationError(
            f"reply_decoder must be 'resp' or a ReplyDecoder factory, got {reply_decoder!r}"
        )
    return LineFraming(size, b"\n" if delimiter is None else delimiter, reply_decoder)  # type: ignore[arg-type]


class FramedStream(trio.abc.AsyncResource):
    """Frames over a trio stream: :meth:`send_frame` and :meth:`receive_frame`.

    Not a byte stream itself (it carries whole frames), so it is not a :class:`trio.abc.Stream`; the
    wrapped stream is available as :attr:`stream`. Like trio streams, one task may send while another
    receives, but two concurrent senders (or receivers) are not supported.

    Args:
        stream: the byte stream (a :class:`trio.abc.HalfCloseableStream` for raw framing).
        framing: a :class:`Framing`, or a name accepted by :func:`make_framing`.
        label: names the peer in error messages (for example ``"tcp://127.0.0.1:9000"``).
        receive_size: the ``max_bytes`` passed to ``receive_some``.
    """

    __slots__ = ("_decoder", "_eof", "_framing", "_label", "_receive_size", "stream")

    def __init__(
        self,
        stream: trio.abc.Stream,
        framing: Framing | FramingName = "line",
        *,
        label: str = "stream",
        receive_size: int = 65536,
    ) -> None:
        self.stream = stream
        self._framing = make_framing(framing) if isinstance(framing, str) else framing
        self._decoder = self._framing.decoder()
        self._label = label
        self._receive_size = receive_size
        self._eof = False

    @property
    def framing(self) -> Framing:
        """The framing in use."""
        return self._framing

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame (non-zero means the peer sent ahead)."""
        return self._decoder.buffered

    async def send_frame(self, payload: bytes) -> None:
        """Encode *payload* and write it; with raw framing, then send EOF.

        Blocks until the bytes are handed to the OS (flow control).

        Raises:
            pynector.SerializationError: the payload cannot be framed; nothing was written.
            pynector.WriteError: the stream failed or was closed while sending.
        """
        data = self._framing.encode(payload)
        await self.send_encoded(data)

    async def send_encoded(self, data: bytes) -> None:
        """Write bytes already produced by ``framing.encode`` (see :meth:`send_frame`)."""
        try:
            await self.stream.send_all(data)
            if self._framing.one_exchange_per_connection:
                await self.stream.send_eof()  # type: ignore[attr-defined]
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise WriteError(f"sending to {self._label} failed: {describe_exception(exc)}") from exc

    async def receive_frame(self) -> bytes | None:
        """Return the next frame, or ``None`` when the peer closed cleanly between frames.

        Blocks until a whole frame arrived. With raw framing the one frame is everything up to EOF,
        and the next call returns ``None``. With a reply decoder the frame is a :class:`Reply`
        (whose value may be ``None``, redis's null).

        Raises:
            pynector.ProtocolError: the frame is larger than ``max_frame_size``.
            pynector.ReadError: the stream ended in the middle of a frame, or failed.
        """
        decoder = self._decoder
        frame = decoder.next_frame()
        while frame is None:
            if self._eof:
                return None
            try:
                data = await self.stream.receive_some(self._receive_size)
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                # A reset, a TLS failure, or our own close from another task: the frame is lost.
                raise ReadError(f"receiving from {self._label} failed: {describe_exception(exc)}") from exc
            if not data:
                self._eof = True
                return decoder.end_of_input()
            frame = decoder.feed_and_next(bytes(data))
        return frame

    async def aclose(self) -> None:
        """Close the stream (see :meth:`trio.abc.AsyncResource.aclose`)."""
        await self.stream.aclose()


#: A server-side frame handler: returns the reply payload, or ``None`` to close without replying.
FrameHandler = Callable[[bytes], bytes | None] | Callable[[bytes], Awaitable[bytes | None]]


async def serve_frames(
    framed: FramedStream, handler: FrameHandler, *, max_exchanges: int | None = None
) -> bool:
    """Serve *handler* on one connection: read a frame, reply with the handler's result, repeat.

    Stops when the peer closes, when the handler returns ``None`` (nothing is sent), after
    *max_exchanges* exchanges, or after the one exchange of raw framing (whose reply ends with EOF).
    The stream is not closed here: the caller owns it.

    Returns:
        ``True`` when it stopped after *max_exchanges* answered requests, with the connection still
        usable; ``False`` when the connection is finished (peer closed, no reply, raw framing).

    Args:
        framed: the connection.
        handler: ``handler(payload) -> reply``, sync or async.
        max_exchanges: serve at most this many requests.

    Raises:
        pynector.PynectorError: framing or I/O errors on the connection.
        Exception: whatever the handler raises.
    """
    is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )
    served = 0
    while max_exchanges is None or served < max_exchanges:
        request = await framed.receive_frame()
        if request is None:
            return False
        if isinstance(request, Reply):
            request = request.value
        served += 1
        reply = await handler(request) if is_async else handler(request)  # type: ignore[misc]
        if reply is None:
            return False
        await framed.send_frame(reply)  # type: ignore[arg-type]
        if framed.framing.one_exchange_per_connection:
            return False
    return True
