"""Error mapping of the OpenAI and Anthropic SDKs: their exceptions become pynector's error tree."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from ..._errors import (
    ConnectError,
    ForbiddenError,
    HTTPClientError,
    HTTPServerError,
    HTTPStatusError,
    NotFoundError,
    ProtocolError,
    PynectorError,
    RateLimitError,
    TimeoutError,
    UnauthorizedError,
    describe_exception,
    status_error_class,
)
from ..._httpcommon import classify_httpx_error
from ..._ratelimit_headers import retry_after_seconds
from ..._redact import scrub_text

__all__ = ["SDK_RETRY_STATUSES", "map_sdk_exception"]

#: Statuses the SDK transports ask ``request_with_retry`` to retry (the statuses the SDKs retry).
SDK_RETRY_STATUSES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504, 529})


def _retry_after(response: object) -> float | None:
    """Seconds requested by OpenAI's ``retry-after-ms`` or by ``Retry-After`` (seconds or HTTP date),
    read by the one parser of those headers (:func:`pynector._ratelimit_headers.retry_after_seconds`)."""
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    return retry_after_seconds(headers)


def _api_message(exc: Any) -> str:
    """The API's own error message from the body (``{"error": {"message": ...}}``), else the SDK's."""
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])
    return str(getattr(exc, "message", "") or type(exc).__name__)


def _sdk_modules() -> list[Any]:
    """The SDK modules already imported (never imports one)."""
    return [sys.modules[name] for name in ("openai", "anthropic") if name in sys.modules]


def _httpx_error(exc: BaseException | None, action: str, secrets: tuple[str, ...]) -> PynectorError | None:
    """The pynector error for an httpx (or httpx2, which the SDKs use) exception, else None.

    The classification is the HTTP layer's (:func:`pynector._httpcommon.classify_httpx_error`).
    """
    if exc is None:
        return None
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        classified = None if module is None else classify_httpx_error(exc, module)
        if classified is not None:
            cls, phase, _ = classified
            return cls(f"{action}: {phase}: {scrub_text(describe_exception(exc), secrets)}")
    return None


def _status_table(module: Any) -> list[tuple[type[BaseException], type[HTTPStatusError]]]:
    pairs = [
        ("AuthenticationError", UnauthorizedError),
        ("PermissionDeniedError", ForbiddenError),
        ("NotFoundError", NotFoundError),
        ("RateLimitError", RateLimitError),
        ("BadRequestError", HTTPClientError),
        ("UnprocessableEntityError", HTTPClientError),
        ("ContentTooLargeError", HTTPClientError),
        ("InternalServerError", HTTPServerError),
    ]
    return [(getattr(module, name), cls) for name, cls in pairs if hasattr(module, name)]


def map_sdk_exception(exc: Exception, action: str, secret: str | None = None) -> PynectorError | None:
    """Translate an OpenAI or Anthropic SDK exception into the most specific pynector error.

    Matching uses the SDKs' exception classes (of the SDK modules already imported), never class names.
    httpx transport errors that an SDK lets through unwrapped are translated too.

    Args:
        exc: the exception the SDK raised.
        action: what was being done, for the message (``"openai chat.completions.create"``).
        secret: a string (the API key) to redact from the message if the server echoed it.

    Returns:
        The error to raise ``from exc``, or ``None`` when *exc* does not come from a known SDK.
    """
    secrets = (secret,) if secret else ()
    for module in _sdk_modules():
        base = getattr(module, "OpenAIError", None) or getattr(module, "AnthropicError", None)
        if base is None or not isinstance(exc, base):
            continue
        if isinstance(exc, module.APITimeoutError):
            return TimeoutError(f"{action} timed out: {scrub_text(_api_message(exc), secrets)}")
        if isinstance(exc, module.APIConnectionError):
            # The SDKs raise APIConnectionError for any transport failure; its httpx cause tells which.
            cause = exc.__cause__ or exc.__context__
            reason = f" ({scrub_text(describe_exception(cause), secrets)})" if cause else ""
            message = f"{action} failed: {scrub_text(_api_message(exc), secrets)}{reason}"
            mapped = _httpx_error(cause, action, secrets)
            return (ConnectError if mapped is None else type(mapped))(message)
        if isinstance(exc, module.APIStatusError):
            status = int(exc.status_code)
            cls: type[HTTPStatusError] = status_error_class(status)
            for sdk_cls, pyn_cls in _status_table(module):
                if isinstance(exc, sdk_cls):
                    cls = pyn_cls if pyn_cls is not HTTPClientError else status_error_class(status)
                    break
            retry_after = _retry_after(exc.response)
            wait = "" if retry_after is None else f", retry after {retry_after:g}s"
            message = f"{action} failed with HTTP {status}{wait}: {scrub_text(_api_message(exc), secrets)}"
            return cls(message, status_code=status, response=exc.response, retry_after=retry_after)
        if isinstance(exc, module.APIError):
            return ProtocolError(f"{action} failed: {scrub_text(_api_message(exc), secrets)}")
    # Some SDK paths (Anthropic's streams) let httpx's own errors through unwrapped.
    return _httpx_error(exc, action, secrets)
