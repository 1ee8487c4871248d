"""The sdk transport: one SDK call per exchange, and streamed replies."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import trio

from ..._config import validate_count, validate_timeout
from ..._errors import ConfigurationError, SerializationError, describe_exception
from ..._net import CLOSE_TIMEOUT, default_port
from ..._redact import scrub_text
from .._base import closed_error
from ._errors import SDK_RETRY_STATUSES, map_sdk_exception
from ._events import StreamEvent, StreamState, TextDelta, ToolCall
from ._providers import APIS, Provider, load_provider
from ._usage import Usage

__all__ = ["SDKTransport", "TextStream"]


class TextStream:
    """One streamed reply (see :meth:`SDKTransport.stream`): its text deltas, or every typed event.

    ``async for text in stream`` yields the text deltas (the common case); ``async for event in
    stream.events()`` yields every event instead: :class:`TextDelta`, :class:`ToolCallDelta`,
    :class:`ToolCall` (complete, arguments assembled), :class:`Finish`, :class:`UsageUpdate` and
    :class:`OtherEvent`. Both read the same SDK stream: use one of them per stream.

    Attributes:
        finished: whether the reply was read to the end.
    """

    def __init__(self, sdk_stream: Any, provider: Provider, action: str, secret: str) -> None:
        self._events = sdk_stream.__aiter__()
        self._provider = provider
        self._action = action
        self._secret = secret
        self._state = StreamState()
        self._ready: list[StreamEvent] = []
        self.finished = False

    @property
    def usage(self) -> Usage:
        """The stream's token counts so far (complete once the stream is exhausted)."""
        return self._state.usage(self.finished)

    @property
    def text(self) -> str:
        """The reply text received so far."""
        return "".join(self._state.text_parts)

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls completed so far (all of them once the stream is exhausted)."""
        return list(self._state.tool_calls)

    @property
    def finish_reason(self) -> str | None:
        """Why the reply ended (``"stop"``, ``"tool_calls"``, ``"end_turn"``...), once known."""
        return self._state.finish_reason

    def __aiter__(self) -> TextStream:
        return self

    async def __anext__(self) -> str:
        """The next text delta.

        Raises:
            StopAsyncIteration: the reply is complete.
            pynector.PynectorError: the SDK failed mid-stream (translated as for ``exchange``).
        """
        while True:
            event = await self.next_event()
            if type(event) is TextDelta:
                return event.text

    def events(self) -> AsyncIterator[StreamEvent]:
        """Iterate every typed event of the reply (see the class docstring).

        Raises (while iterating):
            pynector.PynectorError: the SDK failed mid-stream (translated as for ``exchange``).
        """
        return _Events(self)

    async def next_event(self) -> StreamEvent:
        """The next typed event.

        Raises:
            StopAsyncIteration: the reply is complete.
            pynector.PynectorError: the SDK failed mid-stream.
        """
        while not self._ready:
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
            self._ready = self._provider.read_event(event, self._state)
            self._ready.reverse()
        return self._ready.pop()


class _Events:
    """The typed events of a :class:`TextStream` (a class: consumers may stop early, see aiter_sse)."""

    def __init__(self, stream: TextStream) -> None:
        self._stream = stream

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> StreamEvent:
        return await self._stream.next_event()


class SDKTransport:
    """Calls the OpenAI or Anthropic async SDK, one API call per exchange.

    Created by ``Pynector(transport_type="sdk", provider=..., ...)``.

    Args:
        provider: ``"openai"`` or ``"anthropic"``.
        api: which API of the provider: OpenAI ``"chat"`` (chat completions, the default),
            ``"responses"`` (the Responses API) or ``"embeddings"``; Anthropic ``"messages"``. A request
            can choose another with the ``api=`` option.
        api_key: the API key; defaults to ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``.
        base_url: the API's base URL (default: the SDK's, or its environment variable).
        model: the model for every call that does not name one.
        max_connections: the most calls in flight at once through this transport (100).
        sdk_timeout: the SDK's own per-read timeout in seconds, a safety net only (600; ``None`` turns
            it off). Use the client's ``timeout=`` for real deadlines.
        client_options: extra keyword arguments for the SDK client constructor
            (``organization=``, ``default_headers=``...).
        **defaults: call arguments sent with every request (``temperature=0``, ``max_tokens=256``...).

    A request is a prompt (``str`` or UTF-8 ``bytes``), sent as one user message (the ``input`` of the
    Responses and embeddings APIs), which returns the reply text as a :class:`TextReply` (an
    :class:`Embedding` vector for embeddings); or a ``dict`` of call arguments merged over the
    defaults, which returns the SDK's response object. Request options
    (``client.request(data, temperature=0)``) are call arguments too, between the defaults and a dict
    request, except ``api=``, which chooses the API for that request.

    Raises:
        pynector.ConfigurationError: unknown provider, its SDK not installed (the message names the
            extra), no API key, or an invalid option.
    """

    retry_statuses: frozenset[int] = SDK_RETRY_STATUSES

    def __init__(
        self,
        provider: str | None = None,
        api_key: str | None = None,
        api: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        max_connections: int = 100,
        sdk_timeout: float | None = 600.0,
        client_options: Mapping[str, Any] | None = None,
        **defaults: Any,
    ) -> None:
        self._provider = load_provider(provider, api)
        self._adapters: dict[str, Provider] = {self._provider.api: self._provider}
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
        if "api" in defaults:
            raise ConfigurationError("api is an option of the transport (api=...), not a call argument")
        self._api_key = key
        self._secrets: tuple[str, ...] = (key,) if key else ()  # scrubbed from error messages
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
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
                await client.close()

    # --- telemetry hooks (pynector.transport.TracedTransport), GenAI semantic conventions -------

    def _adapter(self, options: Mapping[str, Any]) -> Provider:
        """The adapter of the request's ``api=`` option (default: the transport's API)."""
        api = options.get("api")
        if api is None:
            return self._provider
        adapter = self._adapters.get(api) if isinstance(api, str) else None
        if adapter is None:
            if not isinstance(api, str) or api not in APIS[self._provider.name]:
                known = ", ".join(map(repr, APIS[self._provider.name]))
                raise ConfigurationError(f"api for {self._provider.name} must be one of {known}, got {api!r}")
            adapter = self._adapters[api] = APIS[self._provider.name][api](self._provider.module)
        return adapter

    def _model_of(self, data: Any, options: Mapping[str, Any]) -> str | None:
        model = data.get("model") if isinstance(data, Mapping) else None
        model = model or options.get("model") or self.defaults.get("model")
        return model if isinstance(model, str) else None

    def _operation(self, options: Mapping[str, Any]) -> str:
        try:
            return self._adapter(options).operation
        except ConfigurationError:
            return self._provider.operation  # reported by the exchange itself

    def span_name(self, data: Any, options: Mapping[str, Any]) -> str:
        """``"<operation> <model>"`` (GenAI semantic conventions: ``"chat gpt-4o"``,
        ``"embeddings text-embedding-3-small"``), or the operation alone without a model."""
        model = self._model_of(data, options)
        operation = self._operation(options)
        return operation if model is None else f"{operation} {model}"

    def span_attributes(self, data: Any, options: Mapping[str, Any]) -> Mapping[str, str | int]:
        """``gen_ai.operation.name``, ``gen_ai.system``, ``gen_ai.request.model`` and, with a
        ``base_url``, ``server.address``/``server.port``; never the prompt or the key."""
        attributes: dict[str, str | int] = {
            "gen_ai.operation.name": self._operation(options),
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
                attributes["server.port"] = port or default_port(parts.scheme)
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

    def _call_args(self, data: Any, options: Mapping[str, Any]) -> tuple[dict[str, Any], bool, Provider]:
        """The SDK call's arguments, whether the request was a prompt, and the API's adapter."""
        adapter = self._adapter(options)
        if "api" in options:
            options = {k: v for k, v in options.items() if k != "api"}
        if isinstance(data, bytes):
            try:
                data = data.decode()
            except UnicodeDecodeError as exc:
                raise SerializationError(f"a bytes prompt must be UTF-8: {exc}") from exc
        if isinstance(data, str):
            kwargs = {**self.defaults, **options, **adapter.prompt_args(data)}
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
        adapter.prepare(kwargs)
        return kwargs, prompt, adapter

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
                    f"{scrub_text(describe_exception(exc), self._secrets)}"
                ) from exc
        return self._client

    def _start_call(self, adapter: Provider, client: Any, kwargs: Mapping[str, Any]) -> Awaitable[Any]:
        """Create the SDK call's coroutine; the SDKs check argument names and required ones here."""
        try:
            return adapter.create(client, kwargs)
        except TypeError as exc:
            raise ConfigurationError(
                f"invalid arguments for {adapter.call_name}: {scrub_text(str(exc), self._secrets)}"
            ) from exc

    def _translate(self, adapter: Provider, exc: Exception) -> Exception:
        mapped = map_sdk_exception(exc, adapter.call_name, self._api_key)
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
        kwargs, prompt, adapter = self._call_args(data, options)
        client = self._sdk_client()
        call = self._start_call(adapter, client, kwargs)
        async with self._limiter:
            try:
                response = await call
            except Exception as exc:
                raise self._translate(adapter, exc) from exc
        usage = Usage.of(response)
        self._usage += usage
        if prompt:
            return adapter.reply_of(response, usage)
        return response

    @asynccontextmanager
    async def stream(self, data: Any, **options: Any) -> AsyncIterator[TextStream]:
        """Stream one reply: ``async with transport.stream(prompt) as deltas: async for text in deltas``.

        Usually reached through ``client.stream(...)``, which adds the client's deadline. The SDK stream
        (and its connection) is closed when the block exits, normally, by ``break``, by an error or by
        cancellation; its usage is added to :meth:`usage` once the stream was read to the end. The
        :class:`TextStream` yields text deltas, or every typed event through ``events()`` (tool calls
        assembled, finish reason, usage).

        Raises:
            pynector.ConfigurationError: the API does not stream (embeddings).
            pynector.PynectorError: as for :meth:`exchange`, when opening or while reading the stream.
        """
        kwargs, _, adapter = self._call_args(data, options)
        if not adapter.streams:
            raise ConfigurationError(f"{adapter.call_name} does not stream: use client.request(...)")
        adapter.prepare_stream(kwargs)
        client = self._sdk_client()
        call = self._start_call(adapter, client, kwargs)
        async with self._limiter:
            try:
                sdk_stream = await call
            except Exception as exc:
                raise self._translate(adapter, exc) from exc
            deltas = TextStream(sdk_stream, adapter, adapter.call_name, self._api_key)
            try:
                yield deltas
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
                    await sdk_stream.close()
                if deltas.finished:
                    self._usage += deltas.usage
