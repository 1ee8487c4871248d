"""A scriptable loopback fake of the OpenAI chat completions and Anthropic messages APIs.

A handler for the project's loopback HTTP server (:func:`pynector.testing.serve_http`), for the SDK
transport tests: the real ``openai`` and ``anthropic`` SDKs talk to it over 127.0.0.1. Start it with
``port = await nursery.start(api.serve)``. Server-sent event streams are async-iterable response
bodies; delays sleep on trio's clock; hang-ups and stalls use the server's connection controls.

By default every request gets a successful reply that echoes the last user message
(``"echo: <prompt>"``), with token counts derived from the text. Tests script other behaviour by
setting ``api.script``: a callable ``script(request) -> Reply | None`` (``None`` falls back to the
default reply), called once per request in arrival order. A :class:`Reply` can be an error status
with headers (429 with ``Retry-After``, 500, 401...), a delay before answering, or a server-sent
event stream of text deltas that may stall after some events.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import trio
import trio.lowlevel

from pynector.testing import HTTPRequest, HTTPResponse, HTTPServer, ServerConnection, serve_http

OPENAI = "openai"
ANTHROPIC = "anthropic"


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
        """The text of the last message (string content or the first text block)."""
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
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    delay: float = 0.0
    deltas: list[str] | None = None
    stall_after: int | None = None
    message: str | None = None
    hang_up: bool = False


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
            if not request.body.get("stream"):
                return HTTPResponse(200, headers, json.dumps(self._completion(request, text)))
            deltas = reply.deltas if reply.deltas is not None else _words(text)
            events = self._events(conn, request, deltas, reply.stall_after, reply.hang_up)
            return HTTPResponse(200, [("content-type", "text/event-stream")], events)
        finally:
            self.in_flight -= 1

    async def _events(
        self,
        conn: ServerConnection,
        request: Request,
        deltas: list[str],
        stall_after: int | None,
        hang_up: bool,
    ) -> AsyncIterator[bytes]:
        """The server-sent events of a streamed reply, one chunk each, stalling or hanging up if asked."""
        sent_deltas = 0
        for name, data in self._stream_events(request, deltas):
            if name == "delta":
                if stall_after is not None and sent_deltas >= stall_after:
                    if not hang_up:
                        await conn.wait_client_close()
                        self.hangups += 1
                        self.hangup_event.set()
                    await conn.close()
                    return
                sent_deltas += 1
            yield _sse(name, data, self.provider)
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

    def _completion(self, request: Request, text: str) -> dict[str, Any]:
        model = request.body.get("model", "fake-model")
        prompt_tokens = count_tokens(request.prompt)
        completion_tokens = count_tokens(text)
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

    def _stream_events(self, request: Request, deltas: list[str]) -> list[tuple[str, Any]]:
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
            events.append(("message", chunk({}, "stop")))
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
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return events


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _sse(kind: str, data: Any, provider: str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    if provider == OPENAI:
        return f"data: {payload}\n\n".encode()
    name = "content_block_delta" if kind == "delta" else kind
    return f"event: {name}\ndata: {payload}\n\n".encode()
