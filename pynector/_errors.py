"""The pynector exception tree.

Every failure that crosses the public API is an instance of :class:`PynectorError`, with the foreign
exception that caused it (an ``OSError``, a ``trio.TooSlowError``, an ``httpx`` error...) kept as
``__cause__``. The tree is drawn so that callers can catch at the level they care about::

    PynectorError
    ├── ConfigurationError (also ValueError)      bad option, unknown transport, invalid timeout...
    ├── ClientClosedError                         the client was used after aclose()
    ├── BatchCancelledError                       a batch item stopped by fail_fast or a failed input
    ├── BatchInputError                           the batch's request iterable raised
    ├── QuotaStoreError                           a quota's shared store (Redis) cannot be reached
    ├── MessageError
    │   ├── SerializationError                    a payload could not be encoded
    │   └── DeserializationError                  bytes could not be decoded into a message
    ├── RedirectError                             a redirect was refused (https->http) or hops ran out
    ├── TransportError                            the exchange with the peer failed (retryable)
    │   ├── ConnectError                          no connection could be established
    │   │   └── TLSError                          certificate or handshake failure (not retried)
    │   ├── ReadError                             the connection failed while receiving
    │   ├── WriteError                            the connection failed while sending
    │   ├── ProtocolError                         the peer sent bytes that break the protocol
    │   └── TimeoutError (also builtins.TimeoutError)
    │       ├── ConnectTimeout (also ConnectError)
    │       └── PoolTimeout                       no connection became free in time
    └── HTTPStatusError                           a 4xx/5xx response (``.response``, ``.status_code``)
        ├── HTTPClientError                       4xx
        │   ├── UnauthorizedError                 401
        │   ├── ForbiddenError                    403
        │   ├── NotFoundError                     404
        │   ├── RequestTimeoutError               408 (a status, not a client-side deadline)
        │   └── RateLimitError                    429 (``.retry_after`` in seconds, when sent)
        └── HTTPServerError                       5xx (``.retry_after`` when sent, e.g. with 503)

``pynector.TimeoutError`` deliberately subclasses the builtin :class:`TimeoutError`, so
``except TimeoutError`` written against the builtin still catches it; the original design shadowed the
builtin instead, which silently broke such handlers.

A deadline is attributed to a scope only when that scope fired (its ``cancelled_caught``): a
:class:`TimeoutError` names the caller's timeout only then. A ``trio.TooSlowError`` (or builtin
``TimeoutError``) raised *inside* a transport, by a deadline of its own, is that transport's failure:
:func:`map_builtin_exception` turns it into a :class:`TimeoutError` whose message says a deadline inside
the transport passed, with the original as ``__cause__``.

``trio.Cancelled`` and ``KeyboardInterrupt`` are never wrapped: they are ``BaseException`` and pass
through pynector untouched.
"""

from __future__ import annotations

import builtins
import errno
import ssl

import trio

from ._exctools import iter_chain

__all__ = [
    "BatchCancelledError",
    "BatchInputError",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectError",
    "ConnectTimeout",
    "DeserializationError",
    "ForbiddenError",
    "HTTPClientError",
    "HTTPServerError",
    "HTTPStatusError",
    "MessageError",
    "NotFoundError",
    "PoolTimeout",
    "QuotaStoreError",
    "ProtocolError",
    "PynectorError",
    "RateLimitError",
    "ReadError",
    "RedirectError",
    "RequestTimeoutError",
    "SerializationError",
    "TLSError",
    "TimeoutError",
    "TransportError",
    "UnauthorizedError",
    "WriteError",
]


class PynectorError(Exception):
    """Base class of every exception pynector raises.

    Attributes:
        attempts: how many attempts were made before this error was raised, when it comes out of a
            retry loop (``request_with_retry`` or a ``RetryPolicy``); ``None`` otherwise.
        http_method: for errors of an HTTP exchange, the request's method; ``None`` otherwise.
        request_sent: for errors of an HTTP exchange, whether the request may have reached the server
            (``False`` for connect, TLS and pool failures). ``RetryPolicy`` reads both: a request
            that may have reached the server is resent only when its method is idempotent.
    """

    attempts: int | None = None
    http_method: str | None = None
    request_sent: bool | None = None


class ConfigurationError(PynectorError, ValueError):
    """An option, argument or environment variable has an invalid value.

    Raised when the client is constructed or when the call is made, never later from deep inside.
    """


class ClientClosedError(PynectorError):
    """The client (or transport) was used after it was closed."""


class BatchCancelledError(PynectorError):
    """A batch item was not run, or was cancelled mid-flight, because the batch stopped early.

    With ``fail_fast=True`` the first failure stops the batch: every item that had not finished gets
    this error, with the failure that stopped the batch as ``__cause__``. An input error
    (:class:`BatchInputError`) stops the batch the same way.
    """


class BatchInputError(PynectorError):
    """Iterating the batch's ``requests`` raised; the iterator's exception is the ``__cause__``.

    The batch stops at that point: the outstanding items are cancelled (:class:`BatchCancelledError`).
    """


class JobOutputError(PynectorError):
    """A job's checkpoint (its output file) could not be opened, read or written.

    Every record already in the file is complete: a failed write is cut back to the last whole line.
    """


class QuotaStoreError(PynectorError):
    """A :class:`pynector.Quota`'s shared store (Redis) cannot be reached or answered garbage."""


class MessageError(PynectorError):
    """Base class for message encoding and decoding failures."""


class SerializationError(MessageError):
    """A message or payload could not be serialised to bytes."""


class DeserializationError(MessageError):
    """Bytes could not be decoded into a message."""


class RedirectError(PynectorError):
    """A redirect could not be followed: too many hops, or a downgrade from https to http.

    Not a :class:`TransportError`: following the same redirects again would fail the same way.
    """


class TransportError(PynectorError):
    """The exchange with the remote peer failed.

    These are the errors ``request_with_retry`` retries by default.
    """


class ConnectError(TransportError):
    """No connection to the peer could be established (refused, unreachable, unknown host...)."""


class TLSError(ConnectError):
    """The TLS handshake failed; the message carries the verification reason."""


class ReadError(TransportError):
    """The connection failed while receiving (reset, closed early, truncated data)."""


class WriteError(TransportError):
    """The connection failed while sending."""


class ProtocolError(TransportError):
    """The peer sent data that violates the protocol (malformed frame, bad status line, oversize)."""


class TimeoutError(TransportError, builtins.TimeoutError):  # noqa: A001 - see module docstring
    """A deadline passed: a request, a connect, a pool wait or a whole batch.

    Subclasses the builtin :class:`TimeoutError` as well as :class:`TransportError`.
    """


class ConnectTimeout(TimeoutError, ConnectError):
    """Establishing the connection took longer than the connect timeout."""


class PoolTimeout(TimeoutError):
    """No pooled connection became available in time."""


class HTTPStatusError(PynectorError):
    """The server answered with an error status.

    Attributes:
        status_code: the HTTP status (or the API's equivalent for SDK transports).
        response: the response object (a ``pynector`` HTTP response, or the SDK's).
        retry_after: seconds the server asked the client to wait (``Retry-After``), or ``None``.
    """

    def __init__(
        self, message: str, *, status_code: int, response: object = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.response = response
        self.retry_after = retry_after


class HTTPClientError(HTTPStatusError):
    """A 4xx response."""


class UnauthorizedError(HTTPClientError):
    """A 401 response: credentials missing or rejected."""


class ForbiddenError(HTTPClientError):
    """A 403 response."""


class NotFoundError(HTTPClientError):
    """A 404 response."""


class RequestTimeoutError(HTTPClientError):
    """A 408 response (the server's timeout, not a client-side deadline)."""


class RateLimitError(HTTPClientError):
    """A 429 response; ``retry_after`` holds the requested wait when the server sent one."""


class HTTPServerError(HTTPStatusError):
    """A 5xx response."""


_STATUS_CLASSES: dict[int, type[HTTPStatusError]] = {
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    408: RequestTimeoutError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[HTTPStatusError]:
    """The most specific :class:`HTTPStatusError` subclass for an error status (>= 400)."""
    cls = _STATUS_CLASSES.get(status_code)
    if cls is not None:
        return cls
    return HTTPServerError if status_code >= 500 else HTTPClientError


# --- mapping foreign exceptions --------------------------------------------------------------

_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED})


def describe_exception(exc: BaseException) -> str:
    """Return ``"ClassName: message"`` for *exc*, following ``__cause__``/``__context__`` to the root.

    Foreign libraries often wrap the useful reason a few levels down (httpx hides the TLS verification
    reason three causes deep, with an empty message on top); this finds the deepest message, also
    looking into the first member of an exception group that has no cause.
    """
    best = exc
    # trio's happy eyeballs reports one failed attempt per address in a group: the first says enough.
    for current in iter_chain(exc, "first"):
        if str(current):
            best = current
    text = str(best)
    if isinstance(best, ssl.SSLCertVerificationError) and best.verify_message:
        text = best.verify_message
    name = type(best).__name__
    return f"{name}: {text}" if text else name


def map_builtin_exception(exc: Exception, action: str) -> PynectorError | None:
    """Map an exception from the standard library or trio to the most specific pynector error.

    Args:
        exc: the exception a transport raised.
        action: what was being done, for the message (for example ``"request to memory transport"``).

    Returns:
        The pynector error to raise (``raise mapped from exc``), or ``None`` when *exc* is not a
        builtin I/O failure (user exceptions are passed through unchanged by the caller).
    """
    cls: type[PynectorError]
    if isinstance(exc, PynectorError):
        return exc
    if isinstance(exc, (trio.TooSlowError, builtins.TimeoutError)):
        # Only the cancel scope that fired owns a deadline: a timeout raised inside the transport (a
        # handler's own fail_after, a socket timeout) is the transport's, never the caller's timeout.
        return TimeoutError(
            f"{action} failed: {describe_exception(exc)} (a deadline inside the transport passed, "
            "not the request's timeout)"
        )
    if isinstance(exc, ssl.SSLError):
        cls = TLSError
    elif isinstance(exc, ConnectionRefusedError):
        cls = ConnectError
    elif isinstance(exc, (trio.BrokenResourceError, trio.ClosedResourceError)):
        cls = ReadError
    elif isinstance(exc, OSError):
        cls = ReadError if exc.errno in _RESET_ERRNOS else TransportError
    else:
        return None
    return cls(f"{action} failed: {describe_exception(exc)}")
