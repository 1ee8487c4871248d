"""Requests in: JSON Lines read lazily, one line parsed per free batch worker.

Bounded memory, whatever the input's length. The naive command reads the file, builds the list of
requests, runs the batch and prints the results: ten million lines become ten million request dicts,
then ten million results. Here the input is read in 64 KiB blocks, split into lines, and a line is
parsed only when a batch worker is free to start it (the engine pulls an item exactly when a worker
can run it). A regular file is read directly: a page-cache read never waits long, and a sync iterator
lets the engine pull without a lock (about 1.6x the throughput). A pipe or a terminal may have nothing
to say for a long time, so it is read in a worker thread (one thread hop per block, not per line)
behind an async iterator, which never blocks trio's loop. Results are written as they arrive into a
buffered writer, flushed every 0.1 s and at exit. What is held at any time: the requests in flight
(``--concurrency``), the reorder window of ``--ordered`` (two times the concurrency), one input block,
one output buffer. Lines longer than ``MAX_LINE_BYTES`` are invalid, so one huge line cannot grow it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import trio
from loguru import logger

# The command is a client of the public API; it reuses two private helpers (the timeout validator and
# the root-cause formatter) so that its messages match the library's.
from .. import ConfigurationError
from .._config import validate_timeout
from .._errors import describe_exception
from .._httpcommon import HTTP_TOKEN
from .._net import DEFAULT_PORTS
from .._redact import is_sensitive_header
from ._common import _LINE_KEYS, _MISSING, MAX_LINE_BYTES, READ_BLOCK_BYTES, _InvalidLine


@dataclass(frozen=True, slots=True, eq=False)
class _Item:
    """One request of the batch: its line's index, its ``id`` (``_MISSING`` without one), the request."""

    index: int
    id: Any
    request: dict[str, Any]


def _json_type(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return {dict: "object", list: "array", str: "string", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parameters(value: object, key: str) -> dict[str, Any]:
    """A ``params`` or ``form`` object: string keys, values strings, numbers, booleans or lists of them.

    Raises:
        _InvalidLine: *value* is not such an object.
    """
    if not isinstance(value, dict):
        raise _InvalidLine(f'"{key}" must be an object, got {_json_type(value)}')
    for name, item in value.items():
        values = item if isinstance(item, list) else [item]
        for one in values:
            if not isinstance(one, str | int | float) or (isinstance(one, float) and one != one):
                raise _InvalidLine(
                    f'"{key}" value {name!r} must be a string, number, boolean or a list of them, '
                    f"got {_json_type(one)}"
                )
    return value


class CredentialHeaders:
    """``-H`` headers that carry credentials, sent only to the ``--base-url`` origin.

    A batch file may name any URL; a token given on the command line for the service at
    ``--base-url`` must not reach another host that a line names. So ``-H`` headers that are
    credentials (``Authorization``, cookies, API-key and token headers: the library's rule for
    secrets) are not client-wide: each request gets them only when its URL is relative or has the
    base URL's origin (scheme, host and port). ``--allow-cross-origin-headers`` sends them everywhere.
    """

    def __init__(self, headers: list[tuple[str, str]], base_url: str | None) -> None:
        self.headers = headers
        self._origin = _origin(base_url) if base_url else None

    @classmethod
    def split(cls, args: Any, headers: list[tuple[str, str]]) -> CredentialHeaders | None:
        """Put the plain ``-H`` headers in ``args.plain_headers`` and return the credentials, if any
        (``None`` when there are none or ``--allow-cross-origin-headers`` is given)."""
        if getattr(args, "allow_cross_origin_headers", False):
            args.plain_headers = list(headers)
            return None
        secret = [(n, v) for n, v in headers if is_sensitive_header(n)]
        args.plain_headers = [(n, v) for n, v in headers if not is_sensitive_header(n)]
        return cls(secret, getattr(args, "base_url", None)) if secret else None

    def apply(self, request: dict[str, Any]) -> None:
        """Add the credentials to *request* if its URL is relative or of the base URL's origin (the
        line's own headers of the same name win)."""
        url = request["url"]
        if urlsplit(url).scheme and (self._origin is None or _origin(url) != self._origin):
            return
        own = {name.lower() for name in request.get("headers", {})}
        headers = dict(request.get("headers", {}))
        for name, value in self.headers:
            if name.lower() not in own:
                headers[name] = value
        request["headers"] = headers


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme)


def parse_request_line(line: bytes, index: int) -> _Item:
    """Parse one input line into a request.

    Messages never quote the line's values (they may hold credentials), only keys and types.

    Raises:
        _InvalidLine: the line is not a JSON object in the documented request format.
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise _InvalidLine("not valid UTF-8") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _InvalidLine(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:
        raise _InvalidLine(str(exc)) from None
    if not isinstance(obj, dict):
        raise _InvalidLine(f"expected a JSON object, got {_json_type(obj)}")
    unknown = [key for key in obj if key not in _LINE_KEYS]
    if unknown:
        names = ", ".join(repr(key[:40]) for key in sorted(unknown))
        raise _InvalidLine(f"unknown key(s) {names}; expected {', '.join(_LINE_KEYS)}")
    url = obj.get("url")
    if not isinstance(url, str) or not url:
        raise _InvalidLine('"url" is required and must be a non-empty string')
    method = obj.get("method", "GET")
    if not isinstance(method, str) or not HTTP_TOKEN.match(method):
        raise _InvalidLine('"method" must be an HTTP method name such as "GET"')
    request: dict[str, Any] = {"method": method.upper(), "url": url}
    headers = obj.get("headers")
    if headers is not None:
        if not isinstance(headers, dict):
            raise _InvalidLine(f'"headers" must be an object, got {_json_type(headers)}')
        for name, value in headers.items():
            if not HTTP_TOKEN.match(name):
                raise _InvalidLine('a header name in "headers" is not a valid HTTP token')
            if not isinstance(value, str):
                raise _InvalidLine(f"header {name!r} must be a string, got {_json_type(value)}")
            if any(c in value for c in "\r\n\0"):
                raise _InvalidLine(f"the value of header {name!r} contains CR, LF or NUL")
        request["headers"] = headers
    params = obj.get("params")
    if params is not None:
        request["params"] = _parameters(params, "params")
    bodies = [key for key in ("json", "body", "form") if key in obj]
    if len(bodies) > 1:
        raise _InvalidLine(f"give at most one of json, body and form, got {' and '.join(bodies)}")
    if "form" in obj:
        request["data"] = _parameters(obj["form"], "form")
    elif "json" in obj:
        request["json"] = obj["json"]
    elif "body" in obj:
        body = obj["body"]
        if not isinstance(body, str):
            raise _InvalidLine(f'"body" must be a string, got {_json_type(body)} (use "json" for JSON)')
        request["content"] = body.encode("utf-8")
    if "timeout" in obj:
        try:
            request["timeout"] = validate_timeout(obj["timeout"], '"timeout"')
        except ConfigurationError as exc:
            raise _InvalidLine(str(exc)) from None
    return _Item(index, obj.get("id", _MISSING), request)


def _read_block(stream: BinaryIO) -> bytes:
    read1 = getattr(stream, "read1", None)
    return read1(READ_BLOCK_BYTES) if read1 is not None else stream.read(READ_BLOCK_BYTES)


def _read_fd_block(fd: int) -> bytes:
    """One ``os.read`` of the raw descriptor, for the worker thread.

    Not the buffered file object: a thread abandoned in a read (the run was interrupted while a pipe
    was silent) would hold the file object's lock, and the interpreter aborts at exit when it cannot
    take that lock to flush. ``os.read`` holds no Python lock while it waits.
    """
    return os.read(fd, READ_BLOCK_BYTES)


#: ``_LineReader._pop_line`` result when the current block is used up.
_NEED_BLOCK: Any = object()


class _LineReader:
    """The requests of a JSON Lines stream, read lazily: :meth:`next_item` or :meth:`anext_item`.

    Lines are split out of 64 KiB blocks and parsed one per call. :meth:`anext_item` reads blocks in
    a worker thread, so a pipe or a terminal that has nothing to say never blocks trio's loop;
    :meth:`next_item` reads them directly, which is only right for regular files (a page-cache read
    never waits long), and lets the batch engine use its lock-free path for sync iterators.

    An invalid line ends the iteration (``error`` says why) unless ``skip_invalid``; a read error ends
    it too (``read_error``). Neither is raised into the batch engine: the requests already started
    finish and are written normally.
    """

    def __init__(
        self,
        stream: BinaryIO,
        *,
        skip_invalid: bool,
        size: int | None = None,
        base_url: str | object | None = _MISSING,
        credentials: CredentialHeaders | None = None,
    ) -> None:
        self._stream = stream
        # Relative URLs need a base URL (unless the target takes any data: _MISSING skips the check).
        self._needs_base = base_url is None
        self._credentials = credentials
        #: A relative URL without --base-url: stops the run as a usage error.
        self.usage_error: str | None = None
        self._fd = -1 if size is not None else stream.fileno()  # the async path reads the descriptor
        self._skip_invalid = skip_invalid
        self._lines: list[bytes | None] = []  # None marks a line that was too long
        self._next = 0
        self._partial: list[bytes] = []  # the unfinished last line, in pieces (no quadratic joins)
        self._partial_size = 0
        self._overlong = False
        self._eof = False
        self._done = False
        #: Input lines consumed so far (blank and invalid ones included).
        self.lines = 0
        #: Bytes of the input consumed so far.
        self.consumed = 0
        #: Size of the input in bytes when it is a regular file (for the progress estimate).
        self.size = size
        #: Requests returned so far.
        self.items = 0
        self.skipped = 0
        self.error: str | None = None
        self.read_error: str | None = None

    @property
    def exhausted(self) -> bool:
        """Whether the whole input has been consumed (or the reading stopped)."""
        return self._done

    def _add_block(self, block: bytes) -> None:
        """Split *block* (``b""`` at the end of the input) into lines, keeping the unfinished tail."""
        self._next = 0
        if not block:
            self._eof = True
            if self._overlong:
                self._lines = [None]
            elif self._partial:
                self._lines = [b"".join(self._partial)]
            else:
                self._lines = []
            self._partial = []
            self._partial_size = 0
            self._overlong = False
            return
        pieces: list[bytes | None] = list(block.split(b"\n"))
        tail = pieces.pop()
        assert tail is not None
        if pieces:
            if self._overlong:
                pieces[0] = None
                self._overlong = False
            elif self._partial:
                self._partial.append(pieces[0])  # type: ignore[arg-type]
                pieces[0] = b"".join(self._partial)
            self._partial = []
            self._partial_size = 0
        if not self._overlong:
            self._partial.append(tail)
            self._partial_size += len(tail)
            if self._partial_size > MAX_LINE_BYTES:  # stop buffering: skip to the next newline
                self._partial = []
                self._partial_size = 0
                self._overlong = True
        self._lines = pieces

    def _read_failed(self, exc: OSError) -> None:
        self.read_error = f"reading the input failed: {describe_exception(exc)}"
        self._done = True

    def _parse(self, line: bytes | None) -> _Item | None:
        """The request on *line*, or ``None`` for a blank or skipped line (or a stopping error)."""
        index = self.lines
        self.lines += 1
        self.consumed += MAX_LINE_BYTES if line is None else len(line) + 1
        try:
            if line is None or len(line) > MAX_LINE_BYTES:
                raise _InvalidLine(f"longer than {MAX_LINE_BYTES} bytes")
            if not line.strip():
                return None
            item = parse_request_line(line, index)
            if self._needs_base and not urlsplit(item.request["url"]).scheme:
                self.usage_error = (
                    f"line {index + 1}: the url is relative and there is no --base-url to resolve it "
                    "against (give --base-url, or absolute URLs)"
                )
                self._done = True
                return None
            if self._credentials is not None:
                self._credentials.apply(item.request)
        except _InvalidLine as exc:
            message = f"line {index + 1}: {exc}"
            if self._skip_invalid:
                self.skipped += 1
                logger.warning("skipped invalid input {}", message)
            else:
                self.error = message
                self._done = True
            return None
        self.items += 1
        return item

    def _pop_line(self) -> Any:
        if self._next < len(self._lines):
            line = self._lines[self._next]
            self._next += 1
            return line
        if self._eof:
            self._done = True
        return _NEED_BLOCK

    def next_item(self) -> _Item:
        """The next valid request, reading blocks directly (regular files only).

        Raises:
            StopIteration: at the end of the input, an invalid line (unless skipped) or a read error.
        """
        while not self._done:
            line = self._pop_line()
            if line is _NEED_BLOCK:
                if self._done:
                    break
                try:
                    self._add_block(_read_block(self._stream))
                except OSError as exc:
                    self._read_failed(exc)
                continue
            item = self._parse(line)
            if item is not None:
                return item
        raise StopIteration

    async def anext_item(self) -> _Item:
        """The next valid request, reading blocks in a worker thread.

        Raises:
            StopAsyncIteration: at the end of the input, an invalid line (unless skipped) or a read
                error.
        """
        while not self._done:
            line = self._pop_line()
            if line is _NEED_BLOCK:
                if self._done:
                    break
                try:
                    block = await trio.to_thread.run_sync(_read_fd_block, self._fd, abandon_on_cancel=True)
                except OSError as exc:
                    self._read_failed(exc)
                    break
                self._add_block(block)
                continue
            item = self._parse(line)
            if item is not None:
                return item
        raise StopAsyncIteration
