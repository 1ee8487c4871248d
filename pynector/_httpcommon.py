"""HTTP facts shared by the HTTP layer (:mod:`pynector.http`), the retry policy, the command line and the
SDK transport: the token grammar, the idempotent methods, ``Retry-After``, httpx error classes.

Both read ``Retry-After`` and both meet httpx exceptions (the SDKs use httpx, or its fork ``httpx2``,
underneath), so the parser and the httpx error classification live here, once. This module imports
neither httpx nor :mod:`pynector.http`: ``import pynector`` stays cheap (the SDK transport is imported
with it), and the httpx classification takes the httpx module to read the exception classes from,
which is how the same table serves ``httpx`` and ``httpx2``.
"""

from __future__ import annotations

import email.utils
import math
import re
import ssl
from datetime import UTC, datetime
from types import ModuleType
from typing import Final

from ._errors import (
    ConfigurationError,
    ConnectError,
    ConnectTimeout,
    PoolTimeout,
    ProtocolError,
    PynectorError,
    ReadError,
    RedirectError,
    TimeoutError,
    TLSError,
    TransportError,
    WriteError,
)
from ._exctools import iter_chain

__all__ = ["HTTP_TOKEN", "IDEMPOTENT_METHODS", "classify_httpx_error", "parse_retry_after"]

#: An HTTP token (RFC 9110 section 5.6.2): what a method or a header name may consist of.
HTTP_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")

#: Methods whose request may be sent twice with the effect of once (RFC 9110 section 9.2.2): the only
#: ones resent after they may have reached the server, by the retry policy and by a pool retrying a
#: stale keep-alive connection.
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


def parse_retry_after(value: str | None, date: str | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or ``None`` if absent or malformed.

    Accepts delay-seconds (``"120"``) and an HTTP-date. A date is measured against the response's
    ``Date`` header when it has a valid one (so clock skew between client and server cancels out),
    otherwise against the current UTC time; a date in the past gives ``0.0``.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    when = _parse_http_date(text)
    if when is None:
        return None
    reference = _parse_http_date(date) if date else None
    now = reference or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def _parse_http_date(text: str) -> datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _ssl_in_chain(exc: BaseException) -> bool:
    return any(isinstance(current, ssl.SSLError) for current in iter_chain(exc))


def _closed_early(exc: BaseException) -> bool:
    """httpx reports a peer that hung up (before the response, or mid-body) as a protocol error.

    We report it as :class:`~pynector.ReadError`, like a reset: the bytes were fine, the connection
    was not. Garbage and framing violations stay :class:`~pynector.ProtocolError`.
    """
    text = str(exc).lower()
    return "disconnected" in text or "peer closed connection" in text


def classify_httpx_error(
    exc: BaseException, httpx: ModuleType
) -> tuple[type[PynectorError], str, bool] | None:
    """The pynector class, phase and ``request_sent`` for an exception of the *httpx* module.

    Args:
        exc: the exception.
        httpx: the module whose exception classes to match (``httpx``, or ``httpx2`` for the SDKs).

    Returns:
        ``(cls, phase, request_sent)``: *cls* is the most specific pynector class, *phase* a few words
        for the message (``"connect timed out"``), *request_sent* ``False`` for failures before any
        byte was sent (connect, TLS, pool, invalid URL). ``None`` when *exc* is not an httpx error.
    """
    if isinstance(exc, httpx.ConnectTimeout):
        return ConnectTimeout, "connect timed out", False
    if isinstance(exc, httpx.PoolTimeout):
        return PoolTimeout, "no pooled connection became free", False
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError, "timed out", True
    if isinstance(exc, httpx.ConnectError):
        if _ssl_in_chain(exc):
            return TLSError, "TLS handshake failed", False
        return ConnectError, "connection failed", False
    if isinstance(exc, httpx.ProxyError):
        return ConnectError, "proxy failed", False
    if isinstance(exc, (httpx.ReadError, httpx.CloseError)):
        return ReadError, "receiving failed", True
    if isinstance(exc, httpx.WriteError):
        return WriteError, "sending failed", True
    if isinstance(exc, httpx.RemoteProtocolError) and _closed_early(exc):
        return ReadError, "connection closed early", True
    if isinstance(exc, (httpx.ProtocolError, httpx.DecodingError)):
        return ProtocolError, "protocol error", True
    if isinstance(exc, httpx.TooManyRedirects):
        return RedirectError, "too many redirects", True
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return ConfigurationError, "invalid request", False
    if isinstance(exc, (httpx.HTTPError, httpx.StreamError)):
        return TransportError, "failed", True
    return None
