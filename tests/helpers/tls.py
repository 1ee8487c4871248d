"""TLS contexts for loopback tests, from the ``ca`` fixture's throwaway certificate authority."""

from __future__ import annotations

import ssl

import trustme


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server-side context with a certificate for *names* signed by *ca*."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts *ca* (and nothing else)."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context
