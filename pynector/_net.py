"""Networking facts and steps shared by every transport that opens sockets (HTTP engines, the TCP
transport, the SDK transport's telemetry), each written once.

- :data:`DEFAULT_PORTS` / :func:`default_port`: 80 for ``http``, 443 for ``https``;
- :func:`host_port`: ``host:port`` with an IPv6 literal in brackets (``[::1]:8080``), as URLs and
  ``Host`` headers write it (trio keeps its own ``format_host_port`` private);
- :func:`open_tcp_stream`: connect, and for TLS also handshake, closing the socket if the handshake
  fails or is cancelled, so a failed connect never leaks a file descriptor;
- :data:`CLOSE_TIMEOUT`: how long closing a resource may take inside a shielded scope before it is
  abandoned (the client, the HTTP and SDK transports close that way, so that cancellation or a hung
  peer cannot stop a close from returning).
"""

from __future__ import annotations

import contextlib
import ssl
from typing import Final

import trio

__all__ = ["CLOSE_TIMEOUT", "DEFAULT_PORTS", "default_port", "host_port", "open_tcp_stream"]

#: Seconds a shielded close may take before it is abandoned.
CLOSE_TIMEOUT: Final = 5.0

#: The port a URL without one means, by scheme.
DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def default_port(scheme: str) -> int:
    """The port of a URL of *scheme* that names none: 443 for ``https``, else 80."""
    return 443 if scheme == "https" else 80


def host_port(host: str, port: int | None = None) -> str:
    """*host* (an IPv6 literal in brackets), followed by ``:port`` when *port* is given."""
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


async def open_tcp_stream(
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    *,
    server_hostname: str | None = None,
    https_compatible: bool = False,
) -> trio.abc.Stream:
    """Connect to *host*:*port*; with *ssl_context*, also complete the TLS handshake.

    Blocks until connected (and the handshake is done). A failed or cancelled handshake closes the
    TCP connection before the exception propagates.

    Raises:
        OSError: the connection failed (trio may group several attempts under ``__cause__``).
        ssl.SSLError, trio.BrokenResourceError: the TLS handshake failed.
    """
    tcp = await trio.open_tcp_stream(host, port)
    if ssl_context is None:
        return tcp
    tls = trio.SSLStream(tcp, ssl_context, server_hostname=server_hostname, https_compatible=https_compatible)
    try:
        await tls.do_handshake()
    except BaseException:
        # Shielded, errors ignored: the socket is being discarded, and its close must not mask why.
        with trio.CancelScope(shield=True), contextlib.suppress(Exception):
            await trio.aclose_forcefully(tcp)
        raise
    return tls
