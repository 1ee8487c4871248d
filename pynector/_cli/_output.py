"""Results out: one JSON record per result."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from typing import Any, BinaryIO

# The command is a client of the public API; it reuses two private helpers (the timeout validator and
# the root-cause formatter) so that its messages match the library's.
from .. import HTTPStatusError, PynectorError
from .._errors import describe_exception
from ._common import _MISSING
from ._input import _Item, _reject_constant


def _header_value(response: object, name: str) -> str | None:
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    if isinstance(headers, Mapping) or hasattr(headers, "get"):
        value = headers.get(name)
        return value if isinstance(value, str) else None
    return None


def _add_body(record: dict[str, Any], response: object) -> None:
    try:
        content = getattr(response, "content", None)
    except PynectorError:
        return
    if not isinstance(content, bytes):
        return
    content_type = _header_value(response, "content-type") or ""
    if content and "json" in content_type.lower():
        try:
            record["json"] = json.loads(content, parse_constant=_reject_constant)
            return
        except ValueError:
            pass
    text = getattr(response, "text", None)
    record["body"] = text if isinstance(text, str) else content.decode("utf-8", errors="replace")


def build_record(item: _Item, result: object, *, no_body: bool) -> dict[str, Any]:
    """The output record of *item*, whose batch result is *result* (a response or an exception)."""
    record: dict[str, Any] = {}
    if item.id is not _MISSING:
        record["id"] = item.id
    record["index"] = item.index
    response: object = None
    error: BaseException | None = None
    if isinstance(result, BaseException):
        error = result
        if isinstance(result, HTTPStatusError):
            response = result.response
    else:
        response = result
    record["ok"] = error is None
    status = getattr(response, "status_code", None)
    record["status"] = status if isinstance(status, int) else None
    if item.started is not None and item.finished is not None:
        record["elapsed"] = round(item.finished - item.started, 6)
    else:
        record["elapsed"] = None
    record["attempts"] = item.attempts
    if error is not None:
        record["error"] = {"type": type(error).__name__, "message": str(error) or describe_exception(error)}
    if response is not None and not no_body:
        _add_body(record, response)
    return record


def _encode(record: dict[str, Any]) -> bytes:
    """One JSON line. Values come from JSON parsed without NaN/Infinity, so strict JSON always works."""
    try:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # lone surrogates from the input's JSON: escape them
        return json.dumps(record, separators=(",", ":"), allow_nan=False).encode("ascii") + b"\n"


class _OutputClosed(Exception):
    """The output was closed by its reader (a broken pipe)."""


class _RecordWriter:
    """Buffered JSON Lines output; each record is written whole, the buffer is flushed periodically."""

    def __init__(self, stream: BinaryIO | None) -> None:
        self._stream = stream
        self._dirty = False
        self.broken = False

    def write(self, record: dict[str, Any]) -> None:
        """Append one record.

        Raises:
            _OutputClosed: the reader of the output went away.
        """
        if self._stream is None:
            return
        try:
            self._stream.write(_encode(record))
        except BrokenPipeError:
            self._break()
            raise _OutputClosed from None
        self._dirty = True

    def _break(self) -> None:
        """The reader went away (``pynector batch | head``): send what is still buffered to nowhere.

        Without this, the interpreter's final flush of stdout would fail again and print a traceback.
        """
        self.broken = True
        if self._stream is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._stream.fileno())
                os.close(devnull)

    def flush(self) -> None:
        """Flush the buffer if anything was written since the last flush.

        Raises:
            _OutputClosed: the reader of the output went away.
        """
        if self._dirty and self._stream is not None and not self.broken:
            self._dirty = False
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._break()
                raise _OutputClosed from None
