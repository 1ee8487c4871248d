"""Complete SDK streams with the real openai and anthropic packages against the fake API: every event
typed, tool calls assembled from fragments, finish reasons, usage; the Responses API and embeddings."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from helpers.fake_llm_api import ANTHROPIC, OPENAI, FakeLLMAPI, Reply, count_tokens, sdk_client

from pynector import ConfigurationError, DeserializationError
from pynector.transport import (
    Embedding,
    Finish,
    OtherEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageUpdate,
    sum_usage,
)

pytest.importorskip("openai")
pytest.importorskip("anthropic")

# The SDKs' nested async generators under trio (see tests/test_sdk.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Async generator '(openai|anthropic|httpx2|httpcore2)[._]:ResourceWarning"
)

WEATHER = {"city": "Zürich", "units": "metric", "days": [1, 2, 3]}
CLOCK: dict[str, Any] = {}


async def start(provider: str, nursery: trio.Nursery, **reply: Any) -> FakeLLMAPI:
    api = FakeLLMAPI(provider, lambda request: Reply(**reply))
    await nursery.start(api.serve)
    return api


EXPECTED_FINISH = {OPENAI: "tool_calls", ANTHROPIC: "tool_use"}


@pytest.mark.parametrize("provider", [OPENAI, ANTHROPIC])
async def test_tool_calls_split_over_many_chunks_are_assembled(provider: str, nursery: trio.Nursery) -> None:
    """Text deltas, then each tool call's fragments, then the complete calls, the finish and usage."""
    calls = [("get_weather", WEATHER), ("get_time", CLOCK)]
    api = await start(provider, nursery, text="let me check", tool_calls=calls, fragment=2)
    async with sdk_client(api) as client, client.stream("weather?") as stream:
        events = [event async for event in stream.events()]
    typed = [event for event in events if not isinstance(event, OtherEvent)]
    assert [TextDelta("let"), TextDelta(" me"), TextDelta(" check")] == typed[:3]
    fragments = [e for e in typed if isinstance(e, ToolCallDelta)]
    assert len(fragments) > 10  # the arguments really came in many pieces
    assert "".join(e.arguments for e in fragments if e.index == fragments[0].index) == _json(WEATHER)
    completed = [e for e in typed if isinstance(e, ToolCall)]
    assert ["get_weather", "get_time"] == [call.name for call in completed]
    assert [WEATHER, {}] == [call.parsed_arguments() for call in completed]
    assert all(call.id for call in completed)
    assert completed == stream.tool_calls
    assert [Finish(EXPECTED_FINISH[provider])] == [e for e in typed if isinstance(e, Finish)]
    assert EXPECTED_FINISH[provider] == stream.finish_reason
    usage_events = [e for e in typed if isinstance(e, UsageUpdate)]
    assert typed[-1] is usage_events[-1]  # usage comes at the end
    assert Usage(1, count_tokens("weather?"), count_tokens("let me check")) == usage_events[-1].usage
    assert "let me check" == stream.text


@pytest.mark.parametrize("provider", [OPENAI, ANTHROPIC])
async def test_streamed_usage_counts_in_the_transport(provider: str, nursery: trio.Nursery) -> None:
    """A stream read to the end through events() adds its tokens to usage(), like a text stream."""
    api = await start(provider, nursery, text="a b c", tool_calls=[("f", {"x": 1})])
    async with sdk_client(api) as client:
        async with client.stream("one two") as stream:
            async for _ in stream.events():
                pass
        assert Usage(1, 2, 3) == client.transport.usage()  # type: ignore[attr-defined]


async def test_text_iteration_still_yields_only_text(nursery: trio.Nursery) -> None:
    """Iterating the stream itself yields the text deltas, tool calls collected on the side."""
    api = await start(OPENAI, nursery, text="x y", tool_calls=[("f", {"a": [1]})])
    async with sdk_client(api) as client, client.stream("q") as stream:
        assert ["x", " y"] == [text async for text in stream]
    assert [ToolCall(0, "call_0", "f", '{"a": [1]}')] == stream.tool_calls


def test_tool_call_with_bad_json_is_a_deserialization_error() -> None:
    """Assembled arguments that are not JSON fail clearly when parsed."""
    with pytest.raises(DeserializationError, match="tool call 'f'"):
        ToolCall(0, "c", "f", '{"a": ').parsed_arguments()


async def test_responses_api_reply_and_stream(nursery: trio.Nursery) -> None:
    """api="responses": a prompt returns the output text; a stream yields text, tool calls, usage."""
    api = await start(OPENAI, nursery, text="hello there", tool_calls=[("lookup", {"q": "pynector"})])
    async with sdk_client(api, api="responses") as client:
        reply = await client.request("say hi")
        assert "hello there" == reply
        assert Usage(1, 2, 2) == reply.usage
        async with client.stream("say hi") as stream:
            events = [event async for event in stream.events()]
    assert "/v1/responses" == api.requests[0].path
    assert "say hi" == api.requests[0].body["input"]
    assert [TextDelta("hello"), TextDelta(" there")] == [e for e in events if isinstance(e, TextDelta)]
    assert [ToolCall(1, "call_1", "lookup", '{"q": "pynector"}')] == stream.tool_calls
    assert "completed" == stream.finish_reason
    assert isinstance(events[-1], UsageUpdate)
    assert Usage(1, 2, 2) == events[-1].usage


async def test_embeddings_reply_and_usage(nursery: trio.Nursery) -> None:
    """api="embeddings" per request: a prompt returns the vector; its tokens count in usage."""
    api = await start(OPENAI, nursery)
    async with sdk_client(api) as client:
        vector = await client.request("one three", api="embeddings")
        assert isinstance(vector, Embedding)
        assert [3.0, 5.0] == vector
        text = await client.request("chat too")
        assert Usage(2, 2 + 2, count_tokens(text)) == sum_usage([vector, text])
        assert Usage(2, 4, count_tokens(text)) == client.transport.usage()  # type: ignore[attr-defined]
        with pytest.raises(ConfigurationError, match="does not stream"):
            async with client.stream("x", api="embeddings"):
                pass
        with pytest.raises(ConfigurationError, match="api for openai must be one of"):
            await client.request("x", api="images")
    assert "/v1/embeddings" == api.requests[0].path


async def test_embeddings_span_name(nursery: trio.Nursery) -> None:
    """Telemetry names the operation: "embeddings <model>" rather than "chat <model>"."""
    api = await start(OPENAI, nursery)
    transport = sdk_client(api, api="embeddings").transport
    assert "embeddings fake-model" == transport.span_name("x", {})  # type: ignore[attr-defined]
    assert "chat fake-model" == transport.span_name("x", {"api": "chat"})  # type: ignore[attr-defined]


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
