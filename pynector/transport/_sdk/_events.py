"""Typed events of a streamed SDK reply, and the assembly of tool calls from their deltas.

The SDKs stream a reply as provider-specific events: OpenAI chat chunks carry text and tool-call
deltas (a tool call's JSON arguments arrive in many fragments, keyed by index), the Responses API
names its events (``response.output_text.delta``, ``response.function_call_arguments.delta``...),
Anthropic sends content blocks (``input_json_delta`` fragments inside ``tool_use`` blocks). The
provider adapters turn each into the same small vocabulary:

- :class:`TextDelta`: a piece of the reply text;
- :class:`ToolCallDelta`: a fragment of a tool call's arguments (with its id and name when known);
- :class:`ToolCall`: a complete tool call, its arguments assembled (emitted once, when complete);
- :class:`Finish`: why the reply ended (``"stop"``, ``"tool_calls"``, ``"end_turn"``, ``"length"``...);
- :class:`UsageUpdate`: the reply's token counts (at the end, when the API reports them);
- :class:`OtherEvent`: any other provider event, passed through with its ``type`` and raw object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..._errors import DeserializationError
from ._usage import Usage

__all__ = [
    "Finish",
    "OtherEvent",
    "StreamEvent",
    "StreamState",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "UsageUpdate",
]


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply text."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call being streamed.

    Attributes:
        index: the tool call's position in the reply (its key while it streams).
        id: the call's id, once the API sent it (``None`` before).
        name: the function's name, once the API sent it.
        arguments: this fragment of the JSON arguments.
    """

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call: every fragment of its arguments joined.

    Attributes:
        index: the tool call's position in the reply.
        id: the call's id (to answer it with a tool result).
        name: the function's name.
        arguments: the JSON text of the arguments.
    """

    index: int
    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> Any:
        """The arguments parsed as JSON (``{}`` for an empty argument text).

        Raises:
            pynector.DeserializationError: the assembled arguments are not valid JSON.
        """
        if not self.arguments.strip():
            return {}
        try:
            return json.loads(self.arguments)
        except ValueError as exc:
            raise DeserializationError(
                f"the arguments of tool call {self.name!r} ({self.id}) are not valid JSON: {exc}"
            ) from exc


@dataclass(frozen=True, slots=True)
class Finish:
    """Why the reply ended, in the provider's words (``"stop"``, ``"tool_calls"``, ``"end_turn"``...)."""

    reason: str


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    """The reply's token counts as the API reported them."""

    usage: Usage


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """A provider event with no typed form here (``ping``, ``message_start``...), passed through."""

    type: str
    raw: Any


StreamEvent = TextDelta | ToolCallDelta | ToolCall | Finish | UsageUpdate | OtherEvent


@dataclass
class _Pending:
    id: str = ""
    name: str = ""
    fragments: list[str] = field(default_factory=list)


@dataclass
class StreamState:
    """What one streamed reply accumulated: counts, text, tool calls in progress and done, finish."""

    input_tokens: int = 0
    output_tokens: int = 0
    text_parts: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    pending: dict[int, _Pending] = field(default_factory=dict)

    def text(self, piece: Any) -> list[StreamEvent]:
        """A text delta (none for an empty piece)."""
        if not isinstance(piece, str) or not piece:
            return []
        self.text_parts.append(piece)
        return [TextDelta(piece)]

    def tool_fragment(self, index: int, call_id: Any, name: Any, arguments: Any) -> list[StreamEvent]:
        """A tool-call fragment: remembered for assembly, and reported as a delta."""
        pending = self.pending.setdefault(index, _Pending())
        if isinstance(call_id, str) and call_id:
            pending.id = call_id
        if isinstance(name, str) and name:
            pending.name = name
        piece = arguments if isinstance(arguments, str) else ""
        if piece:
            pending.fragments.append(piece)
        return [ToolCallDelta(index, pending.id or None, pending.name or None, piece)]

    def tool_done(self, index: int, arguments: Any = None) -> list[StreamEvent]:
        """Complete the tool call at *index* (*arguments*: the API's own assembled text, if it sent one)."""
        pending = self.pending.pop(index, None)
        if pending is None:
            return []
        text = arguments if isinstance(arguments, str) else "".join(pending.fragments)
        call = ToolCall(index, pending.id, pending.name, text)
        self.tool_calls.append(call)
        return [call]

    def all_tools_done(self) -> list[StreamEvent]:
        """Complete every tool call still open (in index order)."""
        events: list[StreamEvent] = []
        for index in sorted(self.pending):
            events += self.tool_done(index)
        return events

    def finish(self, reason: Any) -> list[StreamEvent]:
        """The reply's end reason (once; later reports are ignored)."""
        if not isinstance(reason, str) or not reason or self.finish_reason is not None:
            return []
        self.finish_reason = reason
        return [Finish(reason)]

    def usage(self, finished: bool) -> Usage:
        """The counts so far (``requests`` is 1 once the stream was read to the end)."""
        return Usage(1 if finished else 0, self.input_tokens, self.output_tokens)
