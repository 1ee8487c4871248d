"""The opt-in cookie jar of the HTTP transport, by the standard library's ``http.cookiejar`` rules.

``Pynector(cookies=True)`` (or an ``http.cookiejar.CookieJar`` of your own, or a mapping of initial
cookies for the ``base_url`` host) keeps the cookies servers set and sends them back where the jar's
rules allow: domain and path matching, ``Secure`` cookies only over https, expired cookies dropped.
The decision is made again on every hop of a redirect, so a cookie never follows a redirect to an
origin the rules exclude. Without the option no cookie is stored (a batch client stays stateless).

Cookie values are secrets: they are redacted wherever headers are shown.
"""

from __future__ import annotations

import email.message
import urllib.request
from collections.abc import Iterable, Mapping
from http.cookiejar import Cookie, CookieJar

import httpx

from .._errors import ConfigurationError

__all__ = ["CookieStore", "cookie_header", "make_store"]


class _Answer:
    """The little of a urllib response that ``CookieJar.extract_cookies`` reads."""

    def __init__(self, headers: Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]) -> None:
        self._message = email.message.Message()
        for name, value in headers:
            text_name = name.decode("latin-1") if isinstance(name, bytes) else name
            if text_name.lower() in {"set-cookie", "set-cookie2"}:
                text_value = value.decode("latin-1") if isinstance(value, bytes) else value
                self._message[text_name] = text_value

    def info(self) -> email.message.Message:
        return self._message


class CookieStore:
    """A :class:`http.cookiejar.CookieJar` and the two operations an exchange needs."""

    __slots__ = ("jar",)

    def __init__(self, jar: CookieJar) -> None:
        self.jar = jar

    def header_for(self, url: httpx.URL) -> str | None:
        """The ``Cookie`` value the jar's rules allow for *url*, or ``None``."""
        request = urllib.request.Request(str(url))
        self.jar.add_cookie_header(request)
        return request.get_header("Cookie")

    def store(
        self, url: httpx.URL, headers: Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]
    ) -> None:
        """Keep the cookies a response to *url* set (the jar refuses those its rules exclude)."""
        answer = _Answer(headers)
        if answer.info().get_all("Set-Cookie"):
            self.jar.extract_cookies(answer, urllib.request.Request(str(url)))  # type: ignore[arg-type]


def make_store(cookies: object, base_url: httpx.URL | None) -> CookieStore | None:
    """The transport's store for its ``cookies`` option.

    Raises:
        pynector.ConfigurationError: not ``None``, ``True``, a ``CookieJar`` or a mapping of strings;
            or a mapping without a ``base_url`` to scope it to.
    """
    if cookies is None or cookies is False:
        return None
    if cookies is True:
        return CookieStore(CookieJar())
    if isinstance(cookies, CookieJar):
        return CookieStore(cookies)
    if isinstance(cookies, Mapping):
        if base_url is None:
            raise ConfigurationError(
                "cookies as a mapping need base_url (they are sent to its host only); "
                "or pass cookies=True or an http.cookiejar.CookieJar"
            )
        jar = CookieJar()
        for name, value in cookies.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise ConfigurationError("cookies must map cookie names to string values")
            jar.set_cookie(_cookie(name, value, base_url.host))
        return CookieStore(jar)
    raise ConfigurationError(
        f"cookies must be True, an http.cookiejar.CookieJar or a mapping, got {type(cookies).__name__}"
    )


def _cookie(name: str, value: str, host: str) -> Cookie:
    return Cookie(
        0, name, value, None, False, host, False, False, "/", False, False, None, False, None, None, {}
    )


def cookie_header(cookies: object) -> str:
    """The ``Cookie`` value for a request's own ``cookies`` field.

    Raises:
        pynector.ConfigurationError: not a mapping of strings.
    """
    if not isinstance(cookies, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in cookies.items()
    ):
        raise ConfigurationError("request cookies must be a mapping of cookie names to string values")
    return "; ".join(f"{name}={value}" for name, value in cookies.items())
