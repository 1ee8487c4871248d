"""Provider adapters: what differs between the OpenAI and Anthropic SDKs (client, call, replies)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar

from ..._errors import ConfigurationError
from ._usage import int_attr

__all__ = ["ANTHROPIC_DEFAULT_MAX_TOKENS", "Provider", "load_provider"]

#: ``max_tokens`` sent to Anthropic when neither the defaults nor the request set it (the API requires it).
ANTHROPIC_DEFAULT_MAX_TOKENS = 1024


class Provider:
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


class _OpenAIProvider(Provider):
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
            counts[0] = int_attr(usage, "prompt_tokens")
            counts[1] = int_attr(usage, "completion_tokens")
        choices = getattr(event, "choices", None)
        if not choices:
            return None
        content = getattr(choices[0].delta, "content", None)
        return content if isinstance(content, str) and content else None


class _AnthropicProvider(Provider):
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
            counts[0] = int_attr(event.message.usage, "input_tokens")
            counts[1] = int_attr(event.message.usage, "output_tokens")
        elif kind == "message_delta":
            counts[1] = int_attr(event.usage, "output_tokens") or counts[1]
        return None


_PROVIDERS: dict[str, type[Provider]] = {"openai": _OpenAIProvider, "anthropic": _AnthropicProvider}


def load_provider(provider: object) -> Provider:
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
