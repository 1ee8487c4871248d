"""Constants, exit codes and the exceptions shared by the ``pynector`` command's modules."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

#: Every request succeeded.
EXIT_OK: Final = 0
#: At least one request failed (or the reader of the output went away).
EXIT_FAILED: Final = 1
#: Usage or configuration error (bad flag, unreadable input, invalid --base-url...).
EXIT_USAGE: Final = 2
#: An invalid input line stopped the run (see --skip-invalid).
EXIT_INVALID_INPUT: Final = 3
#: The output could not be written (a full disk, an I/O error); the lines written are complete.
EXIT_OUTPUT: Final = 4
#: Interrupted (SIGINT); the lines written are complete.
EXIT_INTERRUPTED: Final = 130

EXIT_CODES_HELP = """\
exit codes:
  0    every request succeeded
  1    some requests failed (transport error, timeout, or a 4xx/5xx with --check-status)
  2    usage or configuration error (bad flag, unreadable input or output, invalid --base-url)
  3    an invalid input line stopped the run (lines before it were run; see --skip-invalid)
  4    the output could not be written (full disk, I/O error); every line written is complete,
       so --resume continues from there
  130  interrupted by SIGINT (Ctrl-C); the results written so far are complete JSON lines
"""

BATCH_FORMAT_HELP = """\
input, one JSON object per line (blank lines are ignored):
  {"id": 7, "method": "POST", "url": "/items", "headers": {"X-Trace": "1"},
   "params": {"page": 2}, "json": {"name": "x"}, "timeout": 2.5}
  url is required (relative to --base-url, or absolute; a relative url without --base-url stops
  the run with exit code 2); method defaults to GET; params is an object of query parameters
  (values: strings, numbers, booleans or lists of them); send at most one of json (any JSON
  value), body (a string) or form (an object, sent as application/x-www-form-urlencoded); id is
  any JSON value, echoed in the output and used by --resume to recognise the item.

output, one JSON object per result:
  {"id": 7, "index": 0, "ok": true, "status": 201, "elapsed": 0.0123, "attempts": 1,
   "json": {...}}
  index is the input line's 0-based position; id appears when the input had one; the body is
  "json" when the response is JSON, else "body" (text), omitted with --no-body; "headers" (an
  object) with --include-headers; a failure has "ok": false and
  "error": {"type": "TimeoutError", "message": "..."}.
"""

#: Longest accepted input line; longer lines are invalid (memory stays bounded).
MAX_LINE_BYTES: Final = 16 * 1024 * 1024
#: Bytes read from the input per worker-thread hop.
READ_BLOCK_BYTES: Final = 64 * 1024
#: Seconds between two redraws of the progress bar.
FLUSH_INTERVAL: Final = 0.1
#: The HTTP transports' default connection limit (``max_connections``); raised to --concurrency above it.
DEFAULT_MAX_CONNECTIONS: Final = 100

_LINE_KEYS: Final = ("id", "method", "url", "headers", "params", "json", "body", "form", "timeout")
_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})
_MISSING: Any = object()
_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


class _UsageError(Exception):
    """A usage or configuration problem found after argument parsing: exit code 2."""


class _InvalidLine(Exception):
    """An input line that is not a valid request."""
