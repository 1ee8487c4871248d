"""Usage accounting: token counts of SDK responses and streams, summed per transport and per batch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Embedding", "TextReply", "Usage", "int_attr", "sum_usage"]


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
        if isinstance(result, (TextReply, Embedding)):
            return result.usage
        usage = getattr(result, "usage", None)
        if usage is None or isinstance(result, BaseException):
            return cls()
        input_tokens = int_attr(usage, "input_tokens", "prompt_tokens")
        output_tokens = int_attr(usage, "output_tokens", "completion_tokens")
        return cls(1, input_tokens, output_tokens)


def int_attr(obj: object, *names: str) -> int:
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


class Embedding(list[float]):
    """The vector of an embeddings prompt request: a ``list`` of floats, with usage and response attached.

    Attributes:
        usage: the tokens this call consumed (embeddings report input tokens only).
        response: the SDK's response object.
    """

    usage: Usage
    response: Any

    def __init__(self, vector: list[float], *, usage: Usage | None = None, response: Any = None) -> None:
        super().__init__(vector)
        self.usage = Usage() if usage is None else usage
        self.response = response
