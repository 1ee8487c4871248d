"""Provider adapters: what differs between the SDKs and their APIs (client, call, replies, stream events).

One adapter per API: OpenAI chat completions (``api="chat"``, the default), the OpenAI Responses API
(``api="responses"``), OpenAI embeddings (``api="embeddings"``) and Anthropic messages. Each turns a
prompt into call arguments, a response into the reply of a prompt request, and each stream event into
the typed events of :mod:`._events`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar

from ..._errors import ConfigurationError
from ._events import OtherEvent, StreamEvent, StreamState, UsageUpdate
from ._usage import Embedding, TextReply, Usage, int_attr

__all__ = ["ANTHROPIC_DEFAULT_MAX_TOKENS", "APIS", "Provider", "load_provider"]

#: ``max_tokens`` sent to Anthropic when neither the defaults nor the request set it (the API requires it).
ANTHROPIC_DEFAULT_MAX_TOKENS = 1024


class Provider:
    """What differs between the SDKs and their APIs: client construction, the call, reading replies."""

    name: ClassVar[str]
    env_var: ClassVar[str]
    api: ClassVar[str]
    call_name: ClassVar[str]
    #: The GenAI semantic conventions' operation name (``gen_ai.operation.name``).
    operation: ClassVar[str] = "chat"
    streams: ClassVar[bool] = True

    def __init__(self, module: Any) -> None:
        self.module = module

    def build_client(self, api_key: str, base_url: str | None, timeout: float | None, extra: Any) -> Any:
        kwargs: dict[str, Any] = {"api_key": api_key, "max_retries": 0, "timeout": timeout, **extra}
        if base_url is not None:
            kwargs["base_url"] = base_url
        return self.client_class()(**kwargs)

    def client_class(self) -> Any:
        raise NotImplementedError

    def prompt_args(self, prompt: str) -> dict[str, Any]:
        """The call arguments that carry a prompt."""
        return {"messages": [{"role": "user", "content": prompt}]}

    def prepare(self, kwargs: dict[str, Any]) -> None:
        """Fill provider-specific defaults into the call arguments."""

    def create(self, client: Any, kwargs: Mapping[str, Any]) -> Awaitable[Any]:
        raise NotImplementedError

    def text_of(self, response: Any) -> str:
        raise NotImplementedError

    def reply_of(self, response: Any, usage: Usage) -> Any:
        """The reply of a prompt request: the text, with usage and response attached."""
        return TextReply(self.text_of(response), usage=usage, response=response)

    def prepare_stream(self, kwargs: dict[str, Any]) -> None:
        kwargs["stream"] = True

    def read_event(self, event: Any, state: StreamState) -> list[StreamEvent]:
        """The typed events of one SDK stream event; updates *state*."""
        raise NotImplementedError


def _other(event: Any) -> list[StreamEvent]:
    return [OtherEvent(str(getattr(event, "type", None) or type(event).__name__), event)]


class _OpenAIProvider(Provider):
    name = "openai"
    env_var = "OPENAI_API_KEY"
    api = "chat"
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

    def read_event(self, event: Any, state: StreamState) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        choices = getattr(event, "choices", None)
        if choices:
            choice = choices[0]
            delta = getattr(choice, "delta", None)
            events += state.text(getattr(delta, "content", None))
            for call in getattr(delta, "tool_calls", None) or ():
                function = getattr(call, "function", None)
                events += state.tool_fragment(
                    int(getattr(call, "index", 0) or 0),
                    getattr(call, "id", None),
                    getattr(function, "name", None),
                    getattr(function, "arguments", None),
                )
            reason = getattr(choice, "finish_reason", None)
            if reason:
                events += state.all_tools_done()
                events += state.finish(reason)
        usage = getattr(event, "usage", None)
        if usage is not None:
            state.input_tokens = int_attr(usage, "prompt_tokens")
            state.output_tokens = int_attr(usage, "completion_tokens")
            events.append(UsageUpdate(state.usage(True)))
        return events


class _OpenAIResponsesProvider(_OpenAIProvider):
    api = "responses"
    call_name = "openai responses.create"

    def prompt_args(self, prompt: str) -> dict[str, Any]:
        return {"input": prompt}

    def create(self, client: Any, kwargs: Mapping[str, Any]) -> Awaitable[Any]:
        return client.responses.create(**kwargs)  # type: ignore[no-any-return]

    def text_of(self, response: Any) -> str:
        text = getattr(response, "output_text", None)
        return text if isinstance(text, str) else ""

    def prepare_stream(self, kwargs: dict[str, Any]) -> None:
        kwargs["stream"] = True  # the Responses API always reports usage at the end

    def read_event(self, event: Any, state: StreamState) -> list[StreamEvent]:
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            return state.text(getattr(event, "delta", None))
        if kind in {"response.output_item.added", "response.output_item.done"}:
            item = getattr(event, "item", None)
            if getattr(item, "type", None) == "function_call":
                index = int(getattr(event, "output_index", 0) or 0)
                if kind == "response.output_item.added":
                    call_id, name = getattr(item, "call_id", None), getattr(item, "name", None)
                    return state.tool_fragment(index, call_id, name, None)
                return state.tool_done(index, getattr(item, "arguments", None))
        elif kind == "response.function_call_arguments.delta":
            index = int(getattr(event, "output_index", 0) or 0)
            return state.tool_fragment(index, None, None, getattr(event, "delta", None))
        elif kind in {"response.completed", "response.incomplete", "response.failed"}:
            response = getattr(event, "response", None)
            usage = getattr(response, "usage", None)
            events = state.all_tools_done()
            details = getattr(response, "incomplete_details", None)
            events += state.finish(getattr(details, "reason", None) or getattr(response, "status", None))
            if usage is not None:
                state.input_tokens = int_attr(usage, "input_tokens")
                state.output_tokens = int_attr(usage, "output_tokens")
                events.append(UsageUpdate(state.usage(True)))
            return events
        return _other(event)


class _OpenAIEmbeddingsProvider(_OpenAIProvider):
    api = "embeddings"
    call_name = "openai embeddings.create"
    operation = "embeddings"
    streams = False

    def prompt_args(self, prompt: str) -> dict[str, Any]:
        return {"input": prompt}

    def create(self, client: Any, kwargs: Mapping[str, Any]) -> Awaitable[Any]:
        return client.embeddings.create(**kwargs)  # type: ignore[no-any-return]

    def reply_of(self, response: Any, usage: Usage) -> Any:
        data = getattr(response, "data", None) or []
        vector = list(getattr(data[0], "embedding", None) or []) if data else []
        return Embedding(vector, usage=usage, response=response)


class _AnthropicProvider(Provider):
    name = "anthropic"
    env_var = "ANTHROPIC_API_KEY"
    api = "messages"
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

    def read_event(self, event: Any, state: StreamState) -> list[StreamEvent]:
        kind = getattr(event, "type", None)
        index = int(getattr(event, "index", 0) or 0)
        if kind == "content_block_delta":
            delta = event.delta
            delta_type = getattr(delta, "type", None)
            if delta_type == "text_delta":
                return state.text(getattr(delta, "text", None))
            if delta_type == "input_json_delta":
                return state.tool_fragment(index, None, None, getattr(delta, "partial_json", None))
        elif kind == "content_block_start":
            block = getattr(event, "content_block", None)
            if getattr(block, "type", None) == "tool_use":
                return state.tool_fragment(
                    index, getattr(block, "id", None), getattr(block, "name", None), None
                )
        elif kind == "content_block_stop":
            if index in state.pending:
                return state.tool_done(index)
        elif kind == "message_start":
            usage = event.message.usage
            state.input_tokens = int_attr(usage, "input_tokens")
            state.output_tokens = int_attr(usage, "output_tokens")
        elif kind == "message_delta":
            state.output_tokens = int_attr(event.usage, "output_tokens") or state.output_tokens
            return state.finish(getattr(event.delta, "stop_reason", None))
        elif kind == "message_stop":
            return [*state.all_tools_done(), UsageUpdate(state.usage(True))]
        return _other(event)


_PROVIDERS: dict[str, type[Provider]] = {"openai": _OpenAIProvider, "anthropic": _AnthropicProvider}

#: The APIs of each provider (the first is the default).
APIS: dict[str, dict[str, type[Provider]]] = {
    "openai": {
        "chat": _OpenAIProvider,
        "responses": _OpenAIResponsesProvider,
        "embeddings": _OpenAIEmbeddingsProvider,
    },
    "anthropic": {"messages": _AnthropicProvider},
}


def load_provider(provider: object, api: object = None) -> Provider:
    """The adapter of *provider*'s *api* (default: chat completions / messages), its SDK imported.

    Raises:
        pynector.ConfigurationError: unknown provider or API, or the SDK is not installed.
    """
    if not isinstance(provider, str) or provider not in _PROVIDERS:
        raise ConfigurationError(
            f"the sdk transport needs provider='openai' or provider='anthropic', got {provider!r}"
        )
    apis = APIS[provider]
    if api is None:
        api = next(iter(apis))
    if not isinstance(api, str) or api not in apis:
        raise ConfigurationError(
            f"api for {provider} must be one of {', '.join(map(repr, apis))}, got {api!r}"
        )
    try:
        module = importlib.import_module(provider)
    except ImportError as exc:
        raise ConfigurationError(
            f"provider {provider!r} needs the {provider} package: pip install 'pynector-trio[{provider}]'"
        ) from exc
    return apis[api](module)
