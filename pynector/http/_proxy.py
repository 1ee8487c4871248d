"""Proxy settings for HTTP: parsing a proxy URL, and choosing the proxy for an origin.

The rules follow httpx (its ``get_environment_proxies`` and URL patterns), so a program moving from
httpx keeps its proxy behaviour:

- an explicit ``proxy="http://user:pass@host:port"`` applies to every request;
- otherwise, unless ``trust_env=False``, the environment decides: ``HTTP_PROXY`` for http URLs,
  ``HTTPS_PROXY`` for https URLs, ``ALL_PROXY`` for both (each also in lower case, which wins, as
  ``urllib.request.getproxies`` reads them), and ``NO_PROXY`` lists hosts reached directly: ``*``
  (every host), ``example.com`` (that host and its subdomains), ``.example.com`` (subdomains only),
  an IP address or ``localhost`` (that host), or a ``scheme://host`` URL;
- a proxy given without a scheme is an http proxy.

Only ``http://`` proxies are supported: http requests go to the proxy in absolute form
(``GET http://host/path``), https requests through a ``CONNECT`` tunnel, then TLS with the origin.
SOCKS proxies are refused with a :class:`pynector.ConfigurationError` (no maintained SOCKS library
works over trio streams; ``transport_type="httpx"`` with ``httpx[socks]`` supports them).

The proxy's credentials become a ``Proxy-Authorization: Basic`` header; they are secrets: shown
only through :func:`pynector._redact.redact_url`, never in messages or reprs.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies

import h11
import trio

from .._errors import ConfigurationError, ConnectError, ProtocolError
from .._net import host_port
from .._redact import redact_url

__all__ = ["Proxy", "ProxyResolver", "open_tunnel", "parse_proxy_url"]


@dataclass(frozen=True, slots=True)
class Proxy:
    """An http proxy.

    Attributes:
        host: the proxy's host.
        port: its port (default 80).
        authorization: the ``Proxy-Authorization`` value, or ``None`` without credentials.
        url_text: the URL as given (with credentials: never print it; see :attr:`redacted`).
    """

    host: str
    port: int
    authorization: str | None = field(repr=False)
    url_text: str = field(repr=False)

    @property
    def redacted(self) -> str:
        """The proxy URL with any credentials replaced."""
        return redact_url(self.url_text)

    def __repr__(self) -> str:
        return f"<Proxy {self.redacted}>"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values to scrub from any text (the header value and its token)."""
        if self.authorization is None:
            return ()
        return (self.authorization, self.authorization.removeprefix("Basic "))


def parse_proxy_url(url: object) -> Proxy:
    """Parse a proxy URL (``http://[user:pass@]host[:port]``; no scheme means http).

    Raises:
        pynector.ConfigurationError: not a string, a scheme other than http (SOCKS and https
            proxies are named), or no host; the message shows the URL redacted.
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"proxy must be a URL string, got {type(url).__name__}")
    text = url if "://" in url else f"http://{url}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"proxy {redact_url(text)!r} is not a valid URL") from exc
    scheme = parts.scheme.lower()
    if scheme.startswith("socks"):
        raise ConfigurationError(
            f'SOCKS proxies ({redact_url(text)!r}) are not supported by the native "http" engine: no '
            'maintained SOCKS library works over trio streams; use transport_type="httpx" with httpx[socks]'
        )
    if scheme != "http":
        raise ConfigurationError(
            f'proxy {redact_url(text)!r} has scheme {scheme!r}; the native "http" engine supports '
            'http:// proxies (https targets go through a CONNECT tunnel); use transport_type="httpx" '
            "for others"
        )
    if not parts.hostname:
        raise ConfigurationError(f"proxy {redact_url(text)!r} has no host")
    authorization = None
    if parts.username is not None or parts.password is not None:
        credentials = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
    return Proxy(parts.hostname, port or 80, authorization, text)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class _Bypass:
    """One ``NO_PROXY`` entry."""

    scheme: str | None  # None: any scheme
    host: str  # lower case, no brackets
    port: int | None
    subdomains: bool  # also match subdomains of host
    only_subdomains: bool  # a leading dot: only subdomains

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if self.scheme is not None and self.scheme != scheme:
            return False
        if self.port is not None and self.port != port:
            return False
        if self.only_subdomains:
            return host.endswith("." + self.host)
        if self.subdomains:
            return host == self.host or host.endswith("." + self.host)
        return host == self.host


def _parse_bypass(entry: str) -> _Bypass | None:
    entry = entry.strip().lower()
    if not entry:
        return None
    if "://" in entry:
        parts = urlsplit(entry)
        try:
            port = parts.port
        except ValueError:
            return None
        return _Bypass(parts.scheme or None, (parts.hostname or "").strip("[]"), port, False, False)
    if _is_ip(entry) or entry == "localhost":
        return _Bypass(None, entry.strip("[]"), None, False, False)
    if entry.startswith("*."):
        return _Bypass(None, entry[2:], None, True, True)
    if entry.startswith("."):
        return _Bypass(None, entry[1:], None, True, True)
    return _Bypass(None, entry.lstrip("*"), None, True, False)


class ProxyResolver:
    """Chooses the proxy for each origin: the explicit one, or the environment's (read once, here).

    Args:
        proxy: an explicit proxy URL for every request, or ``None``.
        trust_env: read ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` (and their
            lower-case forms) when *proxy* is ``None``.

    Raises:
        pynector.ConfigurationError: an invalid proxy URL (explicit or from the environment, which
            the message names).
    """

    __slots__ = ("_by_scheme", "_bypass", "_everything")

    def __init__(self, proxy: object = None, trust_env: bool = True) -> None:
        self._by_scheme: dict[str, Proxy] = {}
        self._bypass: list[_Bypass] = []
        self._everything = False  # NO_PROXY=*
        if proxy is not None:
            parsed = parse_proxy_url(proxy)
            self._by_scheme = {"http": parsed, "https": parsed}
            return
        if not trust_env:
            return
        found = getproxies()
        for scheme in ("all", "http", "https"):
            value = found.get(scheme)
            if not value:
                continue
            try:
                parsed = parse_proxy_url(value)
            except ConfigurationError as exc:
                raise ConfigurationError(f"the {scheme.upper()}_PROXY environment variable: {exc}") from exc
            if scheme == "all":
                self._by_scheme.setdefault("http", parsed)
                self._by_scheme.setdefault("https", parsed)
            else:
                self._by_scheme[scheme] = parsed
        for entry in found.get("no", "").split(","):
            if entry.strip() == "*":
                self._everything = True
            bypass = _parse_bypass(entry)
            if bypass is not None:
                self._bypass.append(bypass)

    @property
    def active(self) -> bool:
        """Whether any request may go through a proxy."""
        return bool(self._by_scheme) and not self._everything

    def proxy_for(self, scheme: str, host: str, port: int) -> Proxy | None:
        """The proxy for an origin, or ``None`` to connect directly."""
        proxy = self._by_scheme.get(scheme)
        if proxy is None or self._everything:
            return None
        lowered = host.lower()
        if any(bypass.matches(scheme, lowered, port) for bypass in self._bypass):
            return None
        return proxy


#: The largest proxy answer to ``CONNECT`` read (status line and headers).
_MAX_TUNNEL_HEAD = 65536


async def open_tunnel(stream: trio.abc.Stream, host: str, port: int, proxy: Proxy) -> None:
    """Ask the proxy on *stream* for a tunnel to ``host:port`` (``CONNECT``); return once it is open.

    Blocks until the proxy answered. The caller then speaks TLS with the origin over *stream*.

    Raises:
        pynector.ConnectError: the proxy answered with a status other than 2xx (407 when it wants
            credentials), or closed the connection; the message names the proxy only redacted.
        pynector.ProtocolError: the proxy's answer is malformed or too large.
        trio.BrokenResourceError, OSError: the connection failed (mapped by the engine).
    """
    authority = host_port(host, port)
    headers = [("Host", authority)]
    if proxy.authorization is not None:
        headers.append(("Proxy-Authorization", proxy.authorization))
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_TUNNEL_HEAD)
    data = conn.send(h11.Request(method="CONNECT", target=authority, headers=headers))
    assert data is not None
    await stream.send_all(data)
    conn.send(h11.EndOfMessage())
    where = f"proxy {proxy.redacted} (tunnel to {authority})"
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise ProtocolError(f"{where} sent a malformed answer to CONNECT") from exc
        if event is h11.NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some(_MAX_TUNNEL_HEAD)))
        elif type(event) is h11.InformationalResponse:
            continue
        elif type(event) is h11.Response:
            if not 200 <= event.status_code < 300:
                reason = event.reason.decode("latin-1", errors="replace")
                raise ConnectError(f"{where} refused the tunnel: {event.status_code} {reason}".rstrip())
            if conn.trailing_data[0]:
                raise ProtocolError(f"{where} sent bytes after its answer to CONNECT")
            return
        else:
            raise ConnectError(f"{where} closed the connection before answering CONNECT")
