"""SDK transports: the official OpenAI and Anthropic async SDKs, and any async callable.

Calling an LLM API in bulk is what pynector's batch engine is for: thousands of prompts, bounded
concurrency, one deadline, retries that honour ``Retry-After``. The SDKs already retry and time out on
their own, and stacking two retry loops multiplies attempts (3 SDK retries x 3 pynector retries = 16
calls for one failing prompt) while the SDK's per-read timeouts do not bound a slow-dripping reply. So
the SDK clients are built with ``max_retries=0`` and a generous timeout, and pynector decides:

- **retries**: an SDK error is translated, by the SDK's own exception classes, into pynector's error
  tree (rate limit -> :class:`~pynector.RateLimitError` with ``retry_after`` read from the response's
  ``retry-after-ms`` / ``Retry-After`` header, 5xx -> :class:`~pynector.HTTPServerError`, connection
  -> :class:`~pynector.ConnectError`, a reply cut short -> :class:`~pynector.ReadError` or
  :class:`~pynector.ProtocolError`...), which the core :class:`~pynector.RetryPolicy` understands.
  The transport advertises :data:`SDK_RETRY_STATUSES` (429, 5xx, Anthropic's 529 "overloaded", the
  statuses the SDKs themselves retry) as its ``retry_statuses``, which ``request_with_retry`` uses for
  its default policy. Completions have no side effect to duplicate, so retrying them after a 5xx is
  safe.
- **deadlines**: trio's, around the whole call (``timeout=`` of the client), which works because both
  SDKs use httpx on anyio, which runs on trio's event loop and honours its cancel scopes.

A transport-wide :class:`trio.CapacityLimiter` (``max_connections``) is held for each whole call,
body included, so the SDK's connection pool (1000 connections) never queues a request: httpcore leaks
the pool slot of a request cancelled while queued (encode/httpcore#1093), and every later request
then fails with ``PoolTimeout``.

The SDKs are imported only when a provider is asked for, so ``import pynector`` works without them; a
missing one raises :class:`~pynector.ConfigurationError` naming the extra to install. The API key is
never put in a message, a log event or a repr: SDK error texts are rebuilt from the status and the
API's error message, with the key redacted if the server echoed it.

Streaming under trio: the SDKs and httpx iterate the response through nested async generators that are
not closed explicitly when a stream ends early (or, for OpenAI, at ``[DONE]``), so trio may emit a
``ResourceWarning`` when they are garbage collected. It is harmless (Python ignores ResourceWarning by
default, and trio closes the generators) and comes from upstream code.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import sys
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import trio

from .._config import validate_count, validate_timeout
from .._errors import (
    ConfigurationError,
    ConnectError,
    ForbiddenError,
    HTTPClientError,
    HTTPServerError,
    HTTPStatusError,
    NotFoundError,
    ProtocolError,
    PynectorError,
    RateLimitError,
    SerializationError,
    TimeoutError,
    UnauthorizedError,
    describe_exception,
    status_error_class,
)
from .._httpcommon import classify_httpx_error, parse_retry_after
from ._base import closed_error

__all__ = [
    "SDK_RETRY_STATUSES",
    "map_sdk_exception",
    "CallableTransport",
    "SDKTransport",
    "TextReply",
    "TextStream",
    "Usage",
    "sum_usage",
]

#: Statuses the SDK transports ask ``request_with_retry`` to retry (the statuses the SDKs retry).
SDK_RETRY_STATUSES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504, 529})

#: ``max_tokens`` sent to Anthropic when neither the defaults nor the request set it (the API requires it).
ANTHROPIC_DEFAULT_MAX_TOKENS = 1024

#: Seconds closing an SDK stream or client may take.
_CLOSE_TIMEOUT = 5.0

_REDACTED = "[REDACTED]"


# --- usage accounting ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts summed over responses.

    Attributes:
        requests: responses counted (each successful call or finished stream).
        input_tokens: prompt tokens (OpenAI ``prompt_tokens``, Anthropic ``input_tokens``).
        output_tokens: generated tokens (OpenAI ``completion_tokens``, Anthropic ``output_tokens``).
    """

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """``input_tokens + output_tokens``."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: object) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            self.requests + other.requests,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
        )

    @classmethod
    def of(cls, result: object) -> Usage:
        """The usage reported by one result: a :class:`TextReply`, an OpenAI or Anthropic response.

        Anything else (an exception slot of a batch, a response without usage) counts as zero.
        """
        if isinstance(result, TextReply):
            return result.usage
        usage = getattr(result, "usage", None)
        if usage is None or isinstance(result, BaseException):
            return cls()
        input_tokens = _int_attr(usage, "input_tokens", "prompt_tokens")
        output_tokens = _int_attr(usage, "output_tokens", "completion_tokens")
        return cls(1, input_tokens, output_tokens)


def _int_attr(obj: object, *names: str) -> int:
    for name in names:
        value = getattr(obj, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def sum_usage(results: Iterable[object]) -> Usage:
    """Sum the usage of a batch's results (failed slots count as zero).

    ``sum_usage(await client.batch_request(pairs))`` gives the tokens that batch consumed.
    """
    total = Usage()
    for result in results:
        total += Usage.of(result)
    return total


class TextReply(str):
    """The reply text of a prompt request: a ``str``, with the call's usage and full response attached.

    Attributes:
        usage: the tokens this call consumed.
        response: the SDK's response object.
    """

    usage: Usage
    response: Any

    def __new__(cls, text: str, *, usage: Usage | None = None, response: Any = None) -> TextReply:
        reply = super().__new__(cls, text)
        reply.usage = Usage() if usage is None else usage
        reply.response = response
        return reply


# --- error translation ---------------------------------------------------------------------------


def _retry_after(response: object) -> float | None:
    """Seconds requested by OpenAI's ``retry-after-ms`` or by ``Retry-After`` (seconds or HTTP date).

    ``Retry-After`` is read by the HTTP layer's parser (an HTTP date is measured against the
    response's ``Date`` header when present); ``retry-after-ms`` is an SDK convention read here.
    """
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            milliseconds = float(raw_ms)
        except ValueError:
            pass
        else:
            if math.isfinite(milliseconds):
                return max(0.0, milliseconds / 1000.0)
    return parse_retry_after(headers.get("retry-after"), headers.get("date"))


def _redact(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 4:
        return text.replace(secret, _REDACTED)
    return text


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


def _httpx_error(exc: BaseException | None, action: str, secret: str | None) -> PynectorError | None:
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
            return cls(f"{action}: {phase}: {_redact(describe_exception(exc), secret)}")
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
    for module in _sdk_modules():
        base = getattr(module, "OpenAIError", None) or getattr(module, "AnthropicError", None)
        if base is None or not isinstance(exc, base):
            continue
        if isinstance(exc, module.APITimeoutError):
            return TimeoutError(f"{action} timed out: {_redact(_api_message(exc), secret)}")
        if isinstance(exc, module.APIConnectionError):
            # The SDKs raise APIConnectionError for any transport failure; its httpx cause tells which.
            cause = exc.__cause__ or exc.__context__
            reason = f" ({_redact(describe_exception(cause), secret)})" if cause else ""
            message = f"{action} failed: {_redact(_api_message(exc), secret)}{reason}"
            mapped = _httpx_error(cause, action, secret)
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
            message = f"{action} failed with HTTP {status}{wait}: {_redact(_api_message(exc), secret)}"
            return cls(message, status_code=status, response=exc.response, retry_after=retry_after)
        if isinstance(exc, module.APIError):
            return ProtocolError(f"{action} failed: {_redact(_api_message(exc), secret)}")
    # Some SDK paths (Anthropic's streams) let httpx's own errors through unwrapped.
    return _httpx_error(exc, action, secret)


# --- providers -----------------------------------------------------------------------------------


class _Provider:
    """What differs between the SDKs: client construction, the call, and reading replies."""

    name: ClassVar[str]
    env_var: ClassVar[str]
    call_name: ClassVar[str]

    def __init__(self, module: Any) -> None:
        self.module = module

    def build_client(self, api_key: str, base_url: str | None, timeout: float | None, extra: Any) -> Any:
        kwargs: dict[str, Any] = {"api_key": api_key, "max_retries": 0, "timeout": timeout, **extra}
        if base_url is not None:
            kwargs["base_url"] = base_url
        return self.client_class()(**kwargs)

    def client_class(self) -> Any:
        raise NotImplementedError

    def prepare(self, kwargs: dict[str, Any]) -> None:
        """Fill provider-specific defaults into the call arguments."""

    def create(self, client: Any, kwargs: Mapping[str, Any]) -> Awaitable[Any]:
        raise NotImplementedError

    def text_of(self, response: Any) -> str:
        raise NotImplementedError

    def prepare_stream(self, kwargs: dict[str, Any]) -> None:
        kwargs["stream"] = True

    def read_event(self, event: Any, counts: list[int]) -> str | None:
        """The text delta carried by a stream event (or ``None``); updates ``[input, output]`` counts."""
        raise NotImplementedError


class _OpenAIProvider(_Provider):
    name = "openai"
    env_var = "OPENAI_API_KEY"
    call_name = "openai chat.completions.create"

    def client_class(self) -> Any:
        return self.module.AsyncOpenAI

    def create(self, client: Any, kwargs: Mapping[str, Any]) -> Awaitable[Any]:
        return client.chat.completions.create(**kwargs)  # type: ignore[no-any-return]

    def text_of(self, response: Any) -> str:
        choices = getattr(response, "choices", None) or []
        if not choices:
            return ""
        return str(choices[0].message.content or "")

    def prepare_stream(self, kwargs: dict[str, Any]) -> None:
        kwargs["stream"] = True
        # Without it a streamed completion reports no token counts.
        kwargs.setdefault("stream_options", {"include_usage": True})

    def read_event(self, event: Any, counts: list[int]) -> str | None:
        usage = getattr(event, "usage", None)
        if usage is not None:
            counts[0] = _int_attr(usage, "prompt_tokens")
            counts[1] = _int_attr(usage, "completion_tokens")
        choices = getattr(event, "choices", None)
        if not choices:
            return None
        content = getattr(choices[0].delta, "content", None)
        return content if isinstance(content, str) and content else None


class _AnthropicProvider(_Provider):
    name = "anthropic"
    env_var = "ANTHROPIC_API_KEY"
    call_name = "anthropic messages.create"

    def client_class(self) -> Any:
        return self.module.AsyncAnthropic

    def prepare(self, kwargs: dict[str, Any]) -> None:
        kwargs.setdefault("max_tokens", ANTHROPIC_DEFAULT_MAX_TOKENS)

    def create(self, client: Any, kwargs: Mapping[str, Any]) -> Awaitable[Any]:
        return client.messages.create(**kwargs)  # type: ignore[no-any-return]

    def text_of(self, response: Any) -> str:
        blocks = getattr(response, "content", None) or []
        return "".join(b.text for b in blocks if getattr(b, "type", None) == "text")

    def read_event(self, event: Any, counts: list[int]) -> str | None:
        kind = getattr(event, "type", None)
        if kind == "content_block_delta":
            delta = event.delta
            if getattr(delta, "type", None) == "text_delta":
                return str(delta.text) if delta.text else None
        elif kind == "message_start":
            counts[0] = _int_attr(event.message.usage, "input_tokens")
            counts[1] = _int_attr(event.message.usage, "output_tokens")
        elif kind == "message_delta":
            counts[1] = _int_attr(event.usage, "output_tokens") or counts[1]
        return None


_PROVIDERS: dict[str, type[_Provider]] = {"openai": _OpenAIProvider, "anthropic": _AnthropicProvider}


def _load_provider(provider: object) -> _Provider:
    if not isinstance(provider, str) or provider not in _PROVIDERS:
        raise ConfigurationError(
            f"the sdk transport needs provider='openai' or provider='anthropic', got {provider!r}"
        )
    try:
        module = importlib.import_module(provider)
    except ImportError as exc:
        raise ConfigurationError(
            f"provider {provider!r} needs the {provider} package: pip install 'pynector[{provider}]'"
        ) from exc
    return _PROVIDERS[provider](module)


# --- the transports ------------------------------------------------------------------------------


class TextStream:
    """Async iterator over the text deltas of one streamed reply (see :meth:`SDKTransport.stream`).

    Attributes:
        usage: tokens reported so far (complete once the stream is exhausted).
        finished: whether the reply was read to the end.
    """

    def __init__(self, sdk_stream: Any, provider: _Provider, action: str, secret: str) -> None:
        self._events = sdk_stream.__aiter__()
        self._provider = provider
        self._action = action
        self._secret = secret
        self._counts = [0, 0]
        self.finished = False

    @property
    def usage(self) -> Usage:
        """The stream's token counts so far."""
        return Usage(1 if self.finished else 0, self._counts[0], self._counts[1])

    def __aiter__(self) -> TextStream:
        return self

    async def __anext__(self) -> str:
        """The next text delta.

        Raises:
            StopAsyncIteration: the reply is complete.
            pynector.PynectorError: the SDK failed mid-stream (translated as for ``exchange``).
        """
        while True:
            try:
                event = await self._events.__anext__()
            except StopAsyncIteration:
                self.finished = True
                raise
            except Exception as exc:
                mapped = map_sdk_exception(exc, self._action, self._secret)
                if mapped is None:
                    raise
                raise mapped from exc
            text = self._provider.read_event(event, self._counts)
            if text is not None:
                return text


class SDKTransport:
    """Calls the OpenAI or Anthropic async SDK, one API call per exchange.

    Created by ``Pynector(transport_type="sdk", provider=..., ...)``.

    Args:
        provider: ``"openai"`` (chat completions) or ``"anthropic"`` (messages).
        api_key: the API key; defaults to ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``.
        base_url: the API's base URL (default: the SDK's, or its environment variable).
        model: the model for every call that does not name one.
        max_connections: the most calls in flight at once through this transport (100).
        sdk_timeout: the SDK's own per-read timeout in seconds, a safety net only (600; ``None`` turns
            it off). Use the client's ``timeout=`` for real deadlines.
        client_options: extra keyword arguments for the SDK client constructor
            (``organization=``, ``default_headers=``...).
        **defaults: call arguments sent with every request (``temperature=0``, ``max_tokens=256``...).

    A request is a prompt (``str`` or UTF-8 ``bytes``), sent as one user message, which returns the
    reply text as a :class:`TextReply`; or a ``dict`` of call arguments merged over the defaults, which
    returns the SDK's response object. Request options (``client.request(data, temperature=0)``) are
    call arguments too, between the defaults and a dict request.

    Raises:
        pynector.ConfigurationError: unknown provider, its SDK not installed (the message names the
            extra), no API key, or an invalid option.
    """

    retry_statuses: frozenset[int] = SDK_RETRY_STATUSES

    def __init__(
        self,
        provider: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        max_connections: int = 100,
        sdk_timeout: float | None = 600.0,
        client_options: Mapping[str, Any] | None = None,
        **defaults: Any,
    ) -> None:
        self._provider = _load_provider(provider)
        key = api_key if api_key is not None else os.environ.get(self._provider.env_var)
        if not isinstance(key, str) or not key:
            raise ConfigurationError(
                f"the {self._provider.name} sdk transport needs an API key: pass api_key=... or set "
                f"{self._provider.env_var}"
            )
        if base_url is not None and not isinstance(base_url, str):
            raise ConfigurationError(f"base_url must be a string, got {type(base_url).__name__}")
        if model is not None and (not isinstance(model, str) or not model):
            raise ConfigurationError(f"model must be a non-empty string, got {model!r}")
        if client_options is not None and not isinstance(client_options, Mapping):
            raise ConfigurationError("client_options must be a mapping of SDK client arguments")
        reserved = sorted(set(client_options or ()) & {"api_key", "base_url", "max_retries", "timeout"})
        if reserved:
            raise ConfigurationError(
                f"client_options cannot set {', '.join(reserved)}: use the transport's api_key=, "
                "base_url= and sdk_timeout= options, and pynector's retries (the SDK's stay off)"
            )
        if "stream" in defaults:
            raise ConfigurationError("stream is not a default call argument: use client.stream(...)")
        self._api_key = key
        self._base_url = base_url
        self._sdk_timeout = validate_timeout(sdk_timeout, "sdk_timeout")
        self._client_options = dict(client_options or {})
        self.defaults: dict[str, Any] = dict(defaults)
        if model is not None:
            self.defaults["model"] = model
        self._limiter = trio.CapacityLimiter(validate_count(max_connections, "max_connections", 1))
        self._client: Any = None
        self._closed = False
        self._usage = Usage()

    @property
    def provider(self) -> str:
        """``"openai"`` or ``"anthropic"``."""
        return self._provider.name

    def usage(self) -> Usage:
        """Tokens consumed by every successful call and finished stream of this transport so far."""
        return self._usage

    def __repr__(self) -> str:
        model = self.defaults.get("model")
        return f"<SDKTransport provider={self._provider.name!r} model={model!r}>"

    async def connect(self) -> None:
        """Create the SDK client. Idempotent.

        Raises:
            pynector.ClientClosedError: after ``disconnect()``.
            pynector.ConfigurationError: the SDK rejected the client options.
        """
        self._sdk_client()

    async def disconnect(self) -> None:
        """Close the SDK client and its connection pool. Idempotent."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT):
                await client.close()

    # --- telemetry hooks (pynector.transport.TracedTransport), GenAI semantic conventions -------

    def _model_of(self, data: Any, options: Mapping[str, Any]) -> str | None:
        model = data.get("model") if isinstance(data, Mapping) else None
        model = model or options.get("model") or self.defaults.get("model")
        return model if isinstance(model, str) else None

    def span_name(self, data: Any, options: Mapping[str, Any]) -> str:
        """``"chat <model>"`` (GenAI semantic conventions), or ``"chat"`` without a model."""
        model = self._model_of(data, options)
        return "chat" if model is None else f"chat {model}"

    def span_attributes(self, data: Any, options: Mapping[str, Any]) -> Mapping[str, str | int]:
        """``gen_ai.operation.name``, ``gen_ai.system``, ``gen_ai.request.model`` and, with a
        ``base_url``, ``server.address``/``server.port``; never the prompt or the key."""
        attributes: dict[str, str | int] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": self._provider.name,
        }
        model = self._model_of(data, options)
        if model is not None:
            attributes["gen_ai.request.model"] = model
        if self._base_url is not None:
            try:
                parts = urllib.parse.urlsplit(self._base_url)
                host, port = parts.hostname, parts.port
            except ValueError:
                host = port = None
            if host:
                attributes["server.address"] = host
                attributes["server.port"] = port or (443 if parts.scheme == "https" else 80)
        return attributes

    def response_span_attributes(self, response: Any) -> Mapping[str, int]:
        """Token usage (``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``) when reported."""
        usage = Usage.of(response)
        if not (usage.input_tokens or usage.output_tokens):
            return {}
        return {
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
        }

    def _call_args(self, data: Any, options: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """The SDK call's arguments, and whether the request was a prompt (text reply)."""
        if isinstance(data, bytes):
            try:
                data = data.decode()
            except UnicodeDecodeError as exc:
                raise SerializationError(f"a bytes prompt must be UTF-8: {exc}") from exc
        if isinstance(data, str):
            kwargs = {**self.defaults, **options, "messages": [{"role": "user", "content": data}]}
            prompt = True
        elif isinstance(data, Mapping):
            kwargs = {**self.defaults, **options, **data}
            prompt = False
        else:
            raise SerializationError(
                "an sdk request is a prompt (str or bytes) or a dict of call arguments, got "
                f"{type(data).__name__}"
            )
        if "stream" in kwargs:
            raise ConfigurationError("stream= is not a call argument here: use client.stream(...)")
        if not kwargs.get("model"):
            raise ConfigurationError(
                f"no model for the {self._provider.name} call: pass model= to the transport or the request"
            )
        self._provider.prepare(kwargs)
        return kwargs, prompt

    def _sdk_client(self) -> Any:
        if self._closed:
            raise closed_error("sdk")
        if self._client is None:
            try:
                self._client = self._provider.build_client(
                    self._api_key, self._base_url, self._sdk_timeout, self._client_options
                )
            except Exception as exc:
                raise ConfigurationError(
                    f"could not create the {self._provider.name} client: "
                    f"{_redact(describe_exception(exc), self._api_key)}"
                ) from exc
        return self._client

    def _start_call(self, client: Any, kwargs: Mapping[str, Any]) -> Awaitable[Any]:
        """Create the SDK call's coroutine; the SDKs check argument names and required ones here."""
        try:
            return self._provider.create(client, kwargs)
        except TypeError as exc:
            raise ConfigurationError(
                f"invalid arguments for {self._provider.call_name}: {_redact(str(exc), self._api_key)}"
            ) from exc

    def _translate(self, exc: Exception) -> Exception:
        mapped = map_sdk_exception(exc, self._provider.call_name, self._api_key)
        return exc if mapped is None else mapped

    async def exchange(self, data: Any, **options: Any) -> Any:
        """Make one API call and return the reply text (prompt) or the SDK response (dict).

        Blocks for the whole call, waiting first for a free slot of ``max_connections``.

        Raises:
            pynector.RateLimitError: 429 (``retry_after`` from the response headers).
            pynector.UnauthorizedError, pynector.ForbiddenError, pynector.NotFoundError: 401, 403, 404.
            pynector.HTTPClientError: other 4xx (bad request, request too large...).
            pynector.HTTPServerError: 5xx (and Anthropic's 529).
            pynector.ConnectError: the API could not be reached.
            pynector.ReadError, pynector.ProtocolError: the connection failed during the reply.
            pynector.TimeoutError: the SDK's own timeout expired.
            pynector.SerializationError: *data* is neither a prompt nor a dict.
            pynector.ConfigurationError: no model, or call arguments the SDK rejects.
            pynector.ClientClosedError: after ``disconnect()``.
        """
        kwargs, prompt = self._call_args(data, options)
        client = self._sdk_client()
        call = self._start_call(client, kwargs)
        async with self._limiter:
            try:
                response = await call
            except Exception as exc:
                raise self._translate(exc) from exc
        usage = Usage.of(response)
        self._usage += usage
        if prompt:
            return TextReply(self._provider.text_of(response), usage=usage, response=response)
        return response

    @asynccontextmanager
    async def stream(self, data: Any, **options: Any) -> AsyncIterator[TextStream]:
        """Stream one reply: ``async with transport.stream(prompt) as deltas: async for text in deltas``.

        Usually reached through ``client.stream(...)``, which adds the client's deadline. The SDK stream
        (and its connection) is closed when the block exits, normally, by ``break``, by an error or by
        cancellation; its usage is added to :meth:`usage` once the stream was read to the end.

        Raises:
            pynector.PynectorError: as for :meth:`exchange`, when opening or while reading the stream.
        """
        kwargs, _ = self._call_args(data, options)
        self._provider.prepare_stream(kwargs)
        client = self._sdk_client()
        call = self._start_call(client, kwargs)
        async with self._limiter:
            try:
                sdk_stream = await call
            except Exception as exc:
                raise self._translate(exc) from exc
            deltas = TextStream(sdk_stream, self._provider, self._provider.call_name, self._api_key)
            try:
                yield deltas
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT):
                    await sdk_stream.close()
                if deltas.finished:
                    self._usage += deltas.usage


class CallableTransport:
    """Makes any async callable a transport: ``exchange(data, **options)`` returns ``fn(data, **options)``.

    Created by ``Pynector(transport_type="callable", fn=...)`` or directly, it gives any client
    library's coroutine pynector's batches, retries and deadlines::

        async def ask(prompt, **options):
            return await some_sdk.generate(prompt=prompt, **options)

        async with Pynector(transport_type="callable", fn=ask, temperature=0) as client:
            replies = await client.batch_request([(p, {}) for p in prompts], max_concurrency=8)

    Args:
        fn: an async function (or a function returning an awaitable) called once per exchange.
        **defaults: keyword arguments passed on every call, under the request's own options.

    OpenAI and Anthropic SDK exceptions raised by *fn* are translated like the sdk transport's;
    builtin I/O errors are mapped by the client; anything else reaches the caller unchanged. Token
    usage of SDK responses returned by *fn* is summed in :meth:`usage`.

    Raises:
        pynector.ConfigurationError: *fn* is missing or not callable.
    """

    retry_statuses: frozenset[int] = SDK_RETRY_STATUSES

    def __init__(self, fn: Callable[..., Awaitable[Any]] | None = None, **defaults: Any) -> None:
        if fn is None or not callable(fn):
            raise ConfigurationError(
                f"the callable transport needs fn=..., an async callable fn(data, **options), got {fn!r}"
            )
        self.fn = fn
        self.defaults = defaults
        self._name = getattr(fn, "__qualname__", type(fn).__name__)
        self._closed = False
        self._usage = Usage()

    def usage(self) -> Usage:
        """Tokens reported by the SDK responses *fn* returned so far."""
        return self._usage

    def __repr__(self) -> str:
        return f"<CallableTransport fn={self._name}>"

    async def connect(self) -> None:
        """Nothing to prepare. Idempotent.

        Raises:
            pynector.ClientClosedError: after ``disconnect()``.
        """
        if self._closed:
            raise closed_error("callable")

    async def disconnect(self) -> None:
        """Mark the transport closed. Idempotent."""
        self._closed = True

    async def exchange(self, data: Any, **options: Any) -> Any:
        """Await ``fn(data, **defaults, **options)`` and return its result.

        Raises:
            pynector.ClientClosedError: after ``disconnect()``.
            pynector.PynectorError: a translated SDK exception.
            Exception: whatever else *fn* raises.
        """
        if self._closed:
            raise closed_error("callable")
        try:
            result = self.fn(data, **({**self.defaults, **options} if self.defaults else options))
            if inspect.isawaitable(result):
                result = await result
            else:
                await trio.lowlevel.checkpoint()
        except Exception as exc:
            mapped = map_sdk_exception(exc, f"call to {self._name}")
            if mapped is None:
                raise
            raise mapped from exc
        self._usage += Usage.of(result)
        return result
