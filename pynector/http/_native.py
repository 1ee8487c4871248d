"""The native HTTP/1.1 engine: our own HTTP/1.1 framing over pooled trio streams.

Why not just httpx? Under trio, httpx served about 1,300 small requests/s with 64 in flight on a
2-core machine, while h11 on plain trio streams served about 10,000. The profile puts httpx's time in
httpcore's connection pool (every queued request scans every connection: quadratic in concurrency) and in
per-request model building. A first version of this engine framed the wire with h11; the profile
then put about 80 of the 100 microseconds a minimal h11-on-trio client spends per request in h11's
per-event work (validated event objects, a two-sided state machine), so the framing is now
:mod:`pynector.http._parser`: a lean pure-Python response parser that keeps h11's rules refusal for
refusal (proved against h11 by a differential test), and request heads written directly. Its module
essay says why not a compiled parser. This engine keeps only what the wire needs:

- **One exchange, one connection.** :meth:`NativeEngine.send` leases a connection from the core
  :class:`~pynector._pool.ConnectionPool` (key = origin), writes the request, reads the response head and
  yields a :class:`NativeResponse`; the body streams from :meth:`NativeResponse.aiter_raw`. Leaving the
  block releases the lease. The connection goes back to the pool only when the exchange ended cleanly:
  the body was read to the end (or was already fully buffered), neither side asked to close, no exception
  left the block and no unexpected bytes wait on the connection. Every other exit (cancellation at any
  checkpoint, an error, a body left unread) closes it, so a half-read response can never reach the next
  request. That is cancellation safety by construction, not by cleanup code on each path.
- **The whole exchange in one coroutine.** Most requests want the whole body: :meth:`NativeEngine.fetch`
  leases, writes, reads the head and the body (capped), and releases in one coroutine of one slotted
  object (the same object is :meth:`send`'s context manager and body iterator). A small request's
  cost is mostly frames and objects, so the hot path has few of each: request heads are cached as
  bytes, the ``Host`` header is computed once per origin, a bytes body up to 64 KiB is written with
  its head in one send (a larger one, and large streamed chunks, go out as they are, never
  concatenated), reads are 64 KiB, a Content-Length body that arrives in its own read is handed on
  without a copy, a clean connection is parked without a coroutine, and plain TCP connections do
  their I/O with ``os.write``/``os.read`` on the socket's descriptor, keeping trio's checkpoints
  but not its wrappers; the request is written without a checkpoint of its own, since the read
  of the response that follows is one (see :class:`_Connection`); the framing checks on a response
  (conflicting lengths, the declared size against the cap) read what the parser found, not the
  headers again, and a streamed response's ASCII headers are decoded without ``httpx.Headers``.
  Measured with ``benchmarks/http_bench.py`` (a shared 2-core machine, small GETs on nginx at 64 in
  flight): ``fetch`` used directly costs about what a minimal trio client on the same parser costs
  (21-25 CPU microseconds per request, two thirds of it the ``write`` and ``read`` system calls).
- **Large bodies at wire speed.** The naive read loop takes 64 KiB at a time and joins the pieces:
  a 1 MiB body is then 17 reads (each a trip through trio's scheduler, most an epoll re-arm), 17
  ``bytes`` to allocate and one more to join them into, on fresh pages more often than not (page
  faults, not copying, were most of its cost: about 4 times aiohttp's CPU per 1 MiB GET). So
  :meth:`NativeEngine.fetch` reads a Content-Length body over 64 KiB (up to 16 MiB) with
  ``recv_into`` straight into a ``bytearray`` the engine reuses (the part that came with the head
  is copied in first), asking for all that is missing each time: on loopback two or three reads.
  The body is handed out as one ``bytes``, copied from the buffer once; the buffer goes back to
  the engine (which keeps about 17 MiB of idle buffers at most), never to the caller. The cap is
  checked against the declared length before the read, so a buffer is never larger than what the
  caller accepts. Larger bodies, TLS connections and :meth:`NativeResponse.aiter_raw` read up to
  256 KiB at a time while more than 64 KiB of a Content-Length body or of a chunk is known to be
  coming (``LARGE_READ_SIZE``: bounded pieces for a stream); a read holding only body bytes is
  handed on as it is.
  A bytes-like request body over 64 KiB goes out with its head in one ``sendmsg`` (a chunked one
  with its framing); after a partial write the rest is sliced through memoryviews: a request body
  is never copied.
- **Stale keep-alive connections.** A server may close an idle connection at any time. Before reuse the
  pool checks that the socket is not readable (a closed or chattering idle socket is). The check can
  still lose the race, so when a request on a *reused* connection fails before any response byte
  arrived, and the request is idempotent with a replayable (bytes) body, it is sent once more on a fresh
  connection. Later failures are not retried here: retry policy belongs to the shared layer.
- **Errors mapped at the boundary.** OSError, ssl, trio and parser exceptions become the most specific
  :mod:`pynector` error (ConnectError, ConnectTimeout, TLSError, ReadError, WriteError, ProtocolError)
  with the original as ``__cause__``. Messages name the method and origin but never the path, query or
  headers (they may carry secrets).

- **Total deadlines kept here, at the waits.** The shared layer hands :meth:`NativeEngine.fetch` the
  exchange's absolute deadline (``keeps_deadline``). A cancel scope is entered only when the exchange
  really waits (a pool slot, a connect, a socket that is not ready, an async upload body), through the
  pool's :class:`~pynector._pool.DeadlineWaits`, which also lets ``aclose`` end those waits at once;
  the clock is read before each further body read, so a server that never makes the client wait still
  cannot outrun the deadline. Over TLS (whose stream waits inside trio's ``SSLStream``) the exchange
  runs in one scope. ``connect_timeout`` bounds connection establishment on its own.
"""

from __future__ import annotations

import contextlib
import math
import os
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine
from functools import partial
from types import TracebackType
from typing import Any

import httpx
import trio

from .._config import validate_count, validate_timeout
from .._errors import (
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    ConnectTimeout,
    ProtocolError,
    PynectorError,
    ReadError,
    TLSError,
    TransportError,
    WriteError,
    describe_exception,
)
from .._exctools import map_exceptions
from .._net import DEFAULT_PORTS, host_port, open_tcp_stream
from .._pool import ConnectionPool, IdleProbe, Lease, PoolStatistics, close_quietly
from ._engine import (
    Body,
    DeadlineExpired,
    WireBody,
    WireRequest,
    conflicting_framing_error,
    may_resend,
)
from ._model import body_too_large, check_declared_length
from ._parser import END, FramingError, Head, ParseError, ResponseParser, frame_request_head
from ._proxy import Proxy, ProxyResolver, open_tunnel
from ._transport import HTTPTransport

__all__ = ["NativeEngine", "NativeResponse"]

#: Bytes asked from the socket per read.
READ_SIZE = 65536
#: Content-Length bodies larger than this (and at most ``_BUFFERED_MAX``) are read whole into a
#: reusable buffer by ``NativeEngine.fetch`` (see ``_Exchange._read_into``).
_BUFFERED_MIN = 65536
_BUFFERED_MAX = 16 * 1024 * 1024
#: The most bytes asked per read for the rest of a large Content-Length body (streamed, or too
#: large for a buffer): fewer reads than ``READ_SIZE`` at a time (each one a trip through trio's
#: scheduler, and often an epoll re-arm), and a bounded size per piece.
LARGE_READ_SIZE = 262144
#: The size of a new body buffer (see ``_Exchange._read_into``; buffers grow as bytes arrive).
_FIRST_BUFFER_SIZE = 4 * _BUFFERED_MIN
#: The most bytes of idle body buffers an engine keeps for reuse (about one 1 MiB buffer for each
#: of 16 exchanges in flight, or fewer larger ones).
_IDLE_BUFFER_BYTES = 16 * 1024 * 1024 + 16 * _BUFFERED_MIN
#: The unsent bytes the kernel may queue on a connection's socket (trio sets 16 KiB; see
#: ``_Connection``).
_SEND_LOW_MARK = 64 * 1024
#: Bodies up to this size are written together with the request head (one ``send_all``).
_COALESCE_LIMIT = 65536

#: The most request heads kept for reuse (see ``NativeEngine._request_head``).
_HEAD_CACHE_SIZE = 256
#: A request head ready to write: the bytes, the body framing (declared length, or -1 for
#: chunked), whether the request lets the connection live on.
RequestHead = tuple[bytes, int, bool]

_EXPECTS_BODY = frozenset({"POST", "PUT", "PATCH"})
#: What a read or write on a connection raises when the connection failed or was closed (mapped to
#: ReadError / WriteError with the original as the cause).
_IO_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)

Origin = tuple[str, str, int]
#: The pool key: the origin, plus the proxy when the connection goes through one.
PoolKey = tuple[str, str, int] | tuple[str, str, int, Proxy]


class _Connection(trio.abc.AsyncResource):
    """A pooled connection: the trio stream, the response parser that reads it, and the I/O calls an
    exchange makes on it.

    On a plain TCP connection those calls bypass the ``SocketStream``: its ``send_all`` and
    ``receive_some`` wrap every call in a conflict detector and an error-translating context manager,
    and the trio socket's own methods in a try-then-wait helper with two more context managers
    (together several microseconds per request, a tenth of a small request's CPU time). None of it
    is needed here: the pool gives a connection to one exchange at a time, and the exchange maps
    ``OSError`` itself. So on POSIX the calls are ``os.write``/``os.writev`` and
    ``os.read``/``os.readv`` on the socket's file descriptor (non-blocking, as trio keeps it), with
    trio's ``wait_writable``/``wait_readable`` when the kernel says "would block", and the
    checkpoints trio's own calls make:

    - :attr:`receive_some` is a checkpoint first when other exchanges of the engine are in flight
      (they run meanwhile, so at 64 in flight the response is usually there when the read comes),
      then a read, then a wait only if nothing had arrived. An exchange alone in flight reads at
      once: a schedule point before the read would only poll the kernel for nothing, and most such
      reads wait anyway (the wait is the schedule point; a read that did not wait is followed by
      one). At one request in flight that is one trip through trio's scheduler fewer per request;
    - :attr:`receive_into` is a checkpoint, a read, a wait only if nothing had arrived;
    - :attr:`send_all` checks for cancellation, writes, then yields, as trio's ``send_all`` does;
    - :attr:`send_request` writes a whole request without a checkpoint of its own: the exchange
      reads the response right after it, and that read is the checkpoint.

    Those waits, and only they, are bounded by the exchange's total deadline (:attr:`deadline`, set
    by the exchange that holds the connection) through the pool's
    :class:`~pynector._pool.DeadlineWaits`: a cancel scope only when the exchange really waits (see
    :meth:`NativeEngine.fetch`).

    The descriptor is asked of the socket on every call, so a closed connection fails with
    ``EBADF`` instead of touching a reused descriptor. TLS connections, and plain ones elsewhere,
    use the trio stream. Either way the connection is opened, wrapped and closed as a trio stream.

    trio's ``SocketStream`` sets ``TCP_NOTSENT_LOWAT`` to 16 KiB (so that a multiplexing protocol
    can reprioritise what it has not yet handed to the kernel); an HTTP/1.1 connection carries one
    request at a time. It is raised to ``_SEND_LOW_MARK``, 64 KiB (see
    :func:`_raise_send_low_mark`): measured with 1 MiB uploads to nginx at 16 in flight, 16 KiB
    cost the client more writes and waits (about 2,000-2,600 uploads/s), while letting the kernel
    queue the whole megabyte made nginx spend more CPU per upload (1,750-2,450/s with nginx at
    97-99% of a core; why is the kernel's and nginx's business); 64 KiB gave 3,000-3,900/s.
    """

    __slots__ = (
        "deadline",
        "idle_probe",
        "parser",
        "pool",
        "receive_into",
        "receive_some",
        "send_all",
        "send_parts",
        "send_request",
        "socket",
        "stream",
    )

    def __init__(
        self, stream: trio.abc.Stream, max_header_bytes: int, pool: ConnectionPool[Any, _Connection]
    ) -> None:
        self.stream = stream
        self.parser = ResponseParser(max_header_bytes)
        self.idle_probe = IdleProbe(stream)
        #: The total deadline of the exchange holding the connection (trio's clock).
        self.deadline = math.inf
        #: The pool the connection belongs to (its waits, and how many leases are out).
        self.pool = pool
        _raise_send_low_mark(stream)
        self.send_all: Callable[[bytes | memoryview], Awaitable[None]]
        self.send_request: Callable[[bytes], Awaitable[None]]
        #: Sends several buffers in order as one write where the platform allows (``writev``).
        self.send_parts: Callable[[list[bytes | memoryview]], Awaitable[None]]
        self.receive_some: Callable[[int], Awaitable[bytes | bytearray]]
        #: Reads straight into a caller's buffer (plain TCP only; see ``_Exchange._read_into``).
        self.receive_into: Callable[[memoryview], Awaitable[int]] | None = None
        self.socket: trio.socket.SocketType | None = None
        if isinstance(stream, trio.SocketStream) and _POSIX:
            self.socket = stream.socket
            self.send_all = partial(_send_on_socket, self)
            self.send_request = partial(_write_on_socket, self)
            self.send_parts = partial(_send_parts_on_socket, self)
            self.receive_some = partial(_receive_on_socket, self)
            self.receive_into = partial(_receive_into_on_socket, self)
        else:
            self.send_all = self.send_request = stream.send_all
            self.send_parts = partial(_send_parts_in_turn, stream.send_all)
            self.receive_some = stream.receive_some

    def is_usable(self) -> bool:
        """Whether the idle connection looks alive and quiet (see :class:`~pynector._pool.IdleProbe`)."""
        return self.idle_probe.quiet()

    def fileno(self) -> int:
        """The socket's descriptor (``-1`` once closed: the next call then fails with ``EBADF``)."""
        assert self.socket is not None
        return self.socket.fileno()

    async def wait_for(self, wait: Callable[[int], Awaitable[None]], fd: int) -> None:
        """``await wait(fd)`` (``wait_readable``/``wait_writable``) within the exchange's deadline.

        Raises:
            trio.TooSlowError: the deadline passed.
            pynector.ClientClosedError: the engine was closed.
        """
        await self.pool.waits.wait(self.deadline, wait, fd)

    async def aclose(self) -> None:
        await self.stream.aclose()


def _raise_send_low_mark(stream: trio.abc.Stream) -> None:
    """Let the kernel queue up to ``_SEND_LOW_MARK`` unsent bytes on the TCP socket under *stream*
    (plain, or under TLS) where the platform has ``TCP_NOTSENT_LOWAT`` (see :class:`_Connection`)."""
    tcp = stream if isinstance(stream, trio.SocketStream) else getattr(stream, "transport_stream", None)
    if isinstance(tcp, trio.SocketStream) and hasattr(trio.socket, "TCP_NOTSENT_LOWAT"):
        with contextlib.suppress(OSError):  # refused by the platform: trio's 16 KiB stays
            tcp.setsockopt(trio.socket.IPPROTO_TCP, trio.socket.TCP_NOTSENT_LOWAT, _SEND_LOW_MARK)


_POSIX = os.name == "posix"


async def _write_on_socket(connection: _Connection, data: bytes | memoryview) -> None:
    """Write *data* whole; a checkpoint only when the kernel buffer is full (see :class:`_Connection`).

    Raises:
        OSError: the connection failed (``EBADF`` once it is closed).
        trio.TooSlowError: the exchange's deadline passed while waiting to write.
    """
    fd = connection.fileno()
    try:
        sent = os.write(fd, data)
    except BlockingIOError:
        sent = 0
    if sent < len(data):
        with memoryview(data) as view:  # (bytes-like of single bytes: see _send_data)
            while sent < len(view):
                await connection.wait_for(trio.lowlevel.wait_writable, fd)
                try:
                    sent += os.write(fd, view[sent:])
                except BlockingIOError:
                    continue


async def _send_on_socket(connection: _Connection, data: bytes | memoryview) -> None:
    """``SocketStream.send_all`` without its wrappers (see :class:`_Connection`): a cancellation
    point, the write, a schedule point."""
    await trio.lowlevel.checkpoint_if_cancelled()
    await _write_on_socket(connection, data)
    await trio.lowlevel.cancel_shielded_checkpoint()


async def _receive_on_socket(connection: _Connection, size: int) -> bytes:
    """``SocketStream.receive_some`` without its wrappers (see :class:`_Connection`): a checkpoint
    (first, unless the exchange is alone in flight), the read, a wait only if nothing has arrived.
    ``b""`` at end of stream.

    Raises:
        OSError: the connection failed (``EBADF`` once it is closed).
        trio.TooSlowError: the exchange's deadline passed while waiting.
    """
    if connection.pool.in_use > 1:
        await trio.lowlevel.checkpoint()
    else:
        await trio.lowlevel.checkpoint_if_cancelled()
        fd = connection.fileno()
        try:
            data = os.read(fd, size)
        except BlockingIOError:
            await connection.wait_for(trio.lowlevel.wait_readable, fd)
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return data
    fd = connection.fileno()
    while True:
        try:
            return os.read(fd, size)
        except BlockingIOError:
            await connection.wait_for(trio.lowlevel.wait_readable, fd)


async def _receive_into_on_socket(connection: _Connection, view: memoryview) -> int:
    """As :func:`_receive_on_socket`, into *view* (``readv``): the bytes read, 0 at end of stream."""
    await trio.lowlevel.checkpoint()
    fd = connection.fileno()
    while True:
        try:
            return os.readv(fd, (view,))
        except BlockingIOError:
            await connection.wait_for(trio.lowlevel.wait_readable, fd)


async def _send_parts_on_socket(connection: _Connection, parts: list[bytes | memoryview]) -> None:
    """Send *parts* (bytes, or memoryviews of unsigned bytes) in order with ``writev``: one system
    call for a request head and its large body, and neither copied into the other. After a partial
    write the rest goes out part by part, sliced through a memoryview (no copy)."""
    await trio.lowlevel.checkpoint_if_cancelled()
    try:
        sent = os.writev(connection.fileno(), parts)
    except BlockingIOError:
        sent = 0
    for part in parts:
        size = len(part)
        if sent >= size:
            sent -= size
            continue
        if sent:
            with memoryview(part) as view:
                await _send_on_socket(connection, view[sent:])
            sent = 0
        else:
            await _send_on_socket(connection, part)


async def _send_parts_in_turn(
    send_all: Callable[[bytes | memoryview], Awaitable[None]], parts: list[bytes | memoryview]
) -> None:
    """Send *parts* in order, one ``send_all`` each (streams without ``sendmsg``: TLS...)."""
    for part in parts:
        await send_all(part)


def _byte_view(body: bytes | bytearray | memoryview) -> memoryview:
    """*body* as a flat memoryview of unsigned bytes (its ``len`` is then its size in bytes)."""
    view = body if isinstance(body, memoryview) else memoryview(body)
    if view.ndim != 1 or view.format != "B":
        view = view.cast("B")
    return view


def _read_size(left: int) -> int:
    """Bytes to ask per read when *left* bytes of the body are known to be on their way (the rest
    of a Content-Length body or of a chunk; 0 when unknown)."""
    return left if READ_SIZE < left < LARGE_READ_SIZE else LARGE_READ_SIZE if left > READ_SIZE else READ_SIZE


def _size(body: bytes | bytearray | memoryview) -> int:
    """The size of a bytes-like body in bytes (a memoryview's ``len`` counts items)."""
    return body.nbytes if isinstance(body, memoryview) else len(body)


def _length_mismatch(size: int, declared: int) -> FramingError:
    """The cause of a request body that does not match its declared Content-Length."""
    return FramingError(f"a request body of {size} bytes or more does not match Content-Length: {declared}")


def _origin_text(origin: Origin) -> str:
    scheme, host, port = origin
    return f"{scheme}://{host_port(host, port)}"


def _header_pairs(head: Head) -> list[tuple[str, str]]:
    """The head's headers as ``(lower-case name, value)`` strings, decoded as ``Response.headers``
    decodes the raw pairs of :meth:`NativeEngine.fetch` (httpx's rule: ASCII, else UTF-8, else
    Latin-1), so a streamed and a fetched response show the same values."""
    raw = head.headers
    try:  # all ASCII (almost every response): decoded here, as httpx would decode them
        return [(name.decode("ascii").lower(), value.decode("ascii")) for name, value in raw]
    except UnicodeDecodeError:
        return httpx.Headers(raw).multi_items()


class NativeResponse:
    """A response whose status line and headers have arrived (implements ``WireResponse``).

    Attributes:
        status_code: the HTTP status.
        reason: the reason phrase (may be empty).
        http_version: ``"1.1"`` or ``"1.0"``.
        headers: ``(name, value)`` pairs in order; names are lower-case.
    """

    __slots__ = ("_exchange", "headers", "http_version", "reason", "status_code")

    def __init__(self, exchange: _Exchange, head: Head) -> None:
        self._exchange = exchange
        self.status_code: int = head.status_code
        self.reason: str = head.reason.decode("latin-1")
        self.http_version: str = head.http_version.decode("ascii")
        self.headers: list[tuple[str, str]] = _header_pairs(head)

    def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as received (still content-encoded), chunk by chunk, at most 256 KiB each.

        Blocks until data arrives. The iterator ends when the body is complete.

        Raises:
            pynector.ReadError: the connection failed or closed before the body was complete, or the
                response block was already left.
            pynector.ProtocolError: the body framing is malformed (bad chunk size...) or the server sent
                bytes after the end of the response.
        """
        return self._exchange

    def __repr__(self) -> str:
        return f"<NativeResponse [{self.status_code}]>"


class _Exchange:
    """One request/response exchange: the async context manager :meth:`NativeEngine.send` returns,
    and the body iterator of its response."""

    __slots__ = (
        "_closed",
        "_complete",
        "_connection",
        "_engine",
        "_eof",
        "_lease",
        "_received",
        "_request",
    )

    def __init__(self, engine: NativeEngine, request: WireRequest) -> None:
        self._engine = engine
        self._request = request
        self._lease: Lease[_Connection] | None = None
        self._connection: _Connection | None = None
        self._received = False  # any response byte arrived on the current connection
        self._eof = False
        self._complete = False  # the response body ended (EndOfMessage seen)
        self._closed = False

    # --- context manager ----------------------------------------------------------------------

    async def __aenter__(self) -> NativeResponse:
        head = await self._open(math.inf)
        if head.chunked and head.content_length is not None:  # (as in fetch)
            error = conflicting_framing_error(self._describe())
            await self.__aexit__(type(error), error, None)  # not reused: closed
            raise error
        return NativeResponse(self, head)

    async def _open(self, deadline: float) -> Head:
        """Lease a connection, send the request and read the response head (resending once on a fresh
        connection when a reused one turns out to be stale), every wait bounded by *deadline*. On
        failure the lease is released.

        Raises:
            trio.TooSlowError: *deadline* passed while waiting.
            As :meth:`NativeEngine.send` otherwise.
        """
        request = self._request
        engine = self._engine
        pool = engine._pool
        if engine._closed:
            raise engine._closed_error()
        fresh = False
        while True:
            origin = request.origin
            lease = await pool.acquire(
                engine._pool_key(origin) if engine._proxied else origin, fresh=fresh, deadline=deadline
            )
            self._lease = lease
            connection = self._connection = lease.connection
            connection.deadline = deadline
            self._received = self._eof = False
            write_failure: WriteError | None = None
            try:
                parser = connection.parser
                try:
                    head = engine._request_head(request)
                except FramingError as exc:
                    raise self._framing_error() from exc
                parser.start(request.method.encode("ascii"), keep_alive=head[2])
                try:
                    whole = self._frame_whole(head)
                    if whole is None:
                        await self._write_request(connection, head)
                    else:
                        try:  # _send_all inlined: the path of almost every request
                            await connection.send_request(whole)
                        except _IO_ERRORS as exc:
                            raise self._write_error(exc) from exc
                    parser.request_done = True
                except WriteError as exc:
                    # A server may answer before it has read the whole request, then stop reading
                    # and close (an early 413 with Connection: close): its answer is read below and
                    # returned; only without one is the failed write the error.
                    write_failure = exc
                # The response head (1xx responses are skipped by the parser; the head size,
                # complete or not, is bounded by it too).
                while True:
                    try:
                        response = parser.next_head()
                    except ParseError as exc:
                        raise self._remote_error(exc, in_body=False) from exc
                    if response is not None:
                        return response
                    parser.receive_data(await self._receive())
            except TransportError as failure:
                self._lease = self._connection = None
                await pool.release(lease)
                if write_failure is not None and failure is not write_failure and not self._received:
                    failure = write_failure  # no answer came: the failed write is what happened
                if not fresh and may_resend(request, lease.reused, self._received):
                    fresh = True  # the server closed the idle connection under us: once more, anew
                    continue
                raise failure
            except BaseException:
                self._lease = self._connection = None
                await pool.release(lease)
                raise

    async def fetch_within(self, max_bytes: int | None, what: object, deadline: float) -> WireBody:
        """:meth:`fetch` in one cancel scope bounded by *deadline* (for connections whose I/O goes
        through trio streams, which do not wait through the connection's ``wait_for``)."""
        try:
            waits = self._engine._pool.waits
            return await waits.wait(deadline, self.fetch, max_bytes, what, math.inf)
        except trio.TooSlowError as exc:
            raise self._deadline_error() from exc

    async def fetch(self, max_bytes: int | None, what: object, deadline: float) -> WireBody:
        """The whole exchange for :meth:`NativeEngine.fetch`: open, read the body, release; every
        wait bounded by *deadline*, and the clock checked before each further read of the body (a
        body that keeps arriving never waits).

        Raises:
            DeadlineExpired: *deadline* passed.
            As :meth:`NativeEngine.fetch` otherwise.
        """
        try:
            head = await self._open(deadline)
            try:
                # Raw pairs, decoded only if someone reads the response's headers (most never do).
                # The framing fields as the parser read them (the same as scanning the headers: one
                # Content-Length value survives the parser, and chunked means a Transfer-Encoding).
                headers = head.headers
                length = head.content_length
                if head.chunked and length is not None:
                    raise conflicting_framing_error(self._describe())
                if max_bytes is not None:
                    check_declared_length(self._request.method, head.status_code, length, max_bytes, what)
                # The body loop of __anext__, without a coroutine per chunk.
                connection = self._connection
                assert connection is not None
                parser = connection.parser
                chunks: list[bytes] = []
                size = 0
                left = parser.length_left()
                if _BUFFERED_MIN < left <= _BUFFERED_MAX and connection.receive_into is not None:
                    chunks.append(await self._read_into(connection, left))
                    size = left
                while True:
                    try:
                        piece = parser.next_body()
                    except ParseError as exc:
                        raise self._remote_error(exc, in_body=True) from exc
                    if piece is None:
                        if deadline != math.inf and trio.current_time() >= deadline:
                            raise trio.TooSlowError
                        parser.receive_data(await self._receive(_read_size(parser.body_wanted())))
                    elif piece is END:
                        self._end_of_body(parser)
                        break
                    else:
                        data: bytes = piece  # type: ignore[assignment]
                        size += len(data)
                        if max_bytes is not None and size > max_bytes:
                            raise body_too_large(what, max_bytes, "raw")
                        chunks.append(data)
            except BaseException as exc:
                await self.__aexit__(type(exc), exc, exc.__traceback__)
                raise
            lease = self._detach(clean=True)
            if lease is not None:
                pool = self._engine._pool
                if not pool.try_park(lease):
                    await pool.release(lease)
            return WireBody(
                head.status_code,
                head.reason.decode("latin-1"),
                head.http_version.decode("ascii"),
                headers,
                chunks[0] if len(chunks) == 1 else b"".join(chunks),
            )
        except trio.TooSlowError as exc:
            raise self._deadline_error() from exc

    def _deadline_error(self) -> DeadlineExpired:
        return DeadlineExpired(f"{self._describe()}: the exchange's deadline passed")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        lease = self._detach(clean=exc_type is None)
        if lease is not None:
            await self._engine._pool.release(lease)

    def _detach(self, clean: bool) -> Lease[_Connection] | None:
        """End the exchange: the lease to release (``None`` if there is none any more), marked
        reusable only after a *clean* exit from a complete exchange that left the connection idle."""
        self._closed = True
        lease = self._lease
        if lease is None:
            return None
        self._lease = None
        if clean:
            parser = lease.connection.parser
            if not self._complete:
                self._drain_buffered(parser)
            if self._complete and parser.reusable():
                parser.start(b"GET")
                lease.reusable = True
        return lease

    def _drain_buffered(self, parser: ResponseParser) -> None:
        """Finish the body from bytes already buffered (HEAD, 204/304, small unread bodies), no I/O."""
        try:
            while True:
                piece = parser.next_body()
                if piece is END:
                    self._complete = True
                    return
                if piece is None:
                    return
        except ParseError:
            return

    # --- writing -------------------------------------------------------------------------------

    def _describe(self) -> str:
        request = self._request
        return f"{request.method} {_origin_text(request.origin)}"

    def _write_error(self, exc: BaseException) -> WriteError:
        return WriteError(f"{self._describe()} failed while sending the request: {describe_exception(exc)}")

    async def _send_all(self, connection: _Connection, data: bytes | memoryview) -> None:
        try:
            await connection.send_all(data)
        except _IO_ERRORS as exc:
            raise self._write_error(exc) from exc

    async def _send_parts(self, connection: _Connection, parts: list[bytes | memoryview]) -> None:
        try:
            await connection.send_parts(parts)
        except _IO_ERRORS as exc:
            raise self._write_error(exc) from exc

    def _framing_error(self) -> ProtocolError:
        # The framing error may quote a header name (a secret, perhaps): it stays in __cause__ only.
        return ProtocolError(
            f"{self._describe()}: the request could not be framed (an invalid header, or a body "
            "whose length does not match its Content-Length)"
        )

    def _frame_whole(self, head: RequestHead) -> bytes | None:
        """The whole request framed (head and body) when its body is bytes of at most 64 KiB, to be
        written in one ``send_all``; ``None`` for larger and streamed bodies (see
        :meth:`_write_request`).

        Raises:
            pynector.ProtocolError: the body does not match its declared Content-Length.
        """
        body = self._request.body
        if not isinstance(body, (bytes, bytearray, memoryview)):
            return None
        size = _size(body)
        if size > _COALESCE_LIMIT:
            return None
        length = head[1]
        if length < 0:
            if not body:
                return head[0] + b"0\r\n\r\n"
            return b"".join((head[0], b"%x\r\n" % size, body, b"\r\n0\r\n\r\n"))
        if size != length:
            raise self._framing_error() from _length_mismatch(size, length)
        return head[0] + body if body else head[0]

    async def _write_request(self, connection: _Connection, head: RequestHead) -> None:
        """Write a request whose body is larger than 64 KiB or streamed. A bytes-like body goes out
        with its head in one ``sendmsg`` where the socket has it; a streamed one after the head, as
        it comes; large chunks are sent as they are, never concatenated or copied.

        Raises:
            pynector.ProtocolError: the body does not match its declared Content-Length (checked
                before a byte too many is sent).
            pynector.WriteError: the connection failed while sending.
        """
        body = self._request.body
        length = head[1]
        if isinstance(body, (bytes, bytearray, memoryview)):
            # Head and body in one sendmsg where the socket has it; the body is never copied.
            view = _byte_view(body)
            size = len(view)
            if length < 0:
                framed = [b"%x\r\n" % size, view, b"\r\n0\r\n\r\n"] if size else [b"0\r\n\r\n"]
                await self._send_parts(connection, [head[0], *framed])
            elif size != length:
                raise self._framing_error() from _length_mismatch(size, length)  # before any write
            else:
                await self._send_parts(connection, [head[0], view])
            return
        await self._send_all(connection, head[0])
        sent = 0
        if isinstance(body, AsyncIterable):
            # The caller's iterator may wait for anything: the exchange's deadline bounds that too.
            waits = connection.pool.waits
            sent = await waits.wait(connection.deadline, self._send_iterable, connection, body, length)
        else:
            for chunk in body:
                sent = await self._send_data(connection, chunk, length, sent)
        if length < 0:
            await self._send_all(connection, b"0\r\n\r\n")
        elif sent != length:
            raise self._framing_error() from _length_mismatch(sent, length)

    async def _send_iterable(self, connection: _Connection, body: AsyncIterable[object], length: int) -> int:
        """Send the chunks of an async iterable body; the bytes sent."""
        sent = 0
        async for chunk in body:
            sent = await self._send_data(connection, chunk, length, sent)
        return sent

    async def _send_data(self, connection: _Connection, chunk: object, length: int, sent: int) -> int:
        """Send one body chunk (chunk-framed when *length* is -1); the bytes sent so far, after it."""
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"request body chunks must be bytes, got {type(chunk).__name__}")
        view = _byte_view(chunk)
        size = len(view)
        if not size:
            return sent
        if length >= 0:
            if sent + size > length:
                raise self._framing_error() from _length_mismatch(sent + size, length)
            await self._send_all(connection, view)
        elif size <= _COALESCE_LIMIT:
            await self._send_all(connection, b"".join((b"%x\r\n" % size, view, b"\r\n")))
        else:
            await self._send_parts(connection, [b"%x\r\n" % size, view, b"\r\n"])
        return sent + size

    # --- reading -------------------------------------------------------------------------------

    async def _read_into(self, connection: _Connection, left: int) -> bytes:
        """The rest of a Content-Length body of *left* bytes, read into one of the engine's reusable
        buffers and handed out as one ``bytes`` (one copy; no pieces to join). Blocks until the whole
        body arrived.

        A buffer grows with the bytes that arrive (at most fourfold each time it is full), not with
        what the head declares: a server that declares 16 MiB and sends nothing costs a buffer of
        256 KiB, as many pieces would have.

        Raises:
            pynector.ReadError: the connection failed or closed before the body was complete.
        """
        receive_into = connection.receive_into
        assert receive_into is not None
        parser = connection.parser
        buffers = self._engine._body_buffers
        buffer = buffers.pop() if buffers else bytearray(_FIRST_BUFFER_SIZE)
        try:
            filled = 0
            while True:
                with memoryview(buffer) as view:
                    if not filled:
                        filled = parser.take_body_into(view[:left])
                    end = min(left, len(buffer))
                    while filled < end:
                        try:
                            with view[filled:end] as rest:
                                got = await receive_into(rest)
                        except _IO_ERRORS as exc:
                            raise self._read_error(exc) from exc
                        if not got:  # closed early: the parser says so, as for any body
                            self._eof = True
                            parser.receive_data(b"")
                            try:
                                parser.next_body()
                            except ParseError as exc:
                                raise self._remote_error(exc, in_body=True) from exc
                            raise AssertionError("unreachable: a Content-Length body ended early")
                        self._received = True
                        parser.body_received(got)
                        filled += got
                    if filled == left:
                        return bytes(view[:left])
                # Full, and more to come: a larger buffer (the views on this one are released).
                larger = bytearray(min(left, 4 * len(buffer)))
                larger[:filled] = buffer
                buffer = larger
        finally:
            if sum(map(len, buffers)) + len(buffer) <= _IDLE_BUFFER_BYTES:
                buffers.append(buffer)

    async def _receive(self, size: int = READ_SIZE) -> bytes:
        connection = self._connection
        assert connection is not None
        try:
            data = await connection.receive_some(size)
        except _IO_ERRORS as exc:
            raise self._read_error(exc) from exc
        if data:
            self._received = True
        else:
            self._eof = True
        return data  # type: ignore[return-value]  # bytearray from SSLStream; the parser takes both

    def _read_error(self, exc: BaseException) -> ReadError:
        return ReadError(f"{self._describe()} failed while reading the response: {describe_exception(exc)}")

    def _remote_error(self, exc: ParseError, in_body: bool) -> TransportError:
        if self._eof:
            where = "the response body was complete" if in_body else "a complete response head arrived"
            if not in_body and not self._received:
                return ReadError(f"{self._describe()}: the server closed the connection without a response")
            return ReadError(f"{self._describe()}: the server closed the connection before {where}")
        if exc.too_large:
            limit = self._engine._max_header_bytes
            return ProtocolError(f"{self._describe()}: the response head exceeds max_header_bytes={limit}")
        part = "body" if in_body else "head"
        return ProtocolError(f"{self._describe()}: malformed response {part}: {exc}")

    def __aiter__(self) -> _Exchange:
        return self

    async def __anext__(self) -> bytes:
        if self._complete:
            raise StopAsyncIteration
        connection = self._connection
        if self._closed or connection is None:
            raise ReadError(f"{self._describe()}: the response body was read after its block was left")
        parser = connection.parser
        while True:
            try:
                piece = parser.next_body()
            except ParseError as exc:
                raise self._remote_error(exc, in_body=True) from exc
            if piece is None:
                parser.receive_data(await self._receive(_read_size(parser.body_wanted())))
            elif piece is END:
                self._end_of_body(parser)
                raise StopAsyncIteration
            else:
                return piece  # type: ignore[return-value]

    def _end_of_body(self, parser: ResponseParser) -> None:
        """The body ended: mark the exchange complete, unless bytes follow it.

        Raises:
            pynector.ProtocolError: the server sent bytes after the response.
        """
        self._complete = True
        extra = parser.trailing
        if extra:
            raise ProtocolError(
                f"{self._describe()}: the server sent {extra} unexpected byte(s) after the response"
            )


class NativeEngine:
    """HTTP/1.1 over pooled trio streams (the ``"http"`` engine).

    Args:
        max_connections: the most connections open at once (default 100).
        max_connections_per_origin: the most connections to one origin (default: ``max_connections``).
        max_keepalive_connections: the most idle connections kept for reuse (default:
            ``max_connections``).
        keepalive_expiry: seconds an idle connection is kept, or ``None`` for no limit (default 5.0).
        connect_timeout: seconds allowed to open a connection, TLS handshake included, or ``None``
            (default 10.0).
        verify: ``True`` (verify certificates with the system store), ``False`` (do not verify; only for
            tests), or an :class:`ssl.SSLContext` to use as is.
        max_header_bytes: the largest response head (status line plus headers) accepted (default 64 KiB).
        http2: not supported here; ``True`` raises (use ``transport_type="httpx"``).
        proxy: an ``http://[user:pass@]host:port`` proxy for every request: http requests are sent
            to it in absolute form, https requests through a ``CONNECT`` tunnel, then TLS with the
            origin. Its credentials are sent as ``Proxy-Authorization`` and never shown.
        trust_env: without *proxy*, read ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and
            ``NO_PROXY`` (lower case too) as httpx does (default True); ``False`` ignores them.
        server_hostname: the TLS server name (SNI) and the name the certificate is checked against,
            instead of the URL's host, for every https connection (connecting to an IP address or
            an internal name while the certificate names the public host).

    Raises:
        pynector.ConfigurationError: for any invalid option, for ``http2=True``, and for a proxy that
            is not an http:// URL (SOCKS needs ``transport_type="httpx"``).
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        max_connections_per_origin: int | None = None,
        max_keepalive_connections: int | None = None,
        keepalive_expiry: float | None = 5.0,
        connect_timeout: float | None = 10.0,
        verify: bool | ssl.SSLContext = True,
        max_header_bytes: int = 65536,
        http2: bool = False,
        proxy: str | None = None,
        trust_env: bool = True,
        server_hostname: str | None = None,
    ) -> None:
        if http2 is not False:
            raise ConfigurationError(
                'HTTP/2 is not supported by the native "http" engine; use transport_type="httpx" '
                "(with the pynector-trio[http2] extra)"
            )
        if not isinstance(trust_env, bool):
            raise ConfigurationError(f"trust_env must be True or False, got {trust_env!r}")
        self._proxies = ProxyResolver(proxy, trust_env)
        self._proxied = self._proxies.active  # read on every request: a plain attribute
        self._proxy_keys: dict[Origin, PoolKey] = {}
        if server_hostname is not None and (not isinstance(server_hostname, str) or not server_hostname):
            raise ConfigurationError(f"server_hostname must be a host name, got {server_hostname!r}")
        self._server_hostname = server_hostname
        max_connections = validate_count(max_connections, "max_connections", 1)
        per_origin = (
            max_connections
            if max_connections_per_origin is None
            else validate_count(max_connections_per_origin, "max_connections_per_origin", 1)
        )
        keepalive = (
            max_connections
            if max_keepalive_connections is None
            else validate_count(max_keepalive_connections, "max_keepalive_connections", 0)
        )
        expiry = validate_timeout(keepalive_expiry, "keepalive_expiry")
        self._connect_timeout = validate_timeout(connect_timeout, "connect_timeout")
        self._max_header_bytes = validate_count(max_header_bytes, "max_header_bytes", 1024)
        if not isinstance(verify, (bool, ssl.SSLContext)):
            raise ConfigurationError(
                f"verify must be True, False or an ssl.SSLContext, got {type(verify).__name__} {verify!r}"
            )
        self._verify = verify
        self._ssl_context: ssl.SSLContext | None = None  # built on the first https connection
        self._pool: ConnectionPool[PoolKey, _Connection] = ConnectionPool(
            self._open_connection,
            max_connections=max_connections,
            max_per_key=per_origin,
            max_idle_per_key=min(keepalive, per_origin),
            max_idle=keepalive,
            idle_timeout=expiry,
            is_usable=_Connection.is_usable,
        )
        self._host_headers: dict[Origin, str] = {}
        self._request_heads: dict[tuple[object, ...], RequestHead] = {}
        self._body_buffers: list[bytearray] = []  # see _Exchange._read_into
        self._closed = False

    def _get_ssl_context(self) -> ssl.SSLContext:
        """The TLS context, built once (loading the system trust store takes ~40 ms)."""
        if self._ssl_context is not None:
            return self._ssl_context
        verify = self._verify
        if isinstance(verify, ssl.SSLContext):
            self._ssl_context = verify  # the user's context, used as given (we do not mutate it)
            return verify
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["http/1.1"])
        self._ssl_context = context
        return context

    def statistics(self) -> PoolStatistics:
        """Connections open, idle, in use, and tasks waiting for one (a frozen snapshot)."""
        return self._pool.statistics()

    def send(self, request: WireRequest) -> _Exchange:
        """Send *request*; entering the returned context yields the response once its head arrived.

        Entering blocks while the pool is at its limits, while connecting and while waiting for the
        response head; leaving releases the connection (reused only after a clean, complete exchange).

        Raises:
            pynector.ConnectError: the connection could not be opened (refused, unknown host...).
            pynector.ConnectTimeout: opening it took longer than ``connect_timeout``.
            pynector.TLSError: the TLS handshake failed (the message gives the verification reason).
            pynector.WriteError: the connection failed while sending.
            pynector.ReadError: it failed or closed before the response head arrived.
            pynector.ProtocolError: the response is malformed or its head exceeds ``max_header_bytes``.
            pynector.ClientClosedError: the engine was closed.
        """
        return _Exchange(self, request)

    #: :meth:`fetch` keeps the exchange's total deadline itself (see :class:`~pynector.http.HTTPEngine`).
    keeps_deadline = True

    def fetch(
        self, request: WireRequest, max_bytes: int | None, what: object, deadline: float = math.inf
    ) -> Coroutine[Any, Any, WireBody]:
        """Send *request* and read its whole raw body (see :meth:`pynector.http.HTTPEngine.fetch`),
        all of it before *deadline* (trio's clock).

        ``send`` and the body read in one coroutine (returned as is, not wrapped in one more: it is
        awaited on every request), with the same connection rules: released, and reused only after a
        clean and complete exchange, before the await returns or raises.

        On plain TCP (POSIX) only the waits are bounded (for a slot, a connection, the socket, a
        streamed request body), one cancel scope each, and the clock is read before each further
        read of the body: at full load most exchanges never wait, and a scope around the whole
        exchange was a sixth of a small request's CPU time. TLS connections, whose reads go
        through trio's streams, have one scope around the whole exchange.

        Blocks until the body has been read, at most until *deadline*.

        Raises:
            pynector.TimeoutError: *deadline* passed (a private subclass that the shared layer
                reports with the request and its timeout).
            pynector.ProtocolError: the body is larger than *max_bytes*, or as :meth:`send`.
            pynector.ReadError: the connection failed or closed before the body was complete.
            pynector.ClientClosedError: the engine was closed, before or during the exchange.
            As :meth:`send` otherwise.
        """
        exchange = _Exchange(self, request)
        if _POSIX and request.origin[0] == "http":  # (a plain TCP connection: see _Connection)
            return exchange.fetch(max_bytes, what, deadline)
        return exchange.fetch_within(max_bytes, what, deadline)

    async def __aenter__(self) -> NativeEngine:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every idle connection; connections in use close when their exchange ends.

        Idempotent and safe to call from a cancelled scope.
        """
        self._closed = True
        self._body_buffers.clear()
        await self._pool.aclose()

    def _closed_error(self) -> PynectorError:
        return ClientClosedError("the HTTP engine is closed")

    def _request_head(self, request: WireRequest) -> RequestHead:
        """The request head for *request* (Host and body framing headers added), as bytes to write.

        Validating and writing a head costs more than the rest of the engine's per-request work,
        and clients repeat the same few requests: so heads are cached by what determines them
        (method, target, headers and, for bytes bodies, the length). The cache lives as long as the
        engine, like the connections that carry the same headers, and is bounded.

        Raises:
            FramingError: an invalid method, target or header (nothing is cached then).
        """
        body: Body = request.body
        is_bytes = isinstance(body, (bytes, bytearray, memoryview))
        headers_key = request.headers if type(request.headers) is tuple else tuple(request.headers)
        length = _size(body) if is_bytes else -1  # type: ignore[arg-type]
        key: tuple[object, ...] | None = (request.method, request.target, headers_key, request.origin, length)
        try:
            head = self._request_heads.get(key)  # type: ignore[arg-type]
        except TypeError:  # unhashable header pairs (lists): build the head without caching it
            key = head = None
        if head is not None:
            return head
        headers: list[tuple[str, str]] = [("Host", self._host_header(request))]
        target = request.target
        proxy = self._forward_proxy(request.origin)
        if proxy is not None:  # absolute form, to the proxy
            target = f"{_origin_text(request.origin)}{target}"
            if proxy.authorization is not None:
                headers.append(("Proxy-Authorization", proxy.authorization))
        has_length = has_chunked = close = False
        for name, value in request.headers:
            lowered = name.lower()
            if lowered == "content-length":
                has_length = True
            elif lowered == "transfer-encoding":
                has_chunked = True
            elif lowered == "connection":
                close = close or "close" in [item.strip() for item in value.lower().split(",")]
            headers.append((name, value))
        if is_bytes:
            if not has_length and not has_chunked and (length or request.method in _EXPECTS_BODY):
                headers.append(("Content-Length", str(length)))
        elif not has_length and not has_chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        raw, declared = frame_request_head(request.method, target, headers)
        head = (raw, declared, not close)
        if key is not None:
            if len(self._request_heads) >= _HEAD_CACHE_SIZE:
                self._request_heads.clear()
            self._request_heads[key] = head
        return head

    def _host_header(self, request: WireRequest) -> str:
        origin = request.origin
        value = self._host_headers.get(origin)
        if value is None:
            scheme, host, port = origin
            value = host_port(host, None if DEFAULT_PORTS.get(scheme) == port else port)
            if len(self._host_headers) < 1024:
                self._host_headers[origin] = value
        return value

    def _pool_key(self, origin: Origin) -> PoolKey:
        """The pool key for *origin*: the origin itself, plus the proxy if one is used for it."""
        if not self._proxied:
            return origin
        key = self._proxy_keys.get(origin)
        if key is None:
            proxy = self._proxies.proxy_for(*origin)
            key = origin if proxy is None else (*origin, proxy)
            if len(self._proxy_keys) < 1024:
                self._proxy_keys[origin] = key
        return key

    def _forward_proxy(self, origin: Origin) -> Proxy | None:
        """The proxy an http request to *origin* is sent to in absolute form, if any."""
        if origin[0] != "http" or not self._proxied:
            return None
        key = self._pool_key(origin)
        return key[3] if len(key) == 4 else None

    async def _open_connection(self, key: PoolKey) -> _Connection:
        scheme, host, port = key[0], key[1], key[2]
        proxy = key[3] if len(key) == 4 else None
        origin: Origin = (scheme, host, port)
        if scheme not in DEFAULT_PORTS:
            raise ConfigurationError(f"unsupported URL scheme {scheme!r}; expected 'http' or 'https'")
        where = _origin_text(origin)
        if proxy is not None:
            where = f"{where} through proxy {proxy.redacted}"
        timeout = self._connect_timeout

        def handshake_failed(exc: BaseException) -> Exception:
            cls = (
                TLSError
                if isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError)
                else ConnectError
            )
            return cls(f"TLS handshake with {where} failed: {describe_exception(exc)}")

        with map_exceptions(
            {
                trio.TooSlowError: lambda exc: ConnectTimeout(
                    f"connecting to {where} took longer than connect_timeout={timeout}s"
                ),
                ssl.SSLError: handshake_failed,
                trio.BrokenResourceError: handshake_failed,
                OSError: lambda exc: ConnectError(f"connecting to {where} failed: {describe_exception(exc)}"),
            }
        ):
            if timeout is None:
                stream = await self._connect(scheme, host, port, proxy)
            else:
                with trio.fail_after(timeout):
                    stream = await self._connect(scheme, host, port, proxy)
        return _Connection(stream, self._max_header_bytes, self._pool)

    async def _connect(self, scheme: str, host: str, port: int, proxy: Proxy | None) -> trio.abc.Stream:
        server_hostname = self._server_hostname or host
        if proxy is None:
            if scheme == "http":
                return await open_tcp_stream(host, port)
            return await open_tcp_stream(
                host, port, self._get_ssl_context(), server_hostname=server_hostname, https_compatible=True
            )
        tcp = await open_tcp_stream(proxy.host, proxy.port)
        if scheme == "http":
            return tcp
        try:
            await open_tunnel(tcp, host, port, proxy)
            tls = trio.SSLStream(
                tcp, self._get_ssl_context(), server_hostname=server_hostname, https_compatible=True
            )
            await tls.do_handshake()
        except BaseException:
            await close_quietly(tcp)
            raise
        return tls


_ENGINE_OPTIONS = frozenset(
    {
        "max_connections",
        "max_connections_per_origin",
        "max_keepalive_connections",
        "keepalive_expiry",
        "connect_timeout",
        "verify",
        "max_header_bytes",
        "http2",
        "proxy",
        "trust_env",
        "server_hostname",
    }
)


def create_native_transport(**options: Any) -> HTTPTransport:
    """Create an :class:`HTTPTransport` over a :class:`NativeEngine` (registered as ``"http"``).

    Engine options (``max_connections``, ``max_connections_per_origin``, ``max_keepalive_connections``,
    ``keepalive_expiry``, ``connect_timeout``, ``verify``, ``max_header_bytes``, ``proxy``,
    ``trust_env``, ``server_hostname``; ``http2`` is refused with a pointer to ``"httpx"``) go to
    :class:`NativeEngine`, the rest to
    :class:`HTTPTransport`.

    Raises:
        pynector.ConfigurationError: for an invalid or unknown option.
    """
    engine_options = {name: options.pop(name) for name in list(options) if name in _ENGINE_OPTIONS}
    return HTTPTransport(NativeEngine(**engine_options), **options)
