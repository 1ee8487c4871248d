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
from typing import Final, Literal, Protocol

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

FramingName = Literal["line", "length", "raw"]


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
    """Newline-delimited frames (``payload + b"\\n"``), for JSON lines and text protocols.

    Args:
        max_frame_size: the longest line sent or accepted, without its terminator.
    """

    name = "line"
    _decoder = LineDecoder

    def encode(self, payload: bytes) -> bytes:
        """Return ``payload + b"\\n"``.

        Raises:
            pynector.SerializationError: *payload* is not bytes, is too long, or contains ``\\n``,
                ``\\r`` or NUL (which would let the peer parse something we did not send).
        """
        if type(payload) is not bytes:
            payload = _as_bytes(payload)
        if len(payload) > self.max_frame_size:
            _check_size(payload, self.max_frame_size)
        if b"\n" in payload or b"\r" in payload or b"\x00" in payload:
            for forbidden, label in ((b"\n", "LF"), (b"\r", "CR"), (b"\x00", "NUL")):
                if forbidden in payload:
                    raise SerializationError(
                        f"a line-framed payload cannot contain {label} (byte {payload.index(forbidden)})"
                    )
        return payload + b"\n"


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


_FRAMINGS: dict[str, type[LineFraming | LengthPrefixFraming | RawFraming]] = {
    "line": LineFraming,
    "length": LengthPrefixFraming,
    "raw": RawFraming,
}


def make_framing(framing: object, max_frame_size: object = None) -> Framing:
    """Return a :class:`Framing` from a name (``"line"``, ``"length"``, ``"raw"``) or an instance.

    Args:
        framing: a framing name, or an object implementing :class:`Framing` (used as is).
        max_frame_size: the largest payload in bytes (default 16 MiB); only with a name.

    Raises:
        pynector.ConfigurationError: unknown name, or an invalid ``max_frame_size``.
    """
    if not isinstance(framing, str):
        if callable(getattr(framing, "encode", None)) and callable(getattr(framing, "decoder", None)):
            if max_frame_size is not None:
                raise ConfigurationError("max_frame_size cannot be combined with a framing object")
            return framing  # type: ignore[return-value]
        raise ConfigurationError(
            f"framing must be one of 'line', 'length', 'raw' or a Framing object, got {framing!r}"
        )
    cls = _FRAMINGS.get(framing)
    if cls is None:
        raise ConfigurationError(f"framing must be one of 'line', 'length', 'raw', got {framing!r}")
    if max_frame_size is None:
        return cls()
    size = validate_count(max_frame_size, "max_frame_size", 1)
    if size > _MAX_LENGTH_PREFIX:
        raise ConfigurationError(f"max_frame_size must be at most {_MAX_LENGTH_PREFIX}, got {size}")
    return cls(size)


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
        and the next call returns ``None``.

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
        served += 1
        reply = await handler(request) if is_async else handler(request)  # type: ignore[misc]
        if reply is None:
            return False
        await framed.send_frame(reply)  # type: ignore[arg-type]
        if framed.framing.one_exchange_per_connection:
            return False
    return True
