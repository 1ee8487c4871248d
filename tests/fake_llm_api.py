"""A scriptable loopback fake of the OpenAI chat completions and Anthropic messages APIs.

Small trio + h11 HTTP/1.1 server for the SDK transport tests: the real ``openai`` and ``anthropic``
SDKs talk to it over 127.0.0.1. Start it with ``port = await nursery.start(api.serve)``.

By default every request gets a successful reply that echoes the last user message
(``"echo: <prompt>"``), with token counts derived from the text. Tests script other behaviour by
setting ``api.script``: a callable ``script(request) -> Reply | None`` (``None`` falls back to the
default reply), called once per request in arrival order. A :class:`Reply` can be an error status
with headers (429 with ``Retry-After``, 500, 401...), a delay before answering, or a server-sent
event stream of text deltas that may stall after some events.

Kept in one module so it can later be swapped for the project's reusable loopback server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h11
import trio
import trio.lowlevel

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
        in_flight: requests being answered now; ``max_in_flight`` the most at once so far.
    """

    def __init__(self, provider: str, script: Callable[[Request], Reply | None] | None = None) -> None:
        self.provider = provider
        self.script = script
        self.requests: list[Request] = []
        self.open_connections = 0
        self.hangups = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.hangup_event = trio.Event()

    @property
    def base_url(self) -> str:
        """The URL prefix the SDK should use (set once :meth:`serve` started)."""
        suffix = "/v1" if self.provider == OPENAI else ""
        return f"http://127.0.0.1:{self.port}{suffix}"

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on 127.0.0.1 (port 0) and serve until cancelled; reports the bound port."""
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            task_status.started(self.port)
            await trio.serve_listeners(self._handle_connection, listeners, handler_nursery=nursery)

    # --- connection handling ---------------------------------------------------------------------

    async def _handle_connection(self, stream: trio.SocketStream) -> None:
        self.open_connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_request(stream, conn)
                if request is None:
                    return
                self.requests.append(request)
                reply = (self.script(request) if self.script else None) or Reply()
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    if reply.delay:
                        await trio.sleep(reply.delay)
                    if reply.hang_up and reply.stall_after is None:
                        return
                    await self._respond(stream, conn, request, reply)
                finally:
                    self.in_flight -= 1
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
            return
        finally:
            self.open_connections -= 1
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _read_request(self, stream: trio.SocketStream, conn: h11.Connection) -> Request | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                if not data and conn.their_state is h11.IDLE:
                    return None
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                headers = {k.decode().lower(): v.decode() for k, v in head.headers}
                return Request(
                    method=head.method.decode(),
                    path=head.target.decode(),
                    headers=headers,
                    body=json.loads(body) if body else {},
                    time=trio.current_time(),
                )
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _send(self, stream: trio.SocketStream, conn: h11.Connection, event: Any) -> None:
        data = conn.send(event)
        if data:
            await stream.send_all(data)

    async def _respond(
        self, stream: trio.SocketStream, conn: h11.Connection, request: Request, reply: Reply
    ) -> None:
        headers = [("content-type", "application/json"), *reply.headers.items()]
        if reply.status >= 400:
            await self._send_json(stream, conn, reply.status, headers, self._error_body(reply))
            return
        text = reply.text if reply.text is not None else f"echo: {request.prompt}"
        if request.body.get("stream"):
            deltas = reply.deltas if reply.deltas is not None else _words(text)
            await self._stream(stream, conn, request, deltas, reply.stall_after, reply.hang_up)
            return
        await self._send_json(stream, conn, 200, headers, self._completion(request, text))

    async def _send_json(
        self,
        stream: trio.SocketStream,
        conn: h11.Connection,
        status: int,
        headers: list[tuple[str, str]],
        body: dict[str, Any],
    ) -> None:
        payload = json.dumps(body).encode()
        headers = [*headers, ("content-length", str(len(payload)))]
        await self._send(stream, conn, h11.Response(status_code=status, headers=headers))
        await self._send(stream, conn, h11.Data(data=payload))
        await self._send(stream, conn, h11.EndOfMessage())

    async def _stream(
        self,
        stream: trio.SocketStream,
        conn: h11.Connection,
        request: Request,
        deltas: list[str],
        stall_after: int | None,
        hang_up: bool,
    ) -> None:
        headers = [("content-type", "text/event-stream"), ("transfer-encoding", "chunked")]
        await self._send(stream, conn, h11.Response(status_code=200, headers=headers))
        events = self._stream_events(request, deltas)
        sent_deltas = 0
        for name, data in events:
            if name == "delta":
                if stall_after is not None and sent_deltas >= stall_after:
                    if hang_up:
                        raise trio.ClosedResourceError("fake hangs up mid-stream")
                    await self._wait_for_hangup(stream)
                    return
                sent_deltas += 1
            await self._send(stream, conn, h11.Data(data=_sse(name, data, self.provider)))
            await trio.lowlevel.checkpoint()
        await self._send(stream, conn, h11.EndOfMessage())

    async def _wait_for_hangup(self, stream: trio.SocketStream) -> None:
        """Send nothing more; return when the client closes the connection."""
        try:
            while await stream.receive_some(65536):
                pass
        except trio.BrokenResourceError:
            pass
        self.hangups += 1
        self.hangup_event.set()
        raise trio.ClosedResourceError("client hung up")

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
