"""HTTP verbs on the client: ``await client.get(url, ...)`` and friends, typed as returning a
:class:`pynector.http.Response`.

Each verb builds the request dict the generic :meth:`Pynector.request` takes (the same fields:
``params``, ``headers``, ``cookies``, ``json``, ``data``, ``content``, ``files``) and passes the
per-request options (``follow_redirects``, ``raise_for_status``) and the client-side ``timeout`` and
``retry`` through; a field left at ``None`` is not sent, so the transport's default applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError

if TYPE_CHECKING:
    from ._retry import RetryPolicy
    from .http._model import Response

__all__ = ["HTTPVerbs"]

Params = Mapping[str, Any] | Iterable[tuple[str, Any]] | str
Headers = Mapping[str, str] | Iterable[tuple[str, str]]


_RESPONSE_TYPE: type[Response] | None = None


def _response_type() -> type[Response]:
    """:class:`pynector.http.Response`, imported on first use: importing pynector stays free of httpx."""
    global _RESPONSE_TYPE
    from .http._model import Response

    _RESPONSE_TYPE = Response
    return Response


class HTTPVerbs:
    """The HTTP verb methods of :class:`pynector.Pynector` (a mixin over its ``request``)."""

    __slots__ = ()

    if TYPE_CHECKING:

        async def request(
            self, data: Any, timeout: float | None = None, *, retry: RetryPolicy | None = None, **options: Any
        ) -> Any: ...

        _transport_name: str

    async def send_http(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        headers: Headers | None = None,
        cookies: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: Any = None,
        files: Any = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
        raise_for_status: bool | None = None,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """Send one HTTP request with any *method*; the verbs below are this with the method filled in.

        Args:
            method: the HTTP method (``"GET"``, ``"PROPFIND"``...).
            url: an absolute URL, or a path relative to the transport's ``base_url``.
            params: query parameters, added to the URL's own.
            headers: request headers (they override the transport's by name).
            cookies: cookies for this request only, sent with those of the client's jar.
            json: a body encoded as JSON.
            data: a form body.
            content: a raw body (bytes, str or an async iterable of bytes).
            files: multipart files (with *data* as the other fields).
            timeout: the client-side deadline in seconds (default: the client's ``timeout``).
            follow_redirects: follow redirects for this request (default: the transport's setting).
            raise_for_status: raise for 4xx/5xx (default: the transport's setting, on).
            retry: a :class:`pynector.RetryPolicy` for this request.

        Blocks until the whole body has been read.

        Returns:
            The response, its body read.

        Raises:
            pynector.HTTPStatusError: a 4xx/5xx status (most specific subclass), when raising is on.
            pynector.TimeoutError: the deadline passed.
            pynector.TransportError: (most specific subclass) the connection failed.
            pynector.ConfigurationError: an invalid field, or a client whose transport does not
                speak HTTP (it answered with something else than a response).
        """
        request: dict[str, Any] = {"method": method, "url": url}
        # One test per field (this runs on every verb call; a loop over pairs builds a tuple each time).
        if params is not None:
            request["params"] = params
        if headers is not None:
            request["headers"] = headers
        if cookies is not None:
            request["cookies"] = cookies
        if json is not None:
            request["json"] = json
        if data is not None:
            request["data"] = data
        if content is not None:
            request["content"] = content
        if files is not None:
            request["files"] = files
        if follow_redirects is None and raise_for_status is None:
            response = await self.request(request, timeout, retry=retry)
        else:
            options: dict[str, Any] = {}
            if follow_redirects is not None:
                options["follow_redirects"] = follow_redirects
            if raise_for_status is not None:
                options["raise_for_status"] = raise_for_status
            response = await self.request(request, timeout, retry=retry, **options)
        response_type = _RESPONSE_TYPE or _response_type()
        if not isinstance(response, response_type):
            raise ConfigurationError(
                f"{method} needs an HTTP transport (transport_type 'http' or 'httpx'); the "
                f"{self._transport_name} transport answered with {type(response).__name__}"
            )
        return response

    async def get(
        self,
        url: str,
        *,
        params: Params | None = None,
        headers: Headers | None = None,
        cookies: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: Any = None,
        files: Any = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
        raise_for_status: bool | None = None,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """``GET`` *url*; the arguments and errors are those of :meth:`send_http`."""
        return await self.send_http(
            "GET", url, params=params, headers=headers, cookies=cookies, json=json, data=data,
            content=content, files=files, timeout=timeout, follow_redirects=follow_redirects,
            raise_for_status=raise_for_status, retry=retry,
        )  # fmt: skip

    async def post(
        self,
        url: str,
        *,
        params: Params | None = None,
        headers: Headers | None = None,
        cookies: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: Any = None,
        files: Any = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
        raise_for_status: bool | None = None,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """``POST`` *url*; the arguments and errors are those of :meth:`send_http`."""
        return await self.send_http(
            "POST", url, params=params, headers=headers, cookies=cookies, json=json, data=data,
            content=content, files=files, timeout=timeout, follow_redirects=follow_redirects,
            raise_for_status=raise_for_status, retry=retry,
        )  # fmt: skip

    async def put(
        self,
        url: str,
        *,
        params: Params | None = None,
        headers: Headers | None = None,
        cookies: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: Any = None,
        files: Any = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
        raise_for_status: bool | None = None,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """``PUT`` *url*; the arguments and errors are those of :meth:`send_http`."""
        return await self.send_http(
            "PUT", url, params=params, headers=headers, cookies=cookies, json=json, data=data,
            content=content, files=files, timeout=timeout, follow_redirects=follow_redirects,
            raise_for_status=raise_for_status, retry=retry,
        )  # fmt: skip

    async def patch(
        self,
        url: str,
        *,
        params: Params | None = None,
        headers: Headers | None = None,
        cookies: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: Any = None,
        files: Any = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
        raise_for_status: bool | None = None,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """``PATCH`` *url*; the arguments and errors are those of :meth:`send_http`."""
        return await self.send_http(
            "PATCH", url, params=params, headers=headers, cookies=cookies, json=json, data=data,
            content=content, files=files, timeout=timeout, follow_redirects=follow_redirects,
            raise_for_status=raise_for_status, retry=retry,
        )  # fmt: skip

    async def delete(
        self,
        url: str,
        *,
        params: Params | None = None,
        headers: Headers | None = None,
        cookies: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: Any = None,
        files: Any = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
        raise_for_status: bool | None = None,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """``DELETE`` *url*; the arguments and errors are those of :meth:`send_http`."""
        return await self.send_http(
            "DELETE", url, params=params, headers=headers, cookies=cookies, json=json, data=data,
            content=content, files=files, timeout=timeout, follow_redirects=follow_redirects,
            raise_for_status=raise_for_status, retry=retry,
        )  # fmt: skip

    async def head(
        self,
        url: str,
        *,
        params: Params | None = None,
        headers: Headers | None = None,
        cookies: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: Any = None,
        files: Any = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
        raise_for_status: bool | None = None,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """``HEAD`` *url*; the arguments and errors are those of :meth:`send_http`."""
        return await self.send_http(
            "HEAD", url, params=params, headers=headers, cookies=cookies, json=json, data=data,
            content=content, files=files, timeout=timeout, follow_redirects=follow_redirects,
            raise_for_status=raise_for_status, retry=retry,
        )  # fmt: skip

    async def options(
        self,
        url: str,
        *,
        params: Params | None = None,
        headers: Headers | None = None,
        cookies: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: Any = None,
        files: Any = None,
        timeout: float | None = None,
        follow_redirects: bool | None = None,
        raise_for_status: bool | None = None,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """``OPTIONS`` *url*; the arguments and errors are those of :meth:`send_http`."""
        return await self.send_http(
            "OPTIONS", url, params=params, headers=headers, cookies=cookies, json=json, data=data,
            content=content, files=files, timeout=timeout, follow_redirects=follow_redirects,
            raise_for_status=raise_for_status, retry=retry,
        )  # fmt: skip
