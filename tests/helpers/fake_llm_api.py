"""A scriptable loopback fake of the OpenAI chat completions, Responses and embeddings APIs and of the
Anthropic messages API.

A handler for the project's loopback HTTP server (:func:`pynector.testing.serve_http`), for the SDK
transport tests: the real ``openai`` and ``anthropic`` SDKs talk to it over 127.0.0.1. Start it with
``port = await nursery.start(api.serve)``. Server-sent event streams are async-iterable response
bodies; delays sleep on trio's clock; hang-ups and stalls use the server's connection controls.

By default every request gets a successful reply that echoes the last user message
(``"echo: <prompt>"``), with token counts derived from the text. Tests script other behaviour by
setting ``api.script``: a callable ``script(request) -> Reply | None`` (``None`` falls back to the
default reply), called once per request in arrival order. A :class:`Reply` can be an error status
with headers (429 with ``Retry-After``, 500, 401...), a delay before answering, or a server-sent
event stream of text deltas that may stall after some events, and tool calls whose JSON arguments are
streamed in fragments of ``Reply.fragment`` characters (usage at the end of the stream, as the APIs do).
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import trio
import trio.lowlevel

import pynector
from pynector.testing import HTTPRequest, HTTPResponse, HTTPServer, ServerConnection, serve_http

OPENAI = "openai"
ANTHROPIC = "anthropic"
#: The API key the SDK tests give: a sentinel they look for in every message, log and span.
KEY = "sk-SENTINEL-7f3a9c2e51d04b8c"


@dataclass
class Request:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    time: float

    @property
    def prompt(self) -> str:
        """The text of the last message (string content or the first text block), or the ``input``."""
        if "messages" not in self.body:
            value = self.body.get("input", "")
            return value if isinstance(value, str) else " ".join(map(str, value))
        content = self.body["messages"][-1]["content"]
        if isinstance(content, str):
            return content
        return str(content[0]["text"])


@dataclass
class Reply:
    """What the fake answers to one request.

    Attributes:
        status: HTTP status; >= 400 sends an error body in the provider's format.
        headers: extra response headers (``retry-after``...).
        text: reply text for a successful reply (default: ``"echo: <prompt>"``).
        delay: seconds to wait before sending anything.
        deltas: for streaming requests, the text deltas to send (default: the words of ``text``).
        stall_after: for streaming, stop after this many deltas and wait until the client hangs up.
        message: the error message of an error reply (default ``"fake error <status>"``).
        hang_up: close the connection without answering (or, with ``stall_after``, mid-stream).
        tool_calls: for streaming requests, ``(name, arguments)`` tool calls sent after the text.
        fragment: characters of a tool call's JSON arguments per streamed event.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    delay: float = 0.0
    deltas: list[str] | None = None
    stall_after: int | None = None
    message: str | None = None
    hang_up: bool = False
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fragment: int = 3


def count_tokens(text: str) -> int:
    """The fake's token count: one token per whitespace-separated word."""
    return len(text.split())


class FakeLLMAPI:
    """The fake server for one provider (``"openai"`` or ``"anthropic"``).

    Attributes:
        requests: every request received, in arrival order.
        script: optional ``script(request) -> Reply | None``.
        open_connections: connections currently open (server side).
        hangups: streams the client closed before the fake finished sending them.
        in_flight: requests being answered now (until the reply's head is ready: a streamed body is
            sent after); ``max_in_flight`` the most at once so far.
    """

    def __init__(self, provider: str, script: Callable[[Request], Reply | None] | None = None) -> None:
        self.provider = provider
        self.script = script
        self.requests: list[Request] = []
        self.server: HTTPServer
        self.hangups = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.hangup_event = trio.Event()

    @property
    def base_url(self) -> str:
        """The URL prefix the SDK should use (set once :meth:`serve` started)."""
        suffix = "/v1" if self.provider == OPENAI else ""
        return f"{self.server.url}{suffix}"

    @property
    def port(self) -> int:
        """The port the fake listens on."""
        return self.server.port

    @property
    def open_connections(self) -> int:
        """Connections currently open (server side)."""
        return self.server.open_connections

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on 127.0.0.1 (port 0) and serve until cancelled; reports the bound port."""
        async with trio.open_nursery() as nursery:
            self.server = await nursery.start(serve_http, self._handle)
            task_status.started(self.server.port)

    # --- answering -------------------------------------------------------------------------------

    async def _handle(self, http_request: HTTPRequest, conn: ServerConnection) -> HTTPResponse | None:
        request = Request(
            method=http_request.method,
            path=http_request.target,
            headers=dict(http_request.headers),
            body=http_request.json() if http_request.body else {},
            time=trio.current_time(),
        )
        self.requests.append(request)
        reply = (self.script(request) if self.script else None) or Reply()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if reply.delay:
                await trio.sleep(reply.delay)
            if reply.hang_up and reply.stall_after is None:
                return None  # the server closes the connection without answering
            headers = [("content-type", "application/json"), *reply.headers.items()]
            if reply.status >= 400:
                return HTTPResponse(reply.status, headers, json.dumps(self._error_body(reply)))
            text = reply.text if reply.text is not None else f"echo: {request.prompt}"
            if request.path.endswith("/embeddings"):
                return HTTPResponse(200, headers, json.dumps(self._embedding(request)))
            if not request.body.get("stream"):
                return HTTPResponse(200, headers, json.dumps(self._completion(request, text)))
            deltas = reply.deltas if reply.deltas is not None else _words(text)
            events = self._events(conn, request, deltas, reply)
            return HTTPResponse(200, [("content-type", "text/event-stream")], events)
        finally:
            self.in_flight -= 1

    async def _events(
        self,
        conn: ServerConnection,
        request: Request,
        deltas: list[str],
        reply: Reply,
    ) -> AsyncIterator[bytes]:
        """The server-sent events of a streamed reply, one chunk each, stalling or hanging up if asked."""
        stall_after, hang_up = reply.stall_after, reply.hang_up
        sent_deltas = 0
        if request.path.endswith("/responses"):
            stream = self._responses_events(request, deltas, reply)
        else:
            stream = self._stream_events(request, deltas, reply)
        for name, data in stream:
            if name == "delta":
                if stall_after is not None and sent_deltas >= stall_after:
                    if not hang_up:
                        await conn.wait_client_close()
                        self.hangups += 1
                        self.hangup_event.set()
                    await conn.close()
                    return
                sent_deltas += 1
            yield _sse(name, data, self.provider, request.path.endswith("/responses"))
            await trio.lowlevel.checkpoint()

    # --- provider formats ------------------------------------------------------------------------

    def _error_body(self, reply: Reply) -> dict[str, Any]:
        status = reply.status
        text = reply.message or f"fake error {status}"
        kind = {401: "authentication_error", 429: "rate_limit_error", 500: "api_error"}.get(
            status, "invalid_request_error"
        )
        if self.provider == OPENAI:
            return {"error": {"message": text, "type": kind, "param": None, "code": None}}
        return {"type": "error", "error": {"type": kind, "message": text}}

    def _embedding(self, request: Request) -> dict[str, Any]:
        vector = [float(len(word)) for word in request.prompt.split()] or [0.0]
        encoded: Any = vector
        if request.body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        tokens = count_tokens(request.prompt)
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": encoded}],
            "model": request.body.get("model", "fake-model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _completion(self, request: Request, text: str) -> dict[str, Any]:
        model = request.body.get("model", "fake-model")
        prompt_tokens = count_tokens(request.prompt)
        completion_tokens = count_tokens(text)
        if request.path.endswith("/responses"):
            return self._response_object(request, text, [], "completed")
        if self.provider == OPENAI:
            return {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        return {
            "id": f"msg_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
        }

    def _response_object(
        self, request: Request, text: str, calls: list[dict[str, Any]], status: str
    ) -> dict[str, Any]:
        prompt_tokens = count_tokens(request.prompt)
        output_tokens = count_tokens(text)
        message = {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        return {
            "id": f"resp_{len(self.requests)}",
            "object": "response",
            "created_at": 0,
            "model": request.body.get("model", "fake-model"),
            "status": status,
            "output": [message, *calls],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": prompt_tokens,
                "output_tokens": output_tokens,
                "total_tokens": prompt_tokens + output_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }

    def _responses_events(self, request: Request, deltas: list[str], reply: Reply) -> list[tuple[str, Any]]:
        """The Responses API's named events: text deltas, function calls in fragments, completion."""
        text = "".join(deltas)
        events: list[tuple[str, Any]] = [
            ("message", {"type": "response.created", "sequence_number": 0, "response": {"id": "resp_s"}})
        ]
        events += [
            (
                "delta",
                {
                    "type": "response.output_text.delta",
                    "item_id": "msg_1",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": d,
                    "sequence_number": 0,
                    "logprobs": [],
                },
            )
            for d in deltas
        ]
        calls = []
        for offset, (name, arguments) in enumerate(reply.tool_calls, start=1):
            raw = json.dumps(arguments)
            item = {"type": "function_call", "id": f"fc_{offset}", "call_id": f"call_{offset}", "name": name}
            events.append(
                (
                    "message",
                    {
                        "type": "response.output_item.added",
                        "output_index": offset,
                        "sequence_number": 0,
                        "item": {**item, "arguments": "", "status": "in_progress"},
                    },
                )
            )
            events += [
                (
                    "message",
                    {
                        "type": "response.function_call_arguments.delta",
                        "item_id": item["id"],
                        "output_index": offset,
                        "sequence_number": 0,
                        "delta": piece,
                    },
                )
                for piece in _pieces(raw, reply.fragment)
            ]
            done = {**item, "arguments": raw, "status": "completed"}
            calls.append(done)
            events.append(
                (
                    "message",
                    {
                        "type": "response.output_item.done",
                        "output_index": offset,
                        "sequence_number": 0,
                        "item": done,
                    },
                )
            )
        completed = self._response_object(request, text, calls, "completed")
        events.append(
            ("message", {"type": "response.completed", "sequence_number": 0, "response": completed})
        )
        return events

    def _stream_events(self, request: Request, deltas: list[str], reply: Reply) -> list[tuple[str, Any]]:
        """``(kind, data)`` pairs; kind ``"delta"`` marks the events that carry text."""
        model = request.body.get("model", "fake-model")
        prompt_tokens = count_tokens(request.prompt)
        output_tokens = count_tokens("".join(deltas))
        if self.provider == OPENAI:

            def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
                return {
                    "id": "chatcmpl-stream",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }

            events: list[tuple[str, Any]] = [("message", chunk({"role": "assistant", "content": ""}, None))]
            events += [("delta", chunk({"content": d}, None)) for d in deltas]
            for index, (name, arguments) in enumerate(reply.tool_calls):
                call = {"index": index, "id": f"call_{index}", "type": "function"}
                events.append(
                    (
                        "message",
                        chunk({"tool_calls": [{**call, "function": {"name": name, "arguments": ""}}]}, None),
                    )
                )
                events += [
                    (
                        "message",
                        chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, None),
                    )
                    for piece in _pieces(json.dumps(arguments), reply.fragment)
                ]
            events.append(("message", chunk({}, "tool_calls" if reply.tool_calls else "stop")))
            if (request.body.get("stream_options") or {}).get("include_usage"):
                usage_chunk = chunk({}, None)
                usage_chunk["choices"] = []
                usage_chunk["usage"] = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": output_tokens,
                    "total_tokens": prompt_tokens + output_tokens,
                }
                events.append(("message", usage_chunk))
            events.append(("done", "[DONE]"))
            return events
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_stream",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": prompt_tokens, "output_tokens": 1},
            },
        }
        events = [
            ("message_start", start),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
        ]
        events += [
            (
                "delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d}},
            )
            for d in deltas
        ]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        for index, (name, arguments) in enumerate(reply.tool_calls, start=1):
            block = {"type": "tool_use", "id": f"toolu_{index}", "name": name, "input": {}}
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": block},
                )
            )
            events += [
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                )
                for piece in _pieces(json.dumps(arguments), reply.fragment)
            ]
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        stop_reason = "tool_use" if reply.tool_calls else "end_turn"
        events += [
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return events


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _sse(kind: str, data: Any, provider: str, named: bool = False) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    if named:  # the Responses API names every event after its type
        return f"event: {data['type']}\ndata: {payload}\n\n".encode()
    if provider == OPENAI:
        return f"data: {payload}\n\n".encode()
    name = "content_block_delta" if kind == "delta" else kind
    return f"event: {name}\ndata: {payload}\n\n".encode()


def sdk_client(fake: FakeLLMAPI, *, model: str = "fake-model", **options: Any) -> pynector.Pynector:
    """A client with the sdk transport pointed at *fake*, with :data:`KEY` and *model*; *options* go
    to the transport (``api="responses"``...) and the client."""
    return pynector.Pynector(
        transport_type="sdk",
        provider=fake.provider,
        api_key=KEY,
        base_url=fake.base_url,
        model=model,
        **options,
    )
