"""The ``pynector`` command's argument parser."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from .. import __version__
from .._errors import ConfigurationError
from .._httpcommon import HTTP_TOKEN
from .._job import parse_shard
from ._common import _LOG_LEVELS, BATCH_FORMAT_HELP, EXIT_CODES_HELP


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


def _rate(text: str) -> float | str:
    """``--rate``: ``auto`` (learn the service's quota) or a number of requests per second."""
    return "auto" if text == "auto" else _positive_float(text)


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


def _shard(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not HTTP_TOKEN.match(name):
        raise argparse.ArgumentTypeError("expected 'Name: value' with a valid header name")
    value = value.strip()
    if any(c in value for c in "\r\n\0"):
        raise argparse.ArgumentTypeError(f"the value of header {name!r} contains CR, LF or NUL")
    return name, value


@dataclass(frozen=True)
class RunDefaults:
    """The defaults of the run options, which ``--help`` shows (the demo has its own)."""

    concurrency: int | None = None
    timeout: float | None = None
    retries: int = 0
    retry_delay: float = 1.0


#: The demo's settings: 50 in flight, 1 s timeout, 2 retries 0.2 s apart.
DEMO_DEFAULTS: Final = RunDefaults(concurrency=50, timeout=1.0, retries=2, retry_delay=0.2)


def _add_run_options(parser: argparse.ArgumentParser, defaults: RunDefaults = RunDefaults()) -> None:
    """The options shared by ``batch`` and ``demo``: how the requests run and what is shown."""
    run = parser.add_argument_group("running the requests")
    run.add_argument(
        "--concurrency",
        type=_positive_int,
        default=defaults.concurrency,
        metavar="N",
        help="requests in flight at once (default: the client's max_concurrency, 100, "
        "or PYNECTOR_MAX_CONCURRENCY)"
        if defaults.concurrency is None
        else f"requests in flight at once (default {defaults.concurrency})",
    )
    run.add_argument(
        "--rate",
        type=_rate,
        default=None,
        metavar="PER_SECOND",
        help="at most this many requests per second, or auto: learn the service's quota from its "
        "rate-limit headers and 429s (the whole batch pauses on a 429)",
    )
    run.add_argument(
        "--redis-url",
        default=None,
        metavar="URL",
        help="share the --rate quota with every process using the same Redis (needs pynector-trio[redis])",
    )
    run.add_argument(
        "--timeout",
        type=_positive_float,
        default=defaults.timeout,
        metavar="SECONDS",
        help="total deadline of one attempt: connect, send and the whole response, not per read "
        + (
            '(default 60; a line\'s own "timeout" wins)'
            if defaults.timeout is None
            else f"(default {defaults.timeout:g})"
        ),
    )
    run.add_argument(
        "--retries",
        type=_count,
        default=defaults.retries,
        metavar="N",
        help=f"retries after a failed attempt (default {defaults.retries})",
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
        default=defaults.retry_delay,
        metavar="SECONDS",
        help=f"first backoff wait, doubled per retry with jitter (default {defaults.retry_delay:g})",
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
        "--include-headers", action="store_true", help='add the response headers to each result ("headers")'
    )
    job = batch.add_argument_group("long jobs")
    job.add_argument(
        "--resume",
        action="store_true",
        help="the output file (-o FILE) is the checkpoint: keep its complete records, drop a torn last "
        "line, and run only the items it does not have yet (matched by id, else by line number); "
        "without it, the output file is overwritten",
    )
    job.add_argument(
        "--fsync",
        choices=("never", "interval", "always"),
        default="never",
        help="when records reach the disk: never (default; each record is written with one write, so "
        "a crash or kill of the process loses nothing, a power cut may lose what the system had not "
        "flushed), interval (fsync every second: a power cut loses at most that), always (fsync "
        "after every record: survives a power cut, costs a disk flush per record)",
    )
    job.add_argument(
        "--shard",
        type=_shard,
        default=None,
        metavar="K/N",
        help="run only part K of N of the input (1 <= K <= N), split by id (else line number) the "
        "same way in every process, so N processes or machines cover the input once together",
    )
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
    http.add_argument(
        "-L",
        "--follow-redirects",
        action="store_true",
        help="follow redirects (credentials are stripped when a redirect leaves the origin)",
    )
    http.add_argument(
        "--cacert",
        default=None,
        metavar="FILE",
        help="trust the CA certificates in FILE (PEM) instead of the system's, for https",
    )
    http.add_argument(
        "--allow-cross-origin-headers",
        action="store_true",
        help="send credential headers given with -H (Authorization, cookies, API keys) to every "
        "URL; by default they go only to the --base-url origin",
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
    _add_run_options(demo, DEMO_DEFAULTS)
    return parser
