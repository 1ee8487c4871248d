"""The ``pynector`` command: batches of HTTP requests from the shell, and a demo.

``pynector batch`` reads requests as JSON Lines, runs them through one :class:`pynector.Pynector`
client with the streaming batch engine (``stream_batch``) and writes one JSON line per result as it
completes. ``pynector demo`` runs the same machinery against a loopback server started in the process.

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

Attempts and elapsed time. Every item runs under a :class:`pynector.RetryPolicy` (``--retries 0``:
one attempt), whose ``on_finish`` hook reports each item's :class:`pynector.RetryDetails`: attempts
made, timed from the first attempt's start to the last attempt's end (retry waits included, rate-limit
waits before the first attempt excluded).

Statuses. The HTTP transport runs with ``raise_for_status=True``, so that a ``--retry-on`` status
reaches the retry policy as an :class:`pynector.HTTPStatusError`. A status error that is the item's
final result is a failure only with ``--check-status``; otherwise it is recorded as the response it
carries, like any other status (a ``--retry-on`` status the last attempt still got included).

Interruption. SIGINT is taken with ``trio.open_signal_receiver``: the first one cancels the batch
(requests in flight are abandoned and not written), the lines written so far are flushed (each record
is written whole, so the output ends with a complete line) and the command exits with 130; a second
SIGINT exits at once.

Output failures. Records are written whole from the command's own buffer with ``os.write``; when the
output cannot take them (a full disk, an I/O error), the file is cut back to its last complete line,
the batch stops, and the command exits with ``EXIT_OUTPUT_FAILED`` (4) after one line on stderr.

Terminal. A progress bar (``rich``, from the optional ``cli`` extra, imported only when a bar is shown)
is drawn on stderr only when stderr is a terminal and stdout is not that terminal too (records
printed to the same terminal would tear it). loguru records are routed through the bar's console so
they print above it; stdout carries nothing but JSON Lines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import stat
import sys
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, BinaryIO, Final, Protocol, TextIO

import trio
from loguru import logger

# The command is a client of the public API; it reuses two private helpers (the timeout validator and
# the root-cause formatter) so that its messages match the library's.
from . import (
    ConfigurationError,
    HTTPStatusError,
    Pynector,
    PynectorError,
    RetryDetails,
    RetryPolicy,
    __version__,
)
from ._config import validate_timeout
from ._errors import describe_exception
from ._net import CLOSE_TIMEOUT

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID_INPUT",
    "EXIT_OK",
    "EXIT_OUTPUT_FAILED",
    "EXIT_USAGE",
    "main",
]

#: Every request succeeded.
EXIT_OK: Final = 0
#: At least one request failed (or the reader of the output went away).
EXIT_FAILED: Final = 1
#: Usage or configuration error (bad flag, unreadable input, invalid --base-url...).
EXIT_USAGE: Final = 2
#: An invalid input line stopped the run (see --skip-invalid).
EXIT_INVALID_INPUT: Final = 3
#: The output could not be written (disk full, I/O error); every line written is a complete record.
EXIT_OUTPUT_FAILED: Final = 4
#: Interrupted (SIGINT); the lines written are complete.
EXIT_INTERRUPTED: Final = 130

EXIT_CODES_HELP = """\
exit codes:
  0    every request succeeded
  1    some requests failed (transport error, timeout, or a 4xx/5xx with --check-status)
  2    usage or configuration error (bad flag, unreadable input or output, invalid --base-url)
  3    an invalid input line stopped the run (lines before it were run; see --skip-invalid)
  4    the output could not be written (disk full, I/O error); the lines written are complete
  130  interrupted by SIGINT (Ctrl-C); the results written so far are complete JSON lines
"""

BATCH_FORMAT_HELP = """\
input, one JSON object per line (blank lines are ignored):
  {"id": 7, "method": "POST", "url": "/items", "headers": {"X-Trace": "1"},
   "json": {"name": "x"}, "timeout": 2.5}
  url is required (relative to --base-url, or absolute); method defaults to GET; send either
  json (any JSON value) or body (a string); id is any JSON value, echoed in the output.

output, one JSON object per result:
  {"id": 7, "index": 0, "ok": true, "status": 201, "elapsed": 0.0123, "attempts": 1,
   "json": {...}}
  index is the input line's 0-based position; id appears when the input had one; the body is
  "json" when the response is JSON, else "body" (text), omitted with --no-body; a failure has
  "ok": false and "error": {"type": "TimeoutError", "message": "..."}.
"""

#: Longest accepted input line; longer lines are invalid (memory stays bounded).
MAX_LINE_BYTES: Final = 16 * 1024 * 1024
#: Bytes read from the input per worker-thread hop.
READ_BLOCK_BYTES: Final = 64 * 1024
#: Seconds between two flushes of the output (and two redraws of the progress bar).
FLUSH_INTERVAL: Final = 0.1
#: The HTTP transports' default connection limit (``max_connections``); raised to --concurrency above it.
DEFAULT_MAX_CONNECTIONS: Final = 100
#: Seconds closing the transport may take at the end of a run.

_LINE_KEYS: Final = ("id", "method", "url", "headers", "json", "body", "timeout")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})
_MISSING: Any = object()
_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


class _UsageError(Exception):
    """A usage or configuration problem found after argument parsing: exit code 2."""


class _InvalidLine(Exception):
    """An input line that is not a valid request."""


# --- argument parsing -----------------------------------------------------------------------------


def _number(parse: Callable[[str], float], minimum: float, *, strict: bool) -> Callable[[str], Any]:
    """An argparse type: *parse* the text, finite, and above (*strict*) or at least *minimum*."""
    kind = "a whole number" if parse is int else "a number"
    bound = f"> {minimum:g}" if strict else f">= {minimum:g}"

    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"must be {kind} {bound}, got {text}")
        return value

    return convert


_positive_int = _number(int, 1, strict=False)
_count = _number(int, 0, strict=False)
_positive_float = _number(float, 0, strict=True)
_delay = _number(float, 0, strict=False)


def _statuses(text: str) -> frozenset[int]:
    statuses: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            status = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected HTTP statuses like 429,503, got {part!r}") from None
        if not 100 <= status <= 599:
            raise argparse.ArgumentTypeError(f"{status} is not an HTTP status (100-599)")
        statuses.add(status)
    return frozenset(statuses)


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not _TOKEN.match(name):
        raise argparse.ArgumentTypeError("expected 'Name: value' with a valid header name")
    value = value.strip()
    if any(c in value for c in "\r\n\0"):
        raise argparse.ArgumentTypeError(f"the value of header {name!r} contains CR, LF or NUL")
    return name, value


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``batch`` and ``demo``: how the requests run and what is shown."""
    run = parser.add_argument_group("running the requests")
    run.add_argument(
        "--concurrency",
        type=_positive_int,
        default=None,
        metavar="N",
        help="requests in flight at once (default: the client's max_concurrency, 100, "
        "or PYNECTOR_MAX_CONCURRENCY)",
    )
    run.add_argument(
        "--rate",
        type=_positive_float,
        default=None,
        metavar="PER_SECOND",
        help="at most this many requests per second",
    )
    run.add_argument(
        "--timeout",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="total deadline of one attempt: connect, send and the whole response, not per read "
        '(default 60; a line\'s own "timeout" wins)',
    )
    run.add_argument(
        "--retries", type=_count, default=0, metavar="N", help="retries after a failed attempt (default 0)"
    )
    run.add_argument(
        "--retry-on",
        type=_statuses,
        default=frozenset({429, 503}),
        metavar="STATUSES",
        help="statuses that are retried, comma-separated (default 429,503); transport errors and "
        "timeouts are retried too, for idempotent methods; Retry-After is honoured",
    )
    run.add_argument(
        "--retry-delay",
        type=_delay,
        default=1.0,
        metavar="SECONDS",
        help="first backoff wait, doubled per retry with jitter (default 1)",
    )
    run.add_argument(
        "--fail-fast",
        action="store_true",
        help="stop at the first failure (requests in flight are cancelled)",
    )
    run.add_argument(
        "--check-status",
        action="store_true",
        help="count 4xx/5xx responses as failures (default: recorded as ok)",
    )
    show = parser.add_argument_group("display")
    show.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar, no summary; only errors on stderr"
    )
    show.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it is shown only when stderr is a terminal)",
    )
    show.add_argument(
        "--log-level",
        type=str.upper,
        choices=_LOG_LEVELS,
        default=None,
        metavar="LEVEL",
        help="log level on stderr: DEBUG, INFO, WARNING (default), ERROR...",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``pynector`` argument parser (``batch`` and ``demo`` sub-commands)."""
    parser = argparse.ArgumentParser(
        prog="pynector",
        description="pynector: run batches of HTTP requests from JSON Lines, with retries, rate\n"
        "limits and a progress bar. `pynector COMMAND --help` describes each command.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pynector {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    batch = commands.add_parser(
        "batch",
        help="run the requests of a JSON Lines file, write one JSON line per result",
        description="Run the requests read from FILE (or stdin), one JSON object per line, and write\n"
        "one JSON line per result to stdout (or FILE) as each completes.",
        epilog=BATCH_FORMAT_HELP + "\n" + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    files = batch.add_argument_group("input and output")
    files.add_argument(
        "-i", "--input", default="-", metavar="FILE", help="requests, JSON Lines (default: - for stdin)"
    )
    files.add_argument(
        "-o", "--output", default="-", metavar="FILE", help="results, JSON Lines (default: - for stdout)"
    )
    files.add_argument(
        "--ordered",
        action="store_true",
        help="write results in input order (default: in completion order, as they arrive)",
    )
    files.add_argument("--no-body", action="store_true", help="leave response bodies out of the results")
    files.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip invalid input lines with a warning instead of stopping with exit code 3",
    )
    http = batch.add_argument_group("HTTP")
    http.add_argument("--base-url", default=None, metavar="URL", help="prefix for relative request URLs")
    http.add_argument(
        "-H",
        "--header",
        dest="headers",
        type=_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a header sent with every request (repeatable; a line's own headers win)",
    )
    recording = batch.add_argument_group("recording")
    recording.add_argument(
        "--cassette",
        default=None,
        metavar="PATH",
        help="record the run's exchanges into the cassette PATH, or answer from it (see --record-mode); "
        "credentials are never written",
    )
    recording.add_argument(
        "--record-mode",
        default="once",
        choices=("once", "new_episodes", "none", "all"),
        help="once (default): replay PATH if it exists, else record it; new_episodes: replay, and record "
        "what PATH lacks; none: replay only; all: record again",
    )
    # An in-process target answering 200 at once: measures the command itself (memory, overhead).
    batch.add_argument("--memory-target", action="store_true", help=argparse.SUPPRESS)
    _add_run_options(batch)

    demo = commands.add_parser(
        "demo",
        help="run a batch against a loopback server started in this process",
        description="Start a loopback HTTP server in this process and run a batch against it: some\n"
        "requests are scripted to fail, to be slow (hitting the timeout) or to answer 503/429 with\n"
        "Retry-After (so retries show), with a progress bar and a summary table.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "-n",
        "--requests",
        type=_positive_int,
        default=2000,
        metavar="N",
        help="requests to run (default 2000)",
    )
    demo.add_argument(
        "-o", "--output", default=None, metavar="FILE", help="also write the JSON Lines results to FILE"
    )
    _add_run_options(demo)
    # The demo's own defaults (50 in flight, 1 s timeout, 2 retries 0.2 s apart) apply when not given.
    demo.set_defaults(retries=None, retry_delay=None)
    return parser


# --- requests in ---------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Item:
    """One request of the batch, and what happened to it (filled by the retry policy's hook)."""

    index: int
    id: Any
    request: dict[str, Any]
    attempts: int = 0
    started: float | None = None
    finished: float | None = None


def _json_type(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return {dict: "object", list: "array", str: "string", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


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
    if not isinstance(method, str) or not _TOKEN.match(method):
        raise _InvalidLine('"method" must be an HTTP method name such as "GET"')
    request: dict[str, Any] = {"method": method.upper(), "url": url}
    headers = obj.get("headers")
    if headers is not None:
        if not isinstance(headers, dict):
            raise _InvalidLine(f'"headers" must be an object, got {_json_type(headers)}')
        for name, value in headers.items():
            if not _TOKEN.match(name):
                raise _InvalidLine('a header name in "headers" is not a valid HTTP token')
            if not isinstance(value, str):
                raise _InvalidLine(f"header {name!r} must be a string, got {_json_type(value)}")
            if any(c in value for c in "\r\n\0"):
                raise _InvalidLine(f"the value of header {name!r} contains CR, LF or NUL")
        request["headers"] = headers
    if "json" in obj and "body" in obj:
        raise _InvalidLine('give either "json" or "body", not both')
    if "json" in obj:
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

    def __init__(self, stream: BinaryIO, *, skip_invalid: bool, size: int | None = None) -> None:
        self._stream = stream
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


class _SyncFeed:
    """Turns items into the batch's ``(data, options)`` pairs and remembers the ones in flight.

    The batch engine numbers pulled items 0, 1, 2... in pull order, so ``inflight[index]`` is the item
    of the result with that index; entries are removed as results are written (bounded by the
    concurrency plus the reorder window).
    """

    def __init__(self, next_item: Callable[[], _Item]) -> None:
        self._next_item = next_item
        self.inflight: dict[int, _Item] = {}
        self.count = 0

    def __iter__(self) -> _SyncFeed:
        return self

    def __next__(self) -> tuple[dict[str, Any], Mapping[str, Any]]:
        item = self._next_item()
        self.inflight[self.count] = item
        self.count += 1
        return item.request, _NO_OPTIONS


class _AsyncFeed:
    """:class:`_SyncFeed` for items that must be awaited (a pipe or a terminal)."""

    def __init__(self, next_item: Callable[[], Awaitable[_Item]]) -> None:
        self._next_item = next_item
        self.inflight: dict[int, _Item] = {}
        self.count = 0

    def __aiter__(self) -> _AsyncFeed:
        return self

    async def __anext__(self) -> tuple[dict[str, Any], Mapping[str, Any]]:
        item = await self._next_item()
        self.inflight[self.count] = item
        self.count += 1
        return item.request, _NO_OPTIONS


@dataclass(frozen=True, slots=True)
class _MemoryResponse:
    """What the hidden ``--memory-target`` answers: the attributes the records read."""

    status_code: int = 200
    content: bytes = b'{"ok":true}'
    headers: Mapping[str, str] = field(default_factory=lambda: {"content-type": "application/json"})

    @property
    def text(self) -> str:
        return self.content.decode()


_MEMORY_RESPONSE: Final = _MemoryResponse()


def _memory_handler(data: Any, **options: Any) -> _MemoryResponse:
    return _MEMORY_RESPONSE


# --- results out ---------------------------------------------------------------------------------


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


def build_record(item: _Item, result: object, *, no_body: bool, check_status: bool = True) -> dict[str, Any]:
    """The output record of *item*, whose batch result is *result* (a response or an exception).

    Without *check_status*, a status error carrying its response is recorded as that response.
    """
    record: dict[str, Any] = {}
    if item.id is not _MISSING:
        record["id"] = item.id
    record["index"] = item.index
    response: object = None
    error: BaseException | None = None
    if isinstance(result, HTTPStatusError) and not check_status and result.response is not None:
        response = result.response
    elif isinstance(result, BaseException):
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


class _OutputFailed(Exception):
    """The output could not be written (disk full, I/O error); ``str()`` says why."""


#: Bytes of records held before they are written without waiting for the next periodic flush.
_OUTPUT_BUFFER_BYTES: Final = 64 * 1024


class _RecordWriter:
    """Buffered JSON Lines output in which every line is a complete record, whatever happens.

    Records are held in our own buffer and written with ``os.write`` on the output's file descriptor,
    never through a buffered stream (which may split a record between two writes). A failed write
    (a full disk takes part of a write, then refuses the rest) is cut back to the last complete line
    with ``ftruncate``, so the file never ends with a torn record; ``records`` counts the complete
    records written. Without a file descriptor (an in-memory stream) records go through the stream.
    """

    def __init__(self, stream: BinaryIO | None) -> None:
        self._stream = stream
        self._fd: int | None = None
        if stream is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
                self._fd = stream.fileno()
        self._pending = bytearray()
        self._pending_records = 0
        self.broken = False
        #: Why the output could not be written, once it could not.
        self.error: str | None = None
        #: Complete records written to the output.
        self.records = 0

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (written at the next flush, or now if the buffer is full).

        Raises:
            _OutputClosed: the reader of the output went away.
            _OutputFailed: the output could not be written.
        """
        if self._stream is None or self.broken or self.error is not None:
            return
        self._pending += _encode(record)
        self._pending_records += 1
        if len(self._pending) >= _OUTPUT_BUFFER_BYTES:
            self.flush()

    def _break(self) -> None:
        """The reader went away (``pynector batch | head``): send what is still buffered to nowhere.

        Without this, the interpreter's final flush of stdout would fail again and print a traceback.
        """
        self.broken = True
        self._pending.clear()
        if self._stream is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._stream.fileno())
                os.close(devnull)

    def flush(self) -> None:
        """Write the buffered records, if any.

        Raises:
            _OutputClosed: the reader of the output went away.
            _OutputFailed: the output could not be written; what was written ends with a complete line.
        """
        pending = self._pending
        if not pending or self._stream is None or self.broken or self.error is not None:
            return
        written = 0
        try:
            if self._fd is None:
                self._stream.write(pending)
                self._stream.flush()
                written = len(pending)
            else:
                with memoryview(pending) as view:
                    while written < len(view):
                        written += os.write(self._fd, view[written:])
        except BrokenPipeError:
            self._break()
            raise _OutputClosed from None
        except OSError as exc:
            complete = pending.rfind(b"\n", 0, written) + 1
            self.records += pending.count(b"\n", 0, complete)
            if complete < written and self._fd is not None:
                # Cut the torn record: the file ends where the last complete line ends.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, os.lseek(self._fd, 0, os.SEEK_CUR) - (written - complete))
            self.error = exc.strerror or str(exc)
            pending.clear()
            raise _OutputFailed(self.error) from exc
        self.records += self._pending_records
        self._pending_records = 0
        pending.clear()


# --- statistics, progress and logs ---------------------------------------------------------------


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class _Stats:
    """Counters for the progress bar and the summary (O(1) memory unless ``keep_elapsed``)."""

    def __init__(self, *, keep_elapsed: bool = False) -> None:
        self.started = trio.current_time()
        self.done = 0
        self.failed = 0
        self.attempts = 0
        self.retried = 0
        self.recovered = 0
        self.outcomes: Counter[str] = Counter()
        self.elapsed: list[float] | None = [] if keep_elapsed else None

    def add(self, record: Mapping[str, Any]) -> None:
        self.done += 1
        if not record["ok"]:
            self.failed += 1
        self.attempts += record["attempts"]
        if record["attempts"] > 1:
            self.retried += 1
            if record["ok"]:
                self.recovered += 1
        error = record.get("error")
        status = record["status"]
        if error is not None and (status is None or error["type"] == "BatchCancelledError"):
            self.outcomes[error["type"]] += 1
        else:
            self.outcomes[str(status)] += 1
        if self.elapsed is not None and record["elapsed"] is not None:
            self.elapsed.append(record["elapsed"])

    @property
    def duration(self) -> float:
        return trio.current_time() - self.started

    def summary_line(self, skipped: int) -> str:
        seconds = self.duration
        rate = self.done / seconds if seconds > 0 else 0.0
        text = (
            f"{_plural(self.done, 'request')} in {seconds:.2f} s ({rate:.0f}/s): "
            f"{self.done - self.failed} ok, {self.failed} failed, {self.retried} retried"
        )
        if skipped:
            text += f", {skipped} invalid lines skipped"
        return text


class _Display(Protocol):
    def start(self, total: int | None) -> None: ...

    def update(self, stats: _Stats, total: int | None, *, final: bool = False) -> None: ...

    def log(self, message: str) -> None: ...

    def stop(self) -> None: ...


class _PlainDisplay:
    """No bar: log records go straight to stderr."""

    def start(self, total: int | None) -> None:
        pass

    def update(self, stats: _Stats, total: int | None, *, final: bool = False) -> None:
        pass

    def log(self, message: str) -> None:
        sys.stderr.write(message)
        sys.stderr.flush()

    def stop(self) -> None:
        pass


class _RichDisplay:
    """A rich progress bar on stderr: done, failed, rate (over the last seconds) and ETA."""

    def __init__(self, description: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn

        self.console = Console(file=sys.stderr)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("[green]{task.completed}[/] done"),
            TextColumn("[red]{task.fields[failed]}[/] failed"),
            TextColumn("{task.fields[rate]}/s"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
            transient=False,
        )
        self._task = self._progress.add_task(description, total=None, failed=0, rate="-")
        self._samples: deque[tuple[float, int]] = deque(maxlen=30)
        self._running = False

    def start(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)
        self._progress.start()
        self._running = True

    def update(self, stats: _Stats, total: int | None, *, final: bool = False) -> None:
        """Redraw with *stats*; the rate is over the last 3 s, or over the whole run when *final*."""
        now = trio.current_time()
        self._samples.append((now, stats.done))
        first_time, first_done = (stats.started, 0) if final else self._samples[0]
        rate = (stats.done - first_done) / (now - first_time) if now > first_time else 0.0
        self._progress.update(
            self._task, completed=stats.done, total=total, failed=stats.failed, rate=f"{rate:,.0f}"
        )
        self._progress.refresh()

    def log(self, message: str) -> None:
        from rich.text import Text

        if self._running:
            self.console.print(Text(message.rstrip("\n")), highlight=False, soft_wrap=True)
        else:
            sys.stderr.write(message)

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._progress.refresh()
            self._progress.stop()


def _open_display(show_bar: bool, description: str) -> _Display:
    if show_bar:
        try:
            return _RichDisplay(description)
        except ImportError:
            pass  # the optional "cli" extra is not installed: no bar
    return _PlainDisplay()


def _configure_logging(level: str, display: _Display) -> None:
    """Route loguru records (ours and the library's) to stderr through the display.

    The library never adds a sink; the command, being an application, does: it removes loguru's
    default sink and enables the ``pynector`` loggers at *level*.
    """
    logger.remove()
    logger.enable("pynector")
    logger.add(display.log, level=level, format=_log_format, colorize=False)


def _log_format(record: Mapping[str, Any]) -> str:
    """loguru format: time, level, message, then the structured fields the library bound, if any."""
    fields = " {extra}" if record["extra"] else ""
    return "{time:HH:mm:ss} {level: <7} {message}" + fields + "\n{exception}"


# --- running a batch -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RunSettings:
    """Validated options of one run."""

    concurrency: int | None
    rate: float | None
    timeout: float | None
    retries: int
    retry_on: frozenset[int]
    retry_delay: float
    ordered: bool
    fail_fast: bool
    check_status: bool
    no_body: bool
    transport_type: str
    transport_options: Mapping[str, Any]
    cassette: str | None = None
    record_mode: str = "once"


@dataclass(slots=True)
class _Outcome:
    interrupted: bool = False
    output_closed: bool = False


async def _watch_sigint(scope: trio.CancelScope, outcome: _Outcome, *, task_status: Any) -> None:
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        task_status.started()
        async for _ in signals:
            if outcome.interrupted:
                os._exit(EXIT_INTERRUPTED)  # a second Ctrl-C: do not wait for anything
            outcome.interrupted = True
            scope.cancel()


async def _tick(
    writer: _RecordWriter,
    display: _Display,
    stats: _Stats,
    total: Callable[[], int | None],
    scope: trio.CancelScope,
) -> None:
    while True:
        await trio.sleep(FLUSH_INTERVAL)
        try:
            writer.flush()
        except (_OutputClosed, _OutputFailed):
            scope.cancel()
            return
        display.update(stats, total())


async def run_batch(
    settings: _RunSettings,
    feed: _SyncFeed | _AsyncFeed,
    writer: _RecordWriter,
    display: _Display,
    stats: _Stats,
    total: Callable[[], int | None],
) -> _Outcome:
    """Run the items of *feed* through one client and write a record per result as it completes.

    Blocks until the input is exhausted and every request finished, the batch stopped
    (``--fail-fast``), SIGINT arrived or the output was closed.

    Raises:
        pynector.ConfigurationError: invalid transport options (for example ``--base-url``).
        pynector.PynectorError: the batch could not run (other than per-request failures, which are
            records).
    """
    inflight = feed.inflight
    # What each request's retry loop reported, by the request object (alive until its record is written).
    reported: dict[int, RetryDetails] = {}

    def on_finish(request: Any, details: RetryDetails) -> None:
        reported[id(request)] = details

    cassette = None
    inner = None
    if settings.cassette is not None:
        from .testing import Cassette
        from .transport import get_transport_factory_registry

        registry = get_transport_factory_registry()
        # A batch's order varies from run to run: any unused recorded exchange that matches answers.
        cassette = Cassette(settings.cassette, record_mode=settings.record_mode, order="any")
        inner = cassette.wrap(
            registry.create_transport(settings.transport_type, **settings.transport_options)
        )
    policy = RetryPolicy(
        max_retries=settings.retries,
        initial_delay=settings.retry_delay,
        retry_statuses=settings.retry_on,
        on_finish=on_finish,
    )
    client = (
        Pynector(transport_type=settings.transport_type, **settings.transport_options)
        if inner is None
        else Pynector(transport=inner)
    )
    outcome = _Outcome()
    no_body = settings.no_body
    check_status = settings.check_status
    failure: PynectorError | None = None
    try:
        async with trio.open_nursery() as nursery:
            batch_scope = trio.CancelScope()
            await nursery.start(_watch_sigint, batch_scope, outcome)
            nursery.start_soon(_tick, writer, display, stats, total, batch_scope)
            # Exceptions from a nursery's body come out wrapped in an ExceptionGroup: handle them here.
            try:
                with batch_scope:
                    async with (
                        client.stream_batch(
                            feed,
                            max_concurrency=settings.concurrency,
                            ordered=settings.ordered,
                            fail_fast=settings.fail_fast,
                            max_per_second=settings.rate,
                            retry=policy,
                        ) as results,
                    ):
                        async for index, result in results:
                            item = inflight.pop(index)
                            details = reported.pop(id(item.request), None)
                            if details is not None:
                                item.attempts = details.attempts
                                item.started, item.finished = details.started, details.finished
                            record = build_record(item, result, no_body=no_body, check_status=check_status)
                            writer.write(record)
                            stats.add(record)
            except _OutputClosed:
                outcome.output_closed = True
            except _OutputFailed:
                pass  # writer.error says why; the caller reports it
            except PynectorError as exc:
                failure = exc
            nursery.cancel_scope.cancel()
    finally:
        try:
            await client.aclose()  # shielded from cancellation and bounded in time
        except PynectorError as exc:
            logger.warning("closing the transport failed: {}", describe_exception(exc))
        if inner is not None:  # the client does not close a transport it was given
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
                try:
                    await inner.disconnect()
                except Exception as exc:
                    logger.warning("closing the transport failed: {}", describe_exception(exc))
    if cassette is not None and not outcome.interrupted:
        cassette.save()
        unused = len(cassette.unused())
        if unused:
            logger.warning("{} recorded exchange(s) of {} were not replayed", unused, settings.cassette)
    if failure is not None:
        raise failure
    if writer.broken:
        outcome.output_closed = True
    return outcome


def _settings(
    args: argparse.Namespace, transport_type: str, transport_options: Mapping[str, Any]
) -> _RunSettings:
    return _RunSettings(
        concurrency=args.concurrency,
        rate=args.rate,
        timeout=args.timeout,
        retries=args.retries,
        retry_on=args.retry_on,
        retry_delay=args.retry_delay,
        ordered=getattr(args, "ordered", False),
        fail_fast=args.fail_fast,
        check_status=args.check_status,
        no_body=getattr(args, "no_body", False),
        transport_type=transport_type,
        transport_options=transport_options,
        cassette=getattr(args, "cassette", None),
        record_mode=getattr(args, "record_mode", "once"),
    )


def _log_level(args: argparse.Namespace) -> str:
    if args.log_level is not None:
        return str(args.log_level)
    return "ERROR" if args.quiet else "WARNING"


def _output_failed(path: str, writer: _RecordWriter) -> int:
    """Report that the output could not be written (one line) and return its exit code."""
    where = "standard output" if path == "-" else repr(path)
    _error(
        f"cannot write the output {where}: {writer.error}; "
        f"{_plural(writer.records, 'complete record')} written"
    )
    return EXIT_OUTPUT_FAILED


def _error(message: str) -> None:
    """A message that ends the run: always on stderr, whatever the log level."""
    sys.stderr.write(f"pynector: error: {message}\n")
    sys.stderr.flush()


def _open_input(path: str) -> tuple[BinaryIO, bool, int | None]:
    """The input stream, whether we own it, and its size when it is a regular file."""
    if path == "-":
        stream: BinaryIO = sys.stdin.buffer
        owned = False
    else:
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise _UsageError(f"cannot read the input {path!r}: {exc.strerror or exc}") from exc
        owned = True
    try:
        info = os.fstat(stream.fileno())
        size = info.st_size if stat.S_ISREG(info.st_mode) else None
    except (OSError, ValueError, AttributeError):
        size = None
    return stream, owned, size


def _open_output(path: str) -> tuple[BinaryIO, bool]:
    if path == "-":
        return sys.stdout.buffer, False
    try:
        return open(path, "wb"), True
    except OSError as exc:
        raise _UsageError(f"cannot write the output {path!r}: {exc.strerror or exc}") from exc


def _shows_bar(args: argparse.Namespace, stdout_used: bool) -> bool:
    if args.quiet or args.no_progress or not sys.stderr.isatty():
        return False
    # Records printed on the same terminal would tear the bar.
    return not (stdout_used and sys.stdout.isatty())


async def _batch_command(args: argparse.Namespace) -> int:
    options: dict[str, Any]
    if args.memory_target:
        transport_type, options = "memory", {"handler": _memory_handler}
    else:
        options = {"raise_for_status": True, "headers": list(args.headers)}
        if args.base_url is not None:
            options["base_url"] = args.base_url
        if args.timeout is not None:
            options["timeout"] = args.timeout
        if args.concurrency is not None and args.concurrency > DEFAULT_MAX_CONNECTIONS:
            # Requests waiting for a pooled connection would spend their --timeout waiting.
            options["max_connections"] = args.concurrency
        transport_type = "http"
    settings = _settings(args, transport_type, options)
    stream, owns_input, size = _open_input(args.input)
    try:
        output, owns_output = _open_output(args.output)
    except BaseException:
        if owns_input:
            stream.close()
        raise
    display = _open_display(_shows_bar(args, args.output == "-"), "requests")
    _configure_logging(_log_level(args), display)
    reader = _LineReader(stream, skip_invalid=args.skip_invalid, size=size)
    stats = _Stats()
    writer = _RecordWriter(output)

    def estimated_total() -> int | None:
        if reader.exhausted:
            return reader.items
        if reader.size and reader.consumed:
            return max(reader.items, round(reader.items * reader.size / reader.consumed))
        return None

    display.start(estimated_total())
    try:
        feed = _SyncFeed(reader.next_item) if size is not None else _AsyncFeed(reader.anext_item)
        outcome = await run_batch(settings, feed, writer, display, stats, estimated_total)
    except PynectorError as exc:
        raise _UsageError(str(exc)) from exc
    finally:
        display.update(stats, estimated_total(), final=True)
        display.stop()
        with contextlib.suppress(_OutputClosed, _OutputFailed):
            writer.flush()
        if owns_input:
            stream.close()
        if owns_output:
            output.close()
    if writer.error is not None:
        return _output_failed(args.output, writer)
    if not args.quiet:
        sys.stderr.write(f"pynector: {stats.summary_line(reader.skipped)}\n")
    if outcome.interrupted:
        _error(f"interrupted; {_plural(stats.done, 'complete result')} written")
        return EXIT_INTERRUPTED
    if reader.read_error is not None:
        _error(reader.read_error)
        return EXIT_USAGE
    if reader.error is not None:
        _error(f"invalid input {reader.error} (use --skip-invalid to skip such lines)")
        return EXIT_INVALID_INPUT
    if outcome.output_closed:
        _error("the output was closed before every result was written")
        return EXIT_FAILED
    return EXIT_FAILED if stats.failed else EXIT_OK


# --- the demo ------------------------------------------------------------------------------------


def _demo_handler(attempts: dict[int, int]) -> Any:
    from .testing import HTTPRequest, HTTPResponse, ServerConnection

    async def handler(request: HTTPRequest, conn: ServerConnection) -> HTTPResponse | None:
        number = int(request.path.rsplit("/", 1)[-1])
        seen = attempts[number] = attempts.get(number, 0) + 1
        # Every response takes a little while, so the bar has something to show.
        await trio.sleep(0.005 + (number * 7919 % 21) / 1000)
        if number % 100 == 7:
            return HTTPResponse.json({"error": "scripted failure"}, status=500)
        if number % 100 == 42:
            return HTTPResponse.json({"error": "no such item"}, status=404)
        if number % 250 == 13:
            await trio.sleep(30)  # far beyond the timeout: the client gives up first
        if number % 40 == 5 and seen == 1:
            return HTTPResponse.json({"error": "busy"}, status=503, headers=[("Retry-After", "1")])
        if number % 97 == 3 and seen <= 2:
            return HTTPResponse.json({"error": "slow down"}, status=429, headers=[("Retry-After", "1")])
        return HTTPResponse.json({"item": number, "attempt": seen})

    return handler


def _demo_items(count: int) -> Iterator[_Item]:
    for number in range(count):
        yield _Item(number, number, {"method": "GET", "url": f"/items/{number}"})


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def _print_demo_summary(stats: _Stats, settings: _RunSettings, file: TextIO) -> None:
    rows: list[tuple[str, str]] = []
    for outcome, count in sorted(stats.outcomes.items(), key=lambda kv: (-kv[1], kv[0])):
        label = f"HTTP {outcome}" if outcome.isdigit() else outcome
        rows.append((label, str(count)))
    elapsed = stats.elapsed or []
    details = [
        ("requests", str(stats.done)),
        ("failed (with --check-status)", str(stats.failed)),
        ("retried (more than 1 attempt)", str(stats.retried)),
        ("  of which succeeded on a retry", str(stats.recovered)),
        ("attempts in total", str(stats.attempts)),
        ("latency p50 / p95 / max", " / ".join(f"{_percentile(elapsed, q):.3f}s" for q in (0.5, 0.95, 1.0))),
        (
            "concurrency / timeout / retries",
            f"{settings.concurrency} / {settings.timeout:g}s / {settings.retries}",
        ),
    ]
    print(stats.summary_line(0), file=file)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for label, value in [*rows, ("", ""), *details]:
            print(f"  {label:<34} {value}", file=file)
        return
    table = Table(title="pynector demo: outcomes", show_lines=False)
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for label, value in rows:
        table.add_row(label, value)
    table.add_section()
    for label, value in details:
        table.add_row(label, value)
    Console(file=file).print(table)


async def _demo_command(args: argparse.Namespace) -> int:
    from .testing import serve_http

    owns_output = False
    output: BinaryIO | None = None
    if args.output is not None:
        output, owns_output = _open_output(args.output)
    display = _open_display(_shows_bar(args, args.output == "-"), "demo")
    _configure_logging(_log_level(args), display)
    attempts: dict[int, int] = {}
    stats = _Stats(keep_elapsed=True)
    writer = _RecordWriter(output)
    try:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_http, _demo_handler(attempts))
            timeout = args.timeout or 1.0
            settings = _RunSettings(
                concurrency=args.concurrency or 50,
                rate=args.rate,
                timeout=timeout,
                retries=2 if args.retries is None else args.retries,
                retry_on=args.retry_on,
                retry_delay=0.2 if args.retry_delay is None else args.retry_delay,
                ordered=False,
                fail_fast=args.fail_fast,
                check_status=True,
                no_body=False,
                transport_type="http",
                transport_options={"base_url": server.url, "raise_for_status": True, "timeout": timeout},
            )
            if not args.quiet:
                print(
                    f"pynector demo: {args.requests} requests to a loopback server at {server.url}, "
                    f"some scripted to fail, to time out, or to answer 503/429 with Retry-After",
                    file=sys.stderr if args.output == "-" else sys.stdout,
                    flush=True,
                )
            display.start(args.requests)
            try:
                outcome = await run_batch(
                    settings,
                    _SyncFeed(_demo_items(args.requests).__next__),
                    writer,
                    display,
                    stats,
                    lambda: args.requests,
                )
            finally:
                display.update(stats, args.requests, final=True)
                display.stop()
            nursery.cancel_scope.cancel()
    finally:
        with contextlib.suppress(_OutputClosed, _OutputFailed):
            writer.flush()
        if owns_output and output is not None:
            output.close()
    if writer.error is not None:
        return _output_failed(args.output, writer)
    if not args.quiet:
        # Only JSON Lines on stdout when the records go there (-o -).
        _print_demo_summary(stats, settings, sys.stderr if args.output == "-" else sys.stdout)
    # The scripted failures are the point of the demo: it succeeded if it ran to the end.
    return EXIT_INTERRUPTED if outcome.interrupted else EXIT_OK


# --- entry point ---------------------------------------------------------------------------------


async def _main(args: argparse.Namespace) -> int:
    if args.command == "demo":
        return await _demo_command(args)
    return await _batch_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pynector`` command with *argv* (default: ``sys.argv[1:]``) and return the exit code.

    The console script and ``python -m pynector`` call this and exit with its result.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return trio.run(_main, args)
    except _UsageError as exc:
        sys.stderr.write(f"pynector: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
