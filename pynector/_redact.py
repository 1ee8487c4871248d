"""Redaction of secrets in URLs and headers: the one place that decides what is a credential.

Every exception message, ``repr`` and log or span attribute that shows a URL or headers goes through
:func:`redact_url` or :func:`redact_headers` first. Values are replaced with :data:`REDACTED`; names
are kept, so a reader still sees *that* a credential was sent, never *what* it was.

What counts as secret:

- URL user-info (``https://user:password@host``): the whole user-info is replaced;
- URL fragments (``#access_token=...``, where OAuth's implicit flow puts tokens): dropped entirely. A
  fragment never goes on the wire, so a rendered URL loses nothing a server saw;
- query parameters whose name looks like a credential (``token``, ``api_key``, ``key``, ``password``,
  ``secret``, ``signature``, ``X-Amz-Credential``...), matched on normalised names (lower case, ``-``
  and ``_`` removed) against exact names and a few telling fragments;
- headers ``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``, names that look like
  API keys or tokens (``X-API-Key``, ``X-Auth-Token``, ``Api-Key``...), and any name the caller lists
  (the HTTP transport's ``secret_headers`` option).

The functions never raise: a URL that cannot be parsed is reduced to its scheme and host, or to
:data:`REDACTED` entirely, rather than risk showing it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "SENSITIVE_HEADERS",
    "is_sensitive_header",
    "is_sensitive_query_key",
    "redact_headers",
    "redact_url",
    "scrub_text",
]

#: Secret values shorter than this are not scrubbed from free text (they would garble it).
MIN_SCRUB_LENGTH = 4

#: What a secret value is replaced with.
REDACTED = "REDACTED"

#: Header names (lower case) that always carry credentials.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"}
)

# Normalised (lower case, "-" and "_" removed) names and fragments that mark a credential.
_SECRET_HEADER_FRAGMENTS = ("apikey", "token", "secret", "password", "passwd", "credential", "signature")
_SECRET_QUERY_NAMES = frozenset(
    {"key", "sig", "pwd", "pass", "auth", "code", "session", "sessionid", "jwt", "hmac", "otp"}
)
_SECRET_QUERY_FRAGMENTS = (*_SECRET_HEADER_FRAGMENTS, "accesskey", "privatekey", "clientsecret")


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")


def is_sensitive_header(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether a header named *name* carries a credential.

    Args:
        name: the header name, any case.
        extra: more header names (any case) the caller declared secret.
    """
    lowered = name.strip().lower()
    if lowered in SENSITIVE_HEADERS or lowered in {e.lower() for e in extra}:
        return True
    normalised = _normalise(name)
    return any(fragment in normalised for fragment in _SECRET_HEADER_FRAGMENTS)


def is_sensitive_query_key(name: str) -> bool:
    """Whether a query parameter named *name* carries a credential."""
    normalised = _normalise(name)
    return normalised in _SECRET_QUERY_NAMES or any(f in normalised for f in _SECRET_QUERY_FRAGMENTS)


def redact_headers(
    headers: Iterable[tuple[str, str]] | object, extra: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """Return *headers* as ``(name, value)`` pairs with credential values replaced by ``REDACTED``.

    Args:
        headers: ``(name, value)`` pairs, a mapping, or an ``httpx.Headers``-like object with
            ``multi_items()``; bytes are decoded as Latin-1.
        extra: more header names the caller declared secret.
    """
    extra_names = tuple(extra)
    pairs: Any
    if hasattr(headers, "multi_items"):
        pairs = headers.multi_items()
    elif hasattr(headers, "items"):
        pairs = headers.items()
    else:
        pairs = headers
    result: list[tuple[str, str]] = []
    for name, value in pairs:
        name_text = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        value_text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if is_sensitive_header(name_text, extra_names):
            value_text = REDACTED
        result.append((name_text, value_text))
    return result


def redact_url(url: object) -> str:
    """Return *url* (a string or an ``httpx.URL``-like object) with credentials replaced.

    User-info becomes ``REDACTED@``, sensitive query values become ``REDACTED`` and the fragment is
    dropped; everything else is kept as it was written. Never raises.
    """
    text = str(url)
    try:
        parts = urlsplit(text)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(is_sensitive_query_key(k) for k, _ in pairs):
                query = "&".join(
                    f"{quote(k, safe='')}={REDACTED if is_sensitive_query_key(k) else quote(v, safe='')}"
                    for k, v in pairs
                )
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except Exception:  # a malformed URL must not leak through an error path
        return REDACTED


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each known secret value in *text* with ``REDACTED``.

    A last line of defence for free text we did not write (a foreign exception's message may quote a
    header or a URL). Values shorter than :data:`MIN_SCRUB_LENGTH` are left alone.
    """
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= MIN_SCRUB_LENGTH and secret in text:
            text = text.replace(secret, REDACTED)
    return text
