"""Framed request/response transports over trio streams: ``"tcp"`` (optionally TLS) and ``"unix"``.

One exchange = one pooled connection. ``exchange(data)`` serialises *data* (bytes, or a message
with ``serialize()`` when ``message_type`` is set), frames it, checks a connection out of the core
:class:`~pynector._pool.ConnectionPool`, writes the frame, reads exactly one reply frame, and hands the
connection back only if the exchange ended cleanly with nothing left in the read buffer
(``lease.reusable = True`` is the very last step). Any interruption (cancellation, timeout, a
truncated or oversized reply, a reset) closes the connection instead, so a late reply can never be
read by the next request. Concurrent exchanges use different connections, up to ``max_connections``;
beyond that they queue in the pool. Raw framing ends each reply with EOF, so its connections are never
reused.

Before an idle connection is reused, its socket is checked for something to read
(:class:`~pynector._pool.IdleProbe`, one non-blocking poll). A readable idle connection was either
closed by the server or received bytes nobody asked for (a late or multi-part reply, a pushed line such
as redis ``MONITOR`` or pub/sub output); both are discarded, because those bytes would otherwise be
read as the next request's reply. The check can still lose a race with a server closing the idle
connection: when an exchange on a *reused* connection fails before a single reply byte arrived (EOF,
reset, a failed write), the connection is discarded and the exchange runs once more, on a freshly
opened connection (``pool.acquire(fresh=True)``), whose failure is final. This is the classic
keep-alive race; the one case where it repeats a request the server did process is a server that
read the request and then closed without replying a single byte.

Errors are mapped where they happen, because only there is it known what was being done:

- while connecting: :class:`pynector.ConnectTimeout` (``connect_timeout``), :class:`pynector.TLSError`
  (certificate or handshake failure, with the verification reason), :class:`pynector.ConnectError`;
- while sending: :class:`pynector.WriteError`; while receiving: :class:`pynector.ReadError` (reset,
  EOF before or inside the reply) or :class:`pynector.ProtocolError` (oversized reply);
- the transport closed while the exchange was in flight: :class:`pynector.ClientClosedError`.

``trio.open_tcp_stream`` reports a failed connect as ``OSError("all attempts ... failed")`` whose
cause is an ExceptionGroup of the per-address errors; the message we raise names the underlying OS
error (for example ``ConnectionRefusedError: [Errno 111] Connection refused``), and no group escapes.
"""

from __future__ import annotations

import math
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from .._config import validate_concurrency, validate_timeout
from .._errors import (
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    ConnectTimeout,
    DeserializationError,
    MessageError,
    ProtocolError,
    PynectorError,
    ReadError,
    SerializationError,
    TLSError,
    WriteError,
    describe_exception,
)
from .._exctools import iter_chain, map_exceptions
from .._net import host_port, open_tcp_stream
from .._pool import ConnectionPool, IdleProbe, PoolStatistics, close_quietly
from ..framing import FramedStream, Framing, Reply, make_framing
from ._base import closed_error

__all__ = ["StreamTransport", "TCPTransport", "UnixTransport", "resolve_message_type"]

#: Default seconds a connect (including the TLS handshake) may take.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Default pool size: the most connections (hence concurrent exchanges) per transport.
DEFAULT_MAX_CONNECTIONS = 10

_MESSAGE_TYPE_NAMES = {"json": "JsonMessage", "binary": "BinaryMessage"}


def resolve_message_type(message_type: object) -> Any:
    """Return the message class for *message_type* (a class, ``"json"``, ``"binary"`` or ``None``).

    ``"json"`` and ``"binary"`` import :mod:`pynector.message` lazily.

    Raises:
        pynector.ConfigurationError: unknown name, or a class without ``serialize``/``deserialize``.
    """
    if message_type is None:
        return None
    if isinstance(message_type, str):
        class_name = _MESSAGE_TYPE_NAMES.get(message_type)
        if class_name is None:
            raise ConfigurationError(
                f"message_type must be 'json', 'binary' or a message class, got {message_type!r}"
            )
        try:
            from .. import message  # type: ignore[attr-defined, unused-ignore]

            return getattr(message, class_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"message_type={message_type!r} needs pynector.message.{class_name}, which is not "
                f"available: {describe_exception(exc)}"
            ) from exc
    if not (
        isinstance(message_type, type)
        and callable(getattr(message_type, "serialize", None))
        and callable(getattr(message_type, "deserialize", None))
    ):
        raise ConfigurationError(
            "message_type must be a class with serialize() -> bytes and a classmethod "
            f"deserialize(bytes), got {message_type!r}"
        )
    return message_type


def _leaf_errors(exc: BaseException) -> list[BaseException]:
    """The chain of *exc* (causes and contexts), with exception groups opened up."""
    return [current for current in iter_chain(exc) if not isinstance(current, BaseExceptionGroup)]


def connect_error(exc: Exception, label: str) -> PynectorError:
    """Map a failed connect (OSError, ssl, trio) to :class:`~pynector.TLSError` or ``ConnectError``."""
    if isinstance(exc, PynectorError):
        return exc
    leaves = _leaf_errors(exc)
    tls = next((leaf for leaf in leaves if isinstance(leaf, ssl.SSLError)), None)
    if tls is not None:
        return TLSError(f"TLS handshake with {label} failed: {describe_exception(tls)}")
    root = next((leaf for leaf in reversed(leaves) if isinstance(leaf, OSError) and leaf.errno), exc)
    return ConnectError(f"connecting to {label} failed: {describe_exception(root)}")


class StreamTransport:
    """Framed, pooled request/response exchanges over trio streams.

    The base of :class:`TCPTransport`, :class:`UnixTransport` and the framed memory transport; it
    works with any coroutine function that opens a :class:`trio.abc.Stream`.

    Args:
        open_stream: opens one connection (called by the pool when it needs a new one).
        name: the transport's name in messages (``"tcp"``).
        label: the peer in messages (``"tcp://127.0.0.1:9000"``).
        framing: ``"line"`` (default), ``"length"``, ``"raw"``, ``"resp"`` (redis) or a
            :class:`~pynector.framing.Framing`.
        max_frame_size: the largest payload sent or accepted in bytes (default 16 MiB).
        delimiter: the line end of ``"line"`` framing (default ``b"\\n"``; ``b"\\r\\n"`` for redis,
            memcached and most text protocols).
        reply_decoder: for ``"line"`` framing, what reads one reply of several lines: ``"resp"`` or a
            factory of :class:`~pynector.framing.ReplyDecoder` (default: one line is one reply).
        max_connections: the pool size: the most connections, hence concurrent exchanges (10).
        message_type: a class with ``serialize() -> bytes`` and classmethod ``deserialize(bytes)``,
            or ``"json"``/``"binary"``; then ``request()`` takes and returns messages.
        connect_timeout: seconds a connect may take (default 10), or ``None``.

    Raises:
        pynector.ConfigurationError: for any invalid option.
    """

    def __init__(
        self,
        open_stream: Callable[[], Awaitable[trio.abc.Stream]],
        *,
        name: str,
        label: str,
        framing: object = "line",
        max_frame_size: object = None,
        max_connections: object = DEFAULT_MAX_CONNECTIONS,
        message_type: object = None,
        connect_timeout: object = DEFAULT_CONNECT_TIMEOUT,
        delimiter: object = None,
        reply_decoder: object = None,
    ) -> None:
        self.name = name
        self.label = label
        self._open_stream = open_stream
        self.framing: Framing = make_framing(
            framing, max_frame_size, delimiter=delimiter, reply_decoder=reply_decoder
        )
        self.max_connections = validate_concurrency(max_connections, "max_connections")
        self.message_type = resolve_message_type(message_type)
        self.connect_timeout = validate_timeout(connect_timeout, "connect_timeout")
        self._raw = self.framing.one_exchange_per_connection
        self._pool: ConnectionPool[None, FramedStream] = ConnectionPool(
            self._open_connection,
            max_connections=self.max_connections,
            is_usable=_framed_is_usable,
        )
        self._active: set[FramedStream] = set()
        self._closed = False
        self._custom_round_trip = type(self)._round_trip is not StreamTransport._round_trip
        #: Telemetry attributes of every attempt span (see ``span_attributes``); subclasses add the peer.
        self.peer_attributes: dict[str, str | int] = {
            "network.transport": name,
            "pynector.framing": self.framing.name,
        }

    # --- telemetry hooks (pynector.transport.TracedTransport) ----------------------------------

    def span_name(self, data: Any, options: Mapping[str, Any]) -> str:
        """The attempt span's name: ``"tcp exchange"``, ``"unix exchange"``..."""
        return f"{self.name} exchange"

    def span_attributes(self, data: Any, options: Mapping[str, Any]) -> Mapping[str, str | int]:
        """The peer (``server.address``, ``server.port``), transport and framing, and the payload's
        size in bytes (``pynector.request.size``, for bytes payloads); never the payload."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            return {**self.peer_attributes, "pynector.request.size": memoryview(data).nbytes}
        return self.peer_attributes

    def response_span_attributes(self, response: Any) -> Mapping[str, int]:
        """The reply's size in bytes (``pynector.response.size``), for bytes replies."""
        if isinstance(response, (bytes, bytearray, memoryview)):
            return {"pynector.response.size": memoryview(response).nbytes}
        return {}

    # --- lifecycle -----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Check the transport can be used; connections are opened on demand. Idempotent.

        Raises:
            pynector.ClientClosedError: after :meth:`disconnect`.
        """
        if self._closed:
            raise closed_error(self.name)

    async def disconnect(self) -> None:
        """Close every connection, including those of exchanges in flight. Idempotent.

        Exchanges in flight fail with :class:`pynector.ClientClosedError`. Does not block on the
        peer: connections are closed forcefully (shielded, safe in a cancelled scope).
        """
        if self._closed:
            return
        self._closed = True
        for framed in list(self._active):
            await close_quietly(framed)
        await self._pool.aclose()

    async def __aenter__(self) -> StreamTransport:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    def statistics(self) -> PoolStatistics:
        """A snapshot of the connection pool (open, idle, in use, waiters)."""
        return self._pool.statistics()

    # --- connections ---------------------------------------------------------------------------

    async def _open_connection(self, key: None) -> FramedStream:
        if self._closed:  # a request that waited for a pool slot while the transport was closed
            raise closed_error(self.name)
        timeout = self.connect_timeout
        # A plain scope, not fail_after: a TooSlowError raised by the connect function itself is a
        # failed connect; the connect timeout passed only when this scope caught its cancel.
        scope = trio.CancelScope(deadline=math.inf if timeout is None else trio.current_time() + timeout)
        with map_exceptions({Exception: lambda exc: connect_error(exc, self.label)}), scope:
            stream = await self._open_stream()
        if scope.cancelled_caught:
            raise ConnectTimeout(
                f"connecting to {self.label} timed out after {timeout:g}s"
            ) from trio.TooSlowError()
        return self._wrap(stream)

    def _wrap(self, stream: trio.abc.Stream) -> FramedStream:
        return _PooledStream(stream, self.framing, label=self.label)

    async def _round_trip(self, framed: FramedStream, encoded: bytes) -> bytes | None:
        """Write one encoded frame and read one reply frame (``None``: the peer closed first)."""
        await framed.send_encoded(encoded)
        return await framed.receive_frame()

    # --- exchanges -----------------------------------------------------------------------------

    def _serialize(self, data: Any) -> bytes:
        if self.message_type is None:
            return data  # type: ignore[no-any-return]  # checked by the framing's encode
        serialize = getattr(data, "serialize", None)
        if not callable(serialize):
            raise SerializationError(
                f"with message_type={self.message_type.__name__}, request() takes a message with "
                f"serialize(), got {type(data).__name__}"
            )
        try:
            payload = serialize()
        except MessageError:
            raise
        except Exception as exc:
            raise SerializationError(
                f"{type(data).__name__}.serialize() failed: {describe_exception(exc)}"
            ) from exc
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise SerializationError(
                f"{type(data).__name__}.serialize() returned {type(payload).__name__}, expected bytes"
            )
        return bytes(payload)

    def _deserialize(self, reply: bytes) -> Any:
        if self.message_type is None:
            return reply
        try:
            return self.message_type.deserialize(reply)
        except MessageError:
            raise
        except Exception as exc:
            raise DeserializationError(
                f"{self.message_type.__name__}.deserialize() failed on a {len(reply)}-byte reply: "
                f"{describe_exception(exc)}"
            ) from exc

    async def exchange(self, data: Any, **options: Any) -> Any:
        """Send *data* as one frame and return the reply frame (bytes, or a message).

        Blocks while every connection is busy (at most ``max_connections`` in flight), then for the
        connect (bounded by ``connect_timeout``) and the round trip (bounded by the client's timeout).

        Raises:
            pynector.SerializationError: *data* cannot be serialised or framed; nothing was sent.
            pynector.DeserializationError: the reply is not a valid message of ``message_type``.
            pynector.ConnectError: (``TLSError``, ``ConnectTimeout``) no connection could be opened.
            pynector.WriteError: sending failed.
            pynector.ReadError: the connection failed, or closed before or inside the reply.
            pynector.ProtocolError: the reply is larger than ``max_frame_size``.
            pynector.ClientClosedError: the transport is (or was, during the exchange) closed.
            pynector.ConfigurationError: per-request options were given (there are none).
        """
        if options:
            raise ConfigurationError(
                f"the {self.name} transport takes no per-request options, got {', '.join(sorted(options))}"
            )
        if self._closed:
            raise closed_error(self.name)
        encoded = self.framing.encode(data if self.message_type is None else self._serialize(data))
        active = self._active
        # The base round trip is inlined (one coroutine level less on the hot path); subclasses
        # that override _round_trip (the framed memory transport) go through it.
        custom = self._custom_round_trip
        pool = self._pool
        fresh = False
        while True:
            lease = await pool.acquire(None, fresh=fresh)
            framed = lease.connection
            active.add(framed)
            try:
                try:
                    if custom:
                        reply = await self._round_trip(framed, encoded)
                    else:
                        await framed.send_encoded(encoded)
                        reply = await framed.receive_frame()
                except PynectorError as exc:
                    if self._closed:
                        raise ClientClosedError(
                            f"{self.name} transport was closed while a request was in flight"
                        ) from exc
                    if lease.reused and not framed.buffered and isinstance(exc, (ReadError, WriteError)):
                        fresh = True  # a stale idle connection: it is closed, retry on a new one
                        continue
                    raise
                if reply is None:
                    if lease.reused:
                        fresh = True
                        continue
                    raise ReadError(f"{self.label} closed the connection before replying")
                if framed.buffered:
                    # The peer sent more than one reply: the framing or reply decoder stopped early
                    # (redis's "$5" read as a whole line...). Returning the part read would be a
                    # silently truncated reply; the connection is closed, not reused.
                    raise ProtocolError(
                        f"{self.label} sent {framed.buffered} more bytes after the reply: the reply was "
                        f"longer than the {self.framing.name!r} framing read (a reply decoder for "
                        "replies of several frames is needed)"
                    )
                # The very last step: only a clean exchange with nothing read ahead goes back.
                if not self._raw:
                    lease.reusable = True
                break
            finally:
                active.discard(framed)
                await pool.release(lease)
        if isinstance(reply, Reply):  # a reply decoder's value (which may be None: redis's null)
            return reply.value
        return self._deserialize(reply)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {self.label} framing={self.framing.name!r} {state}>"


class _PooledStream(FramedStream):
    """A framed connection of the pool, with the probe that checks it before reuse."""

    __slots__ = ("idle_probe",)

    def __init__(self, stream: trio.abc.Stream, framing: Framing, *, label: str) -> None:
        super().__init__(stream, framing, label=label)
        self.idle_probe = IdleProbe(stream)


def _framed_is_usable(framed: FramedStream) -> bool:
    """Whether an idle connection may serve the next exchange: nothing read ahead, nothing waiting
    on its socket (a pushed line or a late reply would be read as the next request's reply)."""
    if framed.buffered:
        return False
    return not isinstance(framed, _PooledStream) or framed.idle_probe.quiet()


def _validate_host(host: object) -> str:
    if not isinstance(host, str) or not host or any(c in host for c in "\r\n\x00 /"):
        raise ConfigurationError(f"host must be a host name or IP address, got {host!r}")
    return host


def _validate_port(port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigurationError(f"port must be an integer in 1..65535, got {port!r}")
    return port


class TCPTransport(StreamTransport):
    """Framed exchanges over TCP, optionally TLS (``Pynector(transport_type="tcp", ...)``).

    Args:
        host: the server's host name or IP address (prefer a numeric address for loopback).
        port: the server's port.
        tls: use TLS with :func:`ssl.create_default_context` (certificate and host name verified).
        ssl_context: use TLS with this context (implies ``tls``); verification is whatever it says.
        server_hostname: the name sent as SNI and checked against the certificate (default *host*).
        **options: ``framing``, ``max_frame_size``, ``delimiter``, ``reply_decoder``,
            ``max_connections``, ``message_type``, ``connect_timeout``, as in :class:`StreamTransport`.

    Raises:
        pynector.ConfigurationError: for an invalid or unknown option, or raw framing with TLS (TLS
            has no half-close, which raw framing needs).
    """

    def __init__(
        self,
        host: object = None,
        port: object = None,
        *,
        tls: object = False,
        ssl_context: object = None,
        server_hostname: object = None,
        **options: Any,
    ) -> None:
        _reject_unknown("tcp", options)
        self.host = _validate_host(host)
        self.port = _validate_port(port)
        if not isinstance(tls, bool):
            raise ConfigurationError(f"tls must be True or False, got {tls!r}")
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise ConfigurationError(f"ssl_context must be an ssl.SSLContext, got {ssl_context!r}")
        if ssl_context is None and tls:
            ssl_context = ssl.create_default_context()
        self.ssl_context: ssl.SSLContext | None = ssl_context
        if server_hostname is not None and self.ssl_context is None:
            raise ConfigurationError("server_hostname needs TLS (tls=True or ssl_context=...)")
        self.server_hostname: str | None = (
            _validate_host(server_hostname)
            if server_hostname is not None
            else (self.host if self.ssl_context else None)
        )
        scheme = "tls" if self.ssl_context else "tcp"
        super().__init__(
            self._open_tcp, name="tcp", label=f"{scheme}://{host_port(self.host, self.port)}", **options
        )
        if self.ssl_context is not None and self._raw:
            raise ConfigurationError("raw framing needs a half-closeable stream; TLS streams are not")
        self.peer_attributes.update({"server.address": self.host, "server.port": self.port})

    async def _open_tcp(self) -> trio.abc.Stream:
        # SNI is only sent for names, never for IP literals (RFC 6066); the check still applies.
        return await open_tcp_stream(
            self.host, self.port, self.ssl_context, server_hostname=self.server_hostname
        )


class UnixTransport(StreamTransport):
    """Framed exchanges over a Unix domain socket (``Pynector(transport_type="unix", path=...)``).

    Args:
        path: the socket's file system path.
        **options: ``framing``, ``max_frame_size``, ``delimiter``, ``reply_decoder``,
            ``max_connections``, ``message_type``, ``connect_timeout``, as in :class:`StreamTransport`.

    Raises:
        pynector.ConfigurationError: for an invalid or unknown option, or on a platform without Unix
            sockets.
    """

    def __init__(self, path: object = None, **options: Any) -> None:
        _reject_unknown("unix", options)
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise ConfigurationError(f"path must be the socket's file system path, got {path!r}")
        if not hasattr(trio, "open_unix_socket") or os.name == "nt":
            raise ConfigurationError("Unix sockets are not available on this platform")
        self.path: str = os.fsdecode(path)
        super().__init__(self._open_unix, name="unix", label=f"unix:{self.path}", **options)
        self.peer_attributes["server.address"] = self.path

    async def _open_unix(self) -> trio.abc.Stream:
        return await trio.open_unix_socket(self.path)


_STREAM_OPTIONS = frozenset(
    {
        "framing",
        "max_frame_size",
        "max_connections",
        "message_type",
        "connect_timeout",
        "delimiter",
        "reply_decoder",
    }
)


def _reject_unknown(name: str, options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - _STREAM_OPTIONS)
    if unknown:
        raise ConfigurationError(f"unknown option(s) for the {name} transport: {', '.join(unknown)}")
