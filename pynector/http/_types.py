"""The typed shape of an HTTP request dict (what ``client.request({...})`` and batch items take)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

__all__ = ["HTTPRequest"]


class HTTPRequest(TypedDict, total=False):
    """An HTTP request as a dict; every key is optional (``method`` defaults to ``"GET"``).

    Keys:
        method: the HTTP method.
        url: an absolute URL, or one relative to the transport's ``base_url``.
        path: the same as a relative ``url`` (pass one of the two).
        params: query parameters, added to the URL's own.
        headers: request headers; they override the transport's by name.
        cookies: cookies for this request only (``{"name": "value"}``), sent with the jar's.
        json: a body encoded as JSON.
        data: a form body (a mapping), encoded as ``application/x-www-form-urlencoded`` or, with
            ``files``, ``multipart/form-data``.
        content: a raw body: bytes, str, or an (async) iterable of bytes (sent once, chunked).
        files: multipart files, as httpx takes them.
        timeout: total seconds for this exchange (the transport's ``timeout`` by default).
    """

    method: str
    url: str
    path: str
    params: Mapping[str, Any] | Iterable[tuple[str, Any]] | str
    headers: Mapping[str, str] | Iterable[tuple[str, str]]
    cookies: Mapping[str, str]
    json: Any
    data: Mapping[str, Any]
    content: Any
    files: Any
    timeout: float | None
