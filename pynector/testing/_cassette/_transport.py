"""The transports a cassette hands out, and the tapes of streamed exchanges.

:class:`CassetteTransport` answers ``exchange`` from the cassette or forwards it to the wrapped
transport and records the outcome; a transport with ``stream()`` is wrapped by a subclass that
records streams too.

The naive way to record a stream is to read it whole and write the list of chunks; replay then
hands the list back. But the code under test reads a stream chunk by chunk, at its own pace, and may
stop early (leaving a server-sent event stream at the event it wanted): reading ahead changes what
the service saw, and a replay that delivers everything at once cannot show what a ``timeout=`` or a
slow consumer does. So recording passes each chunk through as the code reads it and writes it on a
tape with its offset from the start of the exchange, and how the stream ended: complete, an error,
or stopped by the code. Replay yields each chunk at its offset on trio's clock, raises the recorded
error where it happened, and refuses to read past the point where the recording stopped. For HTTP
the tape holds the raw body chunks under the response's body reader, so content decoding and
``max_response_bytes`` apply on replay as they did live.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from ..._redact import redact_url
from ...http._model import BodyReader, Response, header_values
from ...transport._base import SerializedTransport, Transport
from ._codecs import Codec, codec_for
from ._errors import CassetteError
from ._matching import Entry, describe_request
from ._records import (
    ROUND,
    decode_body,
    decode_value,
    encode_body,
    encode_error,
    encode_response,
    encode_value,
    rebuild_error,
    rebuild_response,
)

if TYPE_CHECKING:
    from ._cassette import Cassette

__all__ = ["CassetteTransport", "StreamingCassetteTransport"]


class CassetteTransport:
    """A transport recording into, or replaying from, a :class:`Cassette`; made by
    :meth:`Cassette.wrap`.

    Attributes the client reads (``name``, the span hooks, ``retry_statuses``...) come from the
    wrapped transport, so logs, spans and retries look as they do without the cassette.
    """

    def __init__(self, cassette: Cassette, inner: Transport) -> None:
        self.cassette = cassette
        self.inner = inner
        self._codec = codec_for(inner.inner if isinstance(inner, SerializedTransport) else inner)
        #: The wrapped transport's name (the client's messages, logs and spans use it).
        self.name: str = getattr(inner, "name", None) or type(inner).__name__

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("cassette", "inner", "_codec", "name"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"<CassetteTransport {self.cassette.record_mode} {self.cassette.path} over {self.inner!r}>"

    async def connect(self) -> None:
        """Connect the wrapped transport (cheap for every built-in one: connections open on use)."""
        await self.inner.connect()

    async def disconnect(self) -> None:
        """Disconnect the wrapped transport. Idempotent."""
        await self.inner.disconnect()

    async def __aenter__(self) -> CassetteTransport:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    async def exchange(self, data: Any, **options: Any) -> Any:
        """Answer from the cassette, or exchange through the wrapped transport and record it.

        Blocks for the recorded duration (times ``latency``) on replay.

        Raises:
            pynector.testing.UnmatchedRequestError: no recorded exchange matches and the mode does not record.
            pynector.PynectorError: a recorded error, raised again; or the wrapped transport's error.
            pynector.testing.CassetteError: the result cannot be written to a cassette.
        """
        cassette = self.cassette
        codec = self._codec
        live = cassette._prepare(codec, "exchange", data, options)
        secrets = live.secrets
        entry = cassette._answer(live)
        if entry is not None:
            record = entry.record
            response = record.get("response")
            if response is None or "cancelled" in record:
                return await cassette._replay_outcome(entry, codec, trio.current_time())
            # The common case, inlined: a response after the recorded duration (its elapsed).
            duration = record.get("duration")
            elapsed = float(duration or 0.0) * cassette.latency
            if elapsed > 0:
                await trio.sleep(elapsed)
                return codec.rebuild(response, entry.request, elapsed)
            # No wait: a checkpoint on both sides, as the memory transport does (cheaper than
            # trio.lowlevel.checkpoint's cancel scope), never losing a built result.
            await trio.lowlevel.checkpoint_if_cancelled()
            result = codec.rebuild(response, entry.request, elapsed)
            await trio.lowlevel.cancel_shielded_checkpoint()
            return result
        started = trio.current_time()
        entry = cassette._start_recording(live, started)
        try:
            result = await self.inner.exchange(data, **options)
        except Exception as exc:
            cassette._finish(entry, secrets, started, error=encode_error(exc, codec.error_response))
            raise
        except BaseException:
            cassette._finish(entry, secrets, started, cancelled=True)
            raise
        cassette._finish(entry, secrets, started, response=codec.response(result))
        return result


class StreamingCassetteTransport(CassetteTransport):
    """A :class:`CassetteTransport` over a transport with ``stream()``."""

    @contextlib.asynccontextmanager
    async def stream(self, data: Any, **options: Any) -> AsyncIterator[Any]:
        """Replay or record a streamed exchange: the head (HTTP) and every chunk with its timing.

        Raises:
            As :meth:`exchange`, on entry; while iterating, the recorded error of the stream.
        """
        cassette = self.cassette
        codec = self._codec
        started = trio.current_time()
        live = cassette._prepare(codec, "stream", data, options)
        secrets = live.secrets
        entry = cassette._answer(live)
        if entry is not None:
            yield await self._replay_stream(entry, codec, started)
            return
        entry = cassette._start_recording(live, started)
        tape = _Tape(started)
        outcome: dict[str, Any] = {}
        try:
            open_stream: Any = getattr(self.inner, "stream")  # noqa: B009 - checked by Cassette.wrap
            async with open_stream(data, **options) as opened:
                if isinstance(opened, Response):
                    outcome["response"] = encode_response(opened, with_body=False)
                    reader = opened._reader
                    if reader is not None:
                        reader._raw = _RecordingIterator(reader._raw, tape, encode_body)
                    handed: Any = opened
                else:
                    outcome["response"] = {"stream": True}
                    handed = _RecordingIterator(opened, tape, encode_value)
                outcome["duration"] = round(trio.current_time() - started, ROUND)
                yield handed
        except Exception as exc:
            # An error once the stream is open came from the caller's block, or from reading the
            # stream (which the tape recorded): only an error opening the stream is the outcome.
            if "response" not in outcome:
                cassette._finish(entry, secrets, started, error=encode_error(exc, codec.error_response))
            raise
        except BaseException:
            if "response" not in outcome:
                cassette._finish(entry, secrets, started, cancelled=True)
            raise
        finally:
            if "response" in outcome:
                head_duration = outcome.pop("duration", None)
                cassette._finish(entry, secrets, started, **outcome, chunks=tape.chunks, end=tape.end())
                if head_duration is not None:  # a stream's duration is until its head arrived
                    entry.record["duration"] = head_duration

    async def _replay_stream(self, entry: Entry, codec: Codec, started: float) -> Any:
        record = entry.record
        if "response" not in record:
            return await self.cassette._replay_outcome(entry, codec, started)  # raises
        await self.cassette._wait(record.get("duration"))
        chunks = _ReplayIterator(self.cassette, entry, started)
        head = record["response"]
        if "status" not in head:
            chunks.decode = decode_value
            return chunks
        response = rebuild_response(
            head, entry.request.get("method"), trio.current_time() - started, with_body=False
        )
        encodings = header_values(head["headers"], "content-encoding")
        transport = codec.transport
        response._reader = BodyReader(
            chunks,
            ", ".join(encodings) if encodings else None,
            getattr(transport, "_max_bytes", None),
            f"{response.request.method} {redact_url(response.url)}",
        )
        return response


@dataclass
class _Tape:
    """The chunks of a stream being recorded, with their offsets from the exchange's start."""

    started: float
    chunks: list[list[Any]] = field(default_factory=list)
    finished: bool = False
    error: dict[str, Any] | None = None

    def end(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        return {"complete": self.finished}


class _RecordingIterator:
    """Passes an async iterator's items through, writing each on the tape; other attributes (a
    token stream's ``usage``) come from the wrapped object."""

    def __init__(self, inner: Any, tape: _Tape, encode: Callable[[Any], Any]) -> None:
        self._inner = inner
        self._iterator: Any = None
        self._tape = tape
        self._encode = encode

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __aiter__(self) -> _RecordingIterator:
        return self

    async def __anext__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._inner.__aiter__()
        tape = self._tape
        try:
            item = await self._iterator.__anext__()
        except StopAsyncIteration:
            tape.finished = True
            raise
        except Exception as exc:
            tape.error = encode_error(exc, encode_value)
            raise
        tape.chunks.append([round(trio.current_time() - tape.started, ROUND), self._encode(item)])
        return item


class _ReplayIterator:
    """Yields a recorded stream's chunks at their recorded offsets on trio's clock."""

    def __init__(self, cassette: Cassette, entry: Entry, started: float) -> None:
        self._cassette = cassette
        self._entry = entry
        self._started = started
        self._position = 0
        self.decode: Callable[[Any], Any] = decode_body

    def __aiter__(self) -> _ReplayIterator:
        return self

    async def __anext__(self) -> Any:
        record = self._entry.record
        chunks = record.get("chunks") or []
        if self._position < len(chunks):
            offset, body = chunks[self._position]
            self._position += 1
            target = self._started + float(offset) * self._cassette.latency
            if target > trio.current_time():
                await trio.sleep_until(target)
            else:
                await trio.lowlevel.checkpoint()
            return self.decode(body)
        end = record.get("end") or {}
        await trio.lowlevel.checkpoint()
        if "error" in end:
            raise rebuild_error(end["error"], decode_value)
        if end.get("complete", True):
            raise StopAsyncIteration
        raise CassetteError(
            f"exchange #{record.get('id')} ({describe_request(self._entry.request)}) was recorded up to "
            f"chunk {len(chunks)} (the code stopped reading there); this run reads further: re-record"
        )
