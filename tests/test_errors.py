"""The exception tree and the mapping of foreign exceptions."""

from __future__ import annotations

import builtins
import errno
import ssl

import pytest
import trio

import pynector
from pynector._errors import describe_exception, map_builtin_exception, status_error_class


def test_timeout_error_is_the_builtin_too() -> None:
    """`except TimeoutError` written against the builtin catches pynector's timeouts."""
    assert issubclass(pynector.TimeoutError, builtins.TimeoutError)
    assert issubclass(pynector.TimeoutError, pynector.PynectorError)
    assert issubclass(pynector.ConnectTimeout, pynector.ConnectError)
    assert issubclass(pynector.PoolTimeout, builtins.TimeoutError)


def test_configuration_error_is_a_value_error() -> None:
    """Configuration mistakes can be caught as ValueError."""
    assert issubclass(pynector.ConfigurationError, ValueError)
    assert issubclass(pynector.ConfigurationError, pynector.PynectorError)


def test_transport_errors_share_one_base() -> None:
    """Everything retryable by default sits under TransportError."""
    for cls in (
        pynector.ConnectError,
        pynector.TLSError,
        pynector.ReadError,
        pynector.WriteError,
        pynector.ProtocolError,
        pynector.TimeoutError,
    ):
        assert issubclass(cls, pynector.TransportError)
    assert not issubclass(pynector.HTTPStatusError, pynector.TransportError)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, pynector.UnauthorizedError),
        (403, pynector.ForbiddenError),
        (404, pynector.NotFoundError),
        (408, pynector.RequestTimeoutError),
        (429, pynector.RateLimitError),
        (400, pynector.HTTPClientError),
        (418, pynector.HTTPClientError),
        (500, pynector.HTTPServerError),
        (503, pynector.HTTPServerError),
    ],
)
def test_status_error_classes(status: int, expected: type[pynector.HTTPStatusError]) -> None:
    """Each error status maps to its most specific class."""
    assert expected is status_error_class(status)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), pynector.ConnectError),
        (ConnectionResetError(errno.ECONNRESET, "reset"), pynector.ReadError),
        (BrokenPipeError(errno.EPIPE, "pipe"), pynector.ReadError),
        (OSError(errno.EHOSTUNREACH, "unreachable"), pynector.TransportError),
        (builtins.TimeoutError("slow"), pynector.TimeoutError),
        (trio.TooSlowError(), pynector.TimeoutError),
        (trio.BrokenResourceError("gone"), pynector.ReadError),
        (ssl.SSLError(1, "bad handshake"), pynector.TLSError),
    ],
)
def test_builtin_exceptions_map_to_the_most_specific_class(
    exc: Exception, expected: type[pynector.PynectorError]
) -> None:
    """Builtin I/O failures become pynector errors naming the root cause."""
    mapped = map_builtin_exception(exc, "request through memory transport")
    assert type(mapped) is expected
    assert str(mapped).startswith("request through memory transport failed: ")


def test_user_exceptions_are_not_mapped() -> None:
    """A non-I/O exception is not a transport failure: the mapper leaves it alone."""
    assert map_builtin_exception(ValueError("bug"), "x") is None


def test_describe_exception_finds_the_root_cause() -> None:
    """An empty wrapper message is replaced by the deepest meaningful one."""
    root = ssl.SSLCertVerificationError(1, "certificate verify failed")
    root.verify_message = "self-signed certificate"
    outer = OSError()
    outer.__cause__ = root
    assert "SSLCertVerificationError: self-signed certificate" == describe_exception(outer)
