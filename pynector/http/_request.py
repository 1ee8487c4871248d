"""Building HTTP requests: from a request dict to a validated, encoded :class:`PreparedRequest`.

Everything that happens to a request before any byte of it is sent lives here; the sending side (the
total deadline, redirects, the body read, status errors) is :mod:`pynector.http._transport`. Building
is done once per request, in order:

1. the request (a dict, an :class:`~pynector.message.HttpMessage` or a URL string) gets the request
   fields passed as keyword options (:mod:`pynector.http._fields`), is checked for unknown keys and
   options, and its method for being an HTTP token;
2. the URL is parsed and joined to ``base_url`` (relative URLs only), and must be http or https with a
   host; user-info is turned into Basic auth and removed from the URL;
3. the headers are the transport's defaults overridden by the request's own (its ``cookies`` as a
   ``Cookie`` header), plus ``User-Agent``, ``Accept-Encoding`` and the current trace context
   (``traceparent``) unless the request sets them (the opt-in cookie jar is applied later, by the
   transport, on every hop);
4. a body (``params``, ``json``, ``data``, ``content``, ``files``) is encoded with httpx's encoders,
   which keeps one implementation of JSON, forms and multipart;
5. every URL and header that will reach the wire is checked for CR, LF and NUL (injection).

The result also carries the request's secret values (credential headers, user-info, secret query
values), which the transport scrubs from any error message as a last line of defence.

Parsing a URL with httpx costs ~50 us, so resolved URLs are cached, and the most common request (a
dict of only ``method``/``url``/``path`` strings and no options) is built once and reused.
"""

from __future__ import annotations

import base64
import json as jsonlib
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote_to_bytes

import httpx

from .._config import validate_timeout
from .._errors import ConfigurationError, PynectorError, SerializationError, describe_exception
from .._httpcommon import HTTP_TOKEN
from .._net import default_port
from .._redact import is_sensitive_header, is_sensitive_query_key, redact_url
from .._telemetry import has_trace_context, inject_trace_context
from .._version import __version__
from ..message import HttpMessage
from . import _codings
from ._cookies import cookie_header
from ._engine import Body, WireRequest
from ._fields import OPTION_KEYS as _OPTION_KEYS
from ._fields import merge_request_fields
from ._model import RequestInfo, header_pairs, reject_control_characters

__all__ = [
    "PreparedRequest",
    "RequestBuilder",
    "check_bool",
    "check_url",
    "origin_of",
    "port_in_range",
]

_REQUEST_KEYS = frozenset(
    {"method", "url", "path", "params", "headers", "cookies", "json", "data", "content", "files", "timeout"}
)
_SIMPLE_KEYS_WITH_HEADERS = frozenset({"method", "url", "path", "headers"})
_UNSET: Any = object()
_URL_CACHE_SIZE = 512
_ENCODED_KEYS = ("params", "json", "data", "content", "files")


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A validated, encoded request plus the per-request policy (timeout, redirects, status errors)."""

    method: str
    url: httpx.URL
    headers: tuple[tuple[str, str], ...]
    body: Body
    replayable: bool
    secrets: tuple[str, ...]
    timeout: float | None
    raise_for_status: bool
    follow_redirects: bool
    # Derived once here, not per exchange: a simple request's PreparedRequest is cached and reused (see
    # RequestBuilder.build), and ``dataclasses.replace`` (redirects) runs __post_init__ again.
    wire_request: WireRequest = field(init=False, repr=False, compare=False)
    url_text: str = field(init=False, repr=False, compare=False)
    request_info: RequestInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text, scheme, host, port, target = _url_parts(self.url)
        wire = WireRequest(
            method=self.method,
            scheme=scheme,
            host=host,
            port=port,
            target=target,
            headers=self.headers,
            body=self.body,
        )
        object.__setattr__(self, "wire_request", wire)
        object.__setattr__(self, "url_text", text)
        object.__setattr__(self, "request_info", RequestInfo(self.method, text))

    @property
    def described(self) -> str:
        return f"{self.method} {redact_url(self.url)}"

    # BodyReader formats its request description only when it raises; passing the request itself
    # (whose str() is the description) spares a URL redaction on every successful exchange.
    def __str__(self) -> str:
        return self.described

    def wire(self) -> WireRequest:
        return self.wire_request


#: The parts of recently prepared URLs, by identity: ``id(url) -> (url, parts)``. A resolved URL is
#: cached and reused by every request to it (see ``RequestBuilder.resolve``), so its text, host, port
#: and target (~2 us of httpx properties) are derived once. The entry holds the URL itself, so its id
#: cannot be reused by another object while the entry exists; the check ``entry[0] is url`` makes a
#: stale id impossible to match. Bounded: cleared when full.
_URL_PARTS: dict[int, tuple[httpx.URL, tuple[str, str, str, int, str]]] = {}


def _url_parts(url: httpx.URL) -> tuple[str, str, str, int, str]:
    """``(text, scheme, host, port, target)`` of *url* (the port defaulted from the scheme)."""
    entry = _URL_PARTS.get(id(url))
    if entry is not None and entry[0] is url:
        return entry[1]
    scheme = url.scheme
    parts = (str(url), scheme, url.host, url.port or default_port(scheme), url.raw_path.decode("ascii"))
    if len(_URL_PARTS) >= _URL_CACHE_SIZE:
        _URL_PARTS.clear()
    _URL_PARTS[id(url)] = (url, parts)
    return parts


def _with_trace_context(prepared: PreparedRequest) -> PreparedRequest:
    """*prepared* plus the current trace context's headers, unless it already names a traceparent."""
    if any(name.lower() == "traceparent" for name, _ in prepared.headers):
        return prepared
    carrier: dict[str, str] = {}
    inject_trace_context(carrier)  # the client's attempt span is current here
    if not carrier:
        return prepared
    return replace(prepared, headers=prepared.headers + tuple(carrier.items()))


def origin_of(url: httpx.URL) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of *url*, the port defaulted by scheme."""
    return (url.scheme, url.host, url.port or default_port(url.scheme))


def check_bool(value: object, name: str) -> bool:
    """Return *value* if it is a bool.

    Raises:
        pynector.ConfigurationError: naming *name*, for anything else.
    """
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value


def port_in_range(url: httpx.URL) -> bool:
    """Whether *url* has no port (the scheme's default) or one in 1..65535.

    httpx parses any number (``:99999``, ``:0``, ``:-1``); a socket would take 99999 modulo 65536 and
    0 as "the default", sending the request to a port nobody named.
    """
    port = url.port
    return port is None or 1 <= port <= 65535


def check_url(url: httpx.URL, what: str) -> httpx.URL:
    """Return *url*, without its fragment, if it is an absolute http or https URL with a host.

    A fragment never goes on the wire (and may hold a token: OAuth's implicit flow puts one there),
    so it is dropped here, before the URL reaches a response, an error message or a span.

    Raises:
        pynector.ConfigurationError: naming *what*, for another scheme, no host, or a port outside
            1..65535.
    """
    if url.scheme not in {"http", "https"}:
        raise ConfigurationError(
            f"{what} {redact_url(url)!r} has scheme {url.scheme!r}; only http and https are supported"
        )
    if not url.host:
        raise ConfigurationError(f"{what} {redact_url(url)!r} has no host")
    if not port_in_range(url):
        raise ConfigurationError(
            f"{what} has port {url.port}, outside 1..65535 ({redact_url(url)!r}); a port is never wrapped "
            "around or defaulted"
        )
    if url.fragment:
        url = url.copy_with(fragment=None)
    return url


class RequestBuilder:
    """Validates and encodes the requests of one HTTP transport, under the transport's settings.

    Args:
        base_url: prefix for relative request URLs, or ``None``.
        headers: headers sent with every request (a request's own override them by name).
        timeout: the default total seconds per exchange (``None``: no bound).
        follow_redirects: the default for following redirects.
        raise_for_status: the default for raising on 4xx/5xx.
        secret_headers: more header names to treat as credentials.

    Raises:
        pynector.ConfigurationError: for an invalid setting.
    """

    def __init__(
        self,
        *,
        base_url: str | httpx.URL | None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
        timeout: float | None,
        follow_redirects: bool,
        raise_for_status: bool,
        secret_headers: Iterable[str],
    ) -> None:
        self._base_url: httpx.URL | None = None
        if base_url is not None:
            if not isinstance(base_url, (str, httpx.URL)):
                raise ConfigurationError(f"base_url must be a string, got {type(base_url).__name__}")
            reject_control_characters(str(base_url), "base_url")
            try:
                parsed = httpx.URL(base_url)
            except httpx.InvalidURL as exc:
                raise ConfigurationError(
                    f"base_url {redact_url(base_url)!r} is not a valid URL: {exc}"
                ) from exc
            parsed = check_url(parsed, "base_url")
            if not parsed.raw_path.endswith(b"/"):
                parsed = parsed.copy_with(raw_path=parsed.raw_path + b"/")
            self._base_url = parsed
        if isinstance(secret_headers, str) or not all(isinstance(h, str) for h in secret_headers):
            raise ConfigurationError("secret_headers must be a list of header names")
        #: Header names (lower case) the caller declared secret, on top of the usual credentials.
        self.secret_headers = tuple(h.lower() for h in secret_headers)
        self._headers = header_pairs(headers, "headers")
        self._timeout = validate_timeout(timeout, "timeout")
        self._follow_redirects = check_bool(follow_redirects, "follow_redirects")
        self._raise_for_status = check_bool(raise_for_status, "raise_for_status")
        self._resolved: dict[str, httpx.URL] = {}
        self._simple: dict[tuple[object, ...], PreparedRequest] = {}
        self._sent_streams: weakref.WeakSet[AsyncIterable[bytes]] = weakref.WeakSet()
        self._sensitive: dict[str, bool] = {}

    def _sensitive_name(self, name: str) -> bool:
        """:func:`is_sensitive_header` with this builder's secret names, memoised per header name
        (requests repeat their header names; the check normalises the name and scans fragments)."""
        known = self._sensitive.get(name)
        if known is None:
            known = is_sensitive_header(name, self.secret_headers)
            if len(self._sensitive) >= _URL_CACHE_SIZE:
                self._sensitive.clear()
            self._sensitive[name] = known
        return known

    @property
    def base_url(self) -> httpx.URL | None:
        """The validated ``base_url`` (its path ending in ``/``), or ``None``."""
        return self._base_url

    def build(self, data: Any, options: Mapping[str, Any], propagate: bool) -> PreparedRequest:
        """Validate and encode one request.

        Args:
            data: a dict (``method``, ``url`` or ``path``, ``params``, ``headers``, ``cookies``,
                ``json``, ``data``, ``content``, ``files``, ``timeout``), an
                :class:`~pynector.message.HttpMessage`, or a URL string (GET).
            options: per-request options (``timeout``, ``raise_for_status``, ``follow_redirects``),
                and request fields given as keywords (``params``, ``headers``, ``cookies``, ``json``,
                ``data``, ``content``, ``files``), which override the same fields of *data*.
            propagate: add the current span's trace context (``traceparent``) to the headers.

        Raises:
            pynector.ConfigurationError: an invalid request (bad URL or scheme, CR/LF/NUL, unknown
                key or option), naming the field.
            pynector.SerializationError: the body cannot be encoded.
        """
        # Fast path for the most common requests, with no per-request options: a dict of only
        # method/url/path strings (and a plain dict of str headers), or a bare URL string (a GET of
        # that URL, the same request as ``{"url": data}``). Such a request depends on nothing but its
        # contents (the cache key) and this transport's fixed settings, so its PreparedRequest is
        # built (and validated) once and reused. A trace context to propagate is added to a copy of
        # the cached one (``replace`` re-derives the wire request).
        simple_key: tuple[object, ...] | None = None
        if options:
            pass
        elif type(data) is str:
            simple_key = (None, data, None)
        elif type(data) is dict and _SIMPLE_KEYS_WITH_HEADERS.issuperset(data):
            method, url, path = data.get("method"), data.get("url"), data.get("path")
            if (
                (method is None or type(method) is str)
                and (url is None or type(url) is str)
                and (path is None or type(path) is str)
            ):
                headers = data.get("headers")
                if headers is None:
                    simple_key = (method, url, path)
                elif type(headers) is dict and all(
                    type(name) is str and type(value) is str for name, value in headers.items()
                ):
                    # A plain dict of str headers: the request is fixed by its contents, in order.
                    simple_key = (method, url, path, *headers.items())
        if simple_key is not None:
            prepared = self._simple.get(simple_key)
            if prepared is None:
                prepared = self._build_uncached(data, options, False)
                if len(self._simple) >= _URL_CACHE_SIZE:
                    self._simple.clear()
                self._simple[simple_key] = prepared
            if propagate and has_trace_context():
                prepared = _with_trace_context(prepared)
            return prepared
        return self._build_uncached(data, options, propagate)

    def _build_uncached(self, data: Any, options: Mapping[str, Any], propagate: bool) -> PreparedRequest:
        if isinstance(data, HttpMessage):
            data = data.to_request()
        elif isinstance(data, (str, httpx.URL)):
            data = {"url": str(data)}
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"an HTTP request must be a dict, an HttpMessage or a URL string, got {type(data).__name__}"
            )
        if not _OPTION_KEYS.issuperset(options):
            # Request fields given as keyword options join the data (an unknown name fails, listing
            # the accepted ones).
            data, options = merge_request_fields(data, options)
        unknown = set(data) - _REQUEST_KEYS
        if unknown:
            raise ConfigurationError(f"unknown HTTP request key(s): {', '.join(sorted(map(str, unknown)))}")
        method = data.get("method", "GET")
        if not isinstance(method, str) or not HTTP_TOKEN.match(method):
            raise ConfigurationError(f"invalid HTTP method {method!r}")
        method = method.upper()
        if "url" in data and "path" in data:
            raise ConfigurationError("pass either url or path, not both")
        raw_url = data.get("url", data.get("path", ""))
        if not isinstance(raw_url, (str, httpx.URL)):
            raise ConfigurationError(f"url must be a string, got {type(raw_url).__name__}")
        url = self.resolve(str(raw_url))

        request_headers = header_pairs(data.get("headers"), "request headers")
        own_cookies = data.get("cookies")
        if own_cookies:
            # Checked as any header (CR/LF/NUL, control characters) before it can reach the wire.
            request_headers += header_pairs([("Cookie", cookie_header(own_cookies))], "request cookies")
        overridden = {name.lower() for name, _ in request_headers}
        headers = [p for p in self._headers if p[0].lower() not in overridden] + request_headers
        present = {name.lower() for name, _ in headers}
        if "user-agent" not in present:
            headers.append(("User-Agent", f"pynector/{__version__}"))
        if "accept-encoding" not in present:
            headers.append(("Accept-Encoding", _codings.INSTALLED.accept_encoding))
        if propagate and "traceparent" not in present and has_trace_context():
            carrier: dict[str, str] = {}
            inject_trace_context(carrier)  # the client's attempt span is current here
            headers.extend(carrier.items())
        sensitive = self._sensitive_name
        secrets = [v for n, v in headers if sensitive(n)]
        if url.userinfo:
            username, password = url.username, url.password
            secrets += [username, password]
            if "authorization" not in present:
                token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
                headers.append(("Authorization", f"Basic {token}"))
                secrets.append(token)
            url = url.copy_with(userinfo=b"")

        if not any(data.get(key) is not None for key in _ENCODED_KEYS):
            return self._prepared(method, url, headers, b"", True, secrets, data, options)
        field = _body_field(data)
        if data.get("params") is None:
            # JSON alone (the usual API call), or bytes alone (an upload): encoded here exactly as
            # httpx would (see _known_body_headers), without building an httpx.Request (~25 us).
            known: bytes | None = None
            content_type = None
            if field == "json":
                known, content_type = _json_bytes(method, url, data["json"]), "application/json"
            elif field == "content" and type(data["content"]) is bytes:
                known = data["content"]
            if known is not None:
                wire_headers = _known_body_headers(headers, known, content_type)
                return self._prepared(method, url, wire_headers, known, True, secrets, data, options)
        built = _encode(method, url, headers, data, field)
        final_url = built.url
        reject_control_characters(final_url.raw_path.decode("ascii", errors="replace"), "request URL")
        wire_headers = [
            (n, v) for n, v in built.headers.multi_items() if n.lower() not in {"host", "transfer-encoding"}
        ]
        body: Body
        replayable = True
        stream = built.stream
        if isinstance(stream, httpx.SyncByteStream):
            try:
                body = b"".join(stream)  # a sync iterable (content) or a file (files) is read here
            except PynectorError:
                raise
            except Exception as exc:
                raise _cannot_encode(field or "params", method, url, exc) from exc
            had_length = any(
                n.lower() in {"content-length", "transfer-encoding"} for n, _ in built.headers.multi_items()
            )
            wire_headers = [(n, v) for n, v in wire_headers if n.lower() != "content-length"]
            if had_length or body:
                wire_headers.append(("Content-Length", str(len(body))))
        else:
            content = data.get("content")
            if not isinstance(content, AsyncIterable):  # pragma: no cover - httpx only streams these
                raise SerializationError("request content must be bytes, str or an (async) iterable of bytes")
            self._claim_stream(content)
            body = _CheckedChunks(content)
            replayable = False
        for name, value in wire_headers:
            reject_control_characters(name, "header name")
            reject_control_characters(value, f"value of header {name!r}")
        return self._prepared(method, final_url, wire_headers, body, replayable, secrets, data, options)

    def _prepared(
        self,
        method: str,
        url: httpx.URL,
        headers: list[tuple[str, str]],
        body: Body,
        replayable: bool,
        secrets: list[str],
        data: Mapping[str, Any],
        options: Mapping[str, Any],
    ) -> PreparedRequest:
        framed = any(n.lower() in {"content-length", "transfer-encoding"} for n, _ in headers)
        if body == b"" and method in {"POST", "PUT", "PATCH"} and not framed:
            headers.append(("Content-Length", "0"))  # as httpx does: some servers require it
        if url.query:
            secrets += [v for k, v in url.params.multi_items() if is_sensitive_query_key(k)]
        timeout = options.get("timeout", data.get("timeout", _UNSET))
        return PreparedRequest(
            method=method,
            url=url,
            headers=tuple(headers),
            body=body,
            replayable=replayable,
            secrets=tuple(s for s in secrets if s),
            timeout=self._timeout if timeout is _UNSET else validate_timeout(timeout, "request timeout"),
            raise_for_status=check_bool(
                options.get("raise_for_status", self._raise_for_status), "raise_for_status"
            ),
            follow_redirects=check_bool(
                options.get("follow_redirects", self._follow_redirects), "follow_redirects"
            ),
        )

    def _claim_stream(self, content: AsyncIterable[bytes]) -> None:
        """An async iterable body can be sent once: refuse to send it again (a retry, a reused dict)."""
        try:
            if content in self._sent_streams:
                raise ConfigurationError(
                    "this async iterable body was already sent; a streamed body cannot be sent twice "
                    "(retries need bytes)"
                )
            self._sent_streams.add(content)
        except TypeError:  # not weak-referenceable: cannot be tracked
            pass

    def resolve(self, raw: str) -> httpx.URL:
        # httpx parses URLs in pure Python (~50 us); requests repeat their URLs, so cache the result.
        cached = self._resolved.get(raw)
        if cached is not None:
            return cached
        url = self._resolve_uncached(raw)
        if len(self._resolved) >= _URL_CACHE_SIZE:
            self._resolved.clear()
        self._resolved[raw] = url
        return url

    def _resolve_uncached(self, raw: str) -> httpx.URL:
        reject_control_characters(raw, "request URL")
        try:
            url = httpx.URL(raw)
        except httpx.InvalidURL as exc:
            raise ConfigurationError(f"invalid request URL {redact_url(raw)!r}: {exc}") from exc
        if url.is_relative_url:
            if self._base_url is None:
                raise ConfigurationError(
                    f"relative URL {redact_url(raw)!r} needs the transport's base_url option"
                )
            if url.host or raw.startswith("//"):
                raise ConfigurationError(
                    f"request URL {redact_url(raw)!r} is scheme-relative (//host/...): give an absolute "
                    "URL with http:// or https://, or a path relative to base_url"
                )
            relative = url.raw_path.lstrip(b"/")
            if _climbs_above(relative):
                raise ConfigurationError(
                    f"request URL {redact_url(raw)!r} climbs above base_url's path "
                    f"{self._base_url.path!r} with '..' segments; give an absolute URL to leave it"
                )
            url = self._base_url.copy_with(raw_path=self._base_url.raw_path + relative)
        return check_url(url, "request URL")


def _climbs_above(relative: bytes) -> bool:
    """Whether the relative path *relative* (no leading slash, maybe a query) resolves above its base.

    RFC 3986's dot-segment removal, counted: each directory segment goes one level down, each ``..``
    one level up (``.`` stays). Segments are percent-decoded first, as servers decode ``%2e%2e``
    before resolving it.
    """
    segments = relative.partition(b"?")[0].split(b"/")
    last = len(segments) - 1
    level = 0
    for index, segment in enumerate(segments):
        if b"%" in segment:
            segment = unquote_to_bytes(segment)
        if segment == b"..":
            level -= 1
            if level < 0:
                return True
        elif segment != b"." and index < last:
            level += 1
    return False


# --- request bodies and query parameters -------------------------------------------------------
#
# httpx's encoders do the encoding (one implementation of JSON, forms and multipart), but they trust
# their input: ``params=True`` or ``files={"a": 1}`` end in a bare AttributeError, a generator of
# ints in a TypeError, each at a different depth. So the shape of every field is checked here first,
# with a message naming the field, and whatever an encoder still raises is mapped by field.
#
# The rule for streamed bodies (``content=`` an iterable or async iterable) is the same on every
# engine: each chunk must be bytes, bytearray or memoryview. A ``str`` chunk is refused rather than
# encoded, as httpx documents byte iterators only; encode text before streaming it.

_BODY_FIELDS = ("content", "json", "data", "files")
_BYTES_LIKE = (bytes, bytearray, memoryview)


def _body_field(data: Mapping[str, Any]) -> str | None:
    """The field the body comes from (``None``: only ``params``), its shape checked.

    Raises:
        pynector.ConfigurationError: more than one body field (``data`` with ``files`` is one).
        pynector.SerializationError: a body field of the wrong shape, naming it.
    """
    given = [name for name in _BODY_FIELDS if data.get(name) is not None]
    if not given:
        return None
    if len(given) > 1 and set(given) != {"data", "files"}:
        raise ConfigurationError(
            f"a request body comes from one of content, json, or data with files; got {', '.join(given)}"
        )
    content = data.get("content")
    if content is not None and (
        isinstance(content, Mapping) or not isinstance(content, (str, *_BYTES_LIKE, Iterable, AsyncIterable))
    ):
        raise SerializationError(
            "request content must be bytes, str or an (async) iterable of bytes chunks, got "
            f"{type(content).__name__} (send a mapping with json= or data=)"
        )
    form = data.get("data")
    if form is not None and not isinstance(form, Mapping):
        raise SerializationError(
            f"request data must be a mapping of form fields, got {type(form).__name__} "
            "(send raw bytes or text with content=)"
        )
    files = data.get("files")
    if files is not None:
        _check_files(files)
    return "files" if "files" in given else given[0]


def _check_files(files: object) -> None:
    """Check ``files``: a mapping (or pairs) of field names to ``content`` or ``(filename, content[,
    content_type[, headers]])``, where content is bytes, str or a binary file.

    Raises:
        pynector.SerializationError: naming ``files`` and the field at fault.
    """
    items: Any
    if isinstance(files, Mapping):
        items = files.items()
    elif isinstance(files, (list, tuple)):
        items = files
    else:
        raise SerializationError(
            f"request files must be a mapping of field names to files, got {type(files).__name__}"
        )
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
            raise SerializationError("request files must contain (field name, file) pairs, names strings")
        name, value = item
        content = value
        if isinstance(value, tuple):
            if not 2 <= len(value) <= 4:
                raise SerializationError(
                    f"request files: field {name!r} must be (filename, content[, content_type[, headers]])"
                )
            content = value[1]
            parts_ok = (
                (value[0] is None or isinstance(value[0], str))
                and (len(value) < 3 or value[2] is None or isinstance(value[2], str))
                and (len(value) < 4 or isinstance(value[3], Mapping))
            )
            if not parts_ok:
                raise SerializationError(
                    f"request files: field {name!r} needs a str filename, a str content type and a "
                    "mapping of headers"
                )
        if not isinstance(content, (str, bytes)) and not callable(getattr(content, "read", None)):
            raise SerializationError(
                f"request files: the content of field {name!r} must be bytes, str or a binary file, "
                f"got {type(content).__name__}"
            )


def _checked_params(params: object) -> httpx.QueryParams | None:
    """``params`` as query parameters.

    Raises:
        pynector.ConfigurationError: not a mapping, (name, value) pairs or a query string.
    """
    if params is None:
        return None
    if not isinstance(params, (Mapping, list, tuple, str, bytes)):
        raise ConfigurationError(
            "request params must be a mapping, a list of (name, value) pairs or a query string, got "
            f"{type(params).__name__}"
        )
    if isinstance(params, (list, tuple)) and not all(
        isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in params
    ):
        raise ConfigurationError("request params must contain (name, value) pairs")
    try:
        return httpx.QueryParams(params)
    except Exception as exc:
        raise ConfigurationError(f"request params cannot be encoded: {describe_exception(exc)}") from exc


def _cannot_encode(field: str, method: str, url: httpx.URL, exc: Exception) -> PynectorError:
    """The error for an encoder's failure on *field* (``params`` is the caller's configuration)."""
    message = f"request {field} of {method} {redact_url(url)} cannot be encoded: {describe_exception(exc)}"
    return ConfigurationError(message) if field == "params" else SerializationError(message)


def _chunk_bytes(chunk: object) -> bytes:
    """A streamed body chunk as bytes.

    Raises:
        pynector.SerializationError: the chunk is not bytes-like.
    """
    if type(chunk) is bytes:
        return chunk
    if isinstance(chunk, _BYTES_LIKE):
        return bytes(chunk)
    hint = " (encode text before streaming it)" if isinstance(chunk, str) else ""
    raise SerializationError(
        f"request content chunks must be bytes, bytearray or memoryview, got {type(chunk).__name__}{hint}"
    )


def _sync_chunks(content: Iterable[object]) -> Iterator[bytes]:
    """The chunks of a sync iterable body, each checked (read once, when the request is built)."""
    for chunk in content:
        yield _chunk_bytes(chunk)


class _CheckedChunks:
    """An async iterable body, each chunk checked as it is sent, a failure of the iterator mapped.

    A class, not an async generator: an engine may stop early, and a suspended async generator left
    to the garbage collector makes trio warn.
    """

    __slots__ = ("_inner", "_iterator")

    def __init__(self, inner: AsyncIterable[object]) -> None:
        self._inner = inner
        self._iterator: AsyncIterator[object] | None = None

    def __aiter__(self) -> _CheckedChunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            if self._iterator is None:
                self._iterator = aiter(self._inner)
            chunk = await anext(self._iterator)
        except (StopAsyncIteration, PynectorError):
            raise
        except Exception as exc:
            raise SerializationError(
                f"iterating the request content failed: {describe_exception(exc)}"
            ) from exc
        try:
            return _chunk_bytes(chunk)
        except SerializationError:
            # The caller's iterator is suspended at its yield: close it now, not in the GC.
            aclose = getattr(self._iterator, "aclose", None)
            if aclose is not None:
                await aclose()
            raise


def _json_bytes(method: str, url: httpx.URL, value: Any) -> bytes:
    """*value* as httpx encodes a ``json`` body: compact UTF-8 JSON, NaN refused.

    Raises:
        pynector.SerializationError: the value cannot be encoded as JSON.
    """
    try:
        return jsonlib.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except PynectorError:
        raise
    except Exception as exc:
        raise _cannot_encode("json", method, url, exc) from exc


def _known_body_headers(
    headers: list[tuple[str, str]], body: bytes, content_type: str | None
) -> list[tuple[str, str]]:
    """The wire headers of a request whose only body field is ``json`` or bytes ``content`` (*body*,
    encoded): what the general path (``httpx.Request`` through :func:`_encode`) produces, byte for
    byte, without building it: header names lower-cased (as ``httpx.Headers`` lists them), ``Host``
    and ``Transfer-Encoding`` dropped, *content_type* unless one is given, and our own
    ``Content-Length`` last (for an empty body only when the caller gave a framing header, as the
    general path does; otherwise ``_prepared`` adds the one some servers want).
    """
    wire: list[tuple[str, str]] = []
    typed = framed = False
    for name, header_value in headers:
        lowered = name.lower()
        if lowered in _NOT_FORWARDED:
            framed = framed or lowered != "host"
            continue
        if lowered == "content-type":
            typed = True
        wire.append((lowered, header_value))
    if content_type is not None and not typed:
        wire.append(("content-type", content_type))
    if body or framed:
        wire.append(("Content-Length", str(len(body))))
    return wire


#: Headers the encoded request never forwards as given (the engine writes ``Host``; the framing
#: header is ours).
_NOT_FORWARDED = frozenset({"host", "transfer-encoding", "content-length"})


def _encode(
    method: str, url: httpx.URL, headers: list[tuple[str, str]], data: Mapping[str, Any], field: str | None
) -> httpx.Request:
    """The request encoded by httpx (body, body headers, params merged into the URL).

    Raises:
        pynector.ConfigurationError: invalid params, or a URL httpx refuses.
        pynector.SerializationError: the body cannot be encoded, naming its field.
    """
    params = _checked_params(data.get("params"))
    content = data.get("content")
    if isinstance(content, (bytearray, memoryview)):
        content = bytes(content)
    elif isinstance(content, Iterable) and not isinstance(content, (str, bytes)):
        content = _sync_chunks(content)
    try:
        return httpx.Request(
            method,
            url,
            params=params,
            headers=headers,
            json=data.get("json"),
            data=data.get("data"),
            content=content,
            files=data.get("files"),
        )
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"invalid request URL {redact_url(url)!r}: {exc}") from exc
    except PynectorError:
        raise
    except Exception as exc:
        raise _cannot_encode(field or "params", method, url, exc) from exc
