"""Running a batch: the retry policy that reports, signals, and the ``batch`` command.

Attempts and elapsed time. Every item runs under a :class:`pynector.RetryPolicy` (``max_retries=0``
without ``--retries``) whose ``on_finish`` hook hands over a :class:`pynector.RetryDetails` when the
item's call ends: the attempts made, and the time from the first attempt's start to the last
attempt's end (retry waits included; a ``--rate`` wait before the first attempt excluded, a quota's
wait for ``--rate auto`` or ``--redis-url`` included, as it happens inside the attempt). The details
are kept by the identity of the item's request until the job asks for the item's record.

Statuses. With ``--check-status`` the HTTP transport raises for every 4xx/5xx, and the policy retries
the ``--retry-on`` statuses among those errors as it retries any status error. Without it the transport
returns every response, and the policy's ``result_failure`` names the status error a ``--retry-on``
response stands for: the policy retries it under the same rules (``Retry-After``, the attempt count),
and a ``--retry-on`` status still returned by the last attempt is recorded as the response it is, like
any other status.

Interruption. SIGINT is taken with ``trio.open_signal_receiver``: the first one cancels the batch
(requests in flight are abandoned and not written), the lines written so far are flushed (each record
is written whole, so the output ends with a complete line) and the command exits with 130; a second
SIGINT exits at once.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import stat
import sys
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

import trio
from loguru import logger

# The command is a client of the public API; it reuses private helpers (the root-cause formatter, URL
# redaction, the HTTP status error) so that its messages match the library's.
from .. import (
    Job,
    JobItem,
    JobOutputError,
    JobResult,
    JsonlCheckpoint,
    Pynector,
    PynectorError,
    Quota,
    RetryDetails,
    RetryPolicy,
)
from .._errors import describe_exception
from .._net import CLOSE_TIMEOUT
from .._redact import redact_url
from ..http._model import Response, status_error
from ..transport import get_transport_factory_registry
from ._common import (
    _MISSING,
    DEFAULT_MAX_CONNECTIONS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_INVALID_INPUT,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_USAGE,
    FLUSH_INTERVAL,
    _UsageError,
)
from ._display import _configure_logging, _Display, _open_display, _plural, _Stats
from ._input import CredentialHeaders, _Item, _LineReader
from ._output import build_record


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


@dataclass(frozen=True, slots=True)
class _RunSettings:
    """Validated options of one run."""

    concurrency: int | None
    rate: float | str | None
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
    include_headers: bool = False
    shard: tuple[int, int] | None = None
    quota_url: str | None = None
    cassette: str | None = None
    record_mode: str = "once"


@dataclass(slots=True)
class _Outcome:
    interrupted: bool = False
    output_closed: bool = False
    #: Why writing the output failed (a full disk...), when it did.
    output_error: JobOutputError | None = None
    #: Items already in the output (``--resume``) and items of other shards (``--shard``).
    skipped_done: int = 0
    other_shards: int = 0


async def _watch_sigint(scope: trio.CancelScope, outcome: _Outcome, *, task_status: Any) -> None:
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        task_status.started()
        async for _ in signals:
            if outcome.interrupted:
                os._exit(EXIT_INTERRUPTED)  # a second Ctrl-C: do not wait for anything
            outcome.interrupted = True
            scope.cancel()


async def _tick(display: _Display, stats: _Stats, total: Callable[[], int | None]) -> None:
    while True:
        await trio.sleep(FLUSH_INTERVAL)
        display.update(stats, total())


def _job_item(item: _Item) -> JobItem:
    return JobItem(None if item.id is _MISSING else item.id, item.request, index=item.index)


def _sync_items(next_item: Callable[[], _Item]) -> Iterator[JobItem]:
    while True:
        try:
            item = next_item()
        except StopIteration:
            return
        yield _job_item(item)


class _AsyncItems:
    """The job's items from a pipe or a terminal (a class: the batch may stop pulling at any time)."""

    def __init__(self, next_item: Callable[[], Awaitable[_Item]]) -> None:
        self._next_item = next_item

    def __aiter__(self) -> _AsyncItems:
        return self

    async def __anext__(self) -> JobItem:
        return _job_item(await self._next_item())


def _warn_given_up(done: JobResult) -> None:
    """The retries of *done* were given up: say which item, without its secrets."""
    name = f"item {done.index}" + ("" if done.id is None else f" (id {json.dumps(done.id)[:80]})")
    logger.warning(
        "retries given up for {}: {} {} after {} attempts: {}",
        name,
        done.data["method"],
        redact_url(done.data["url"]),
        done.record["attempts"],
        done.record["error"]["type"],
    )


def _retry_policy(settings: _RunSettings, on_finish: Callable[[Any, RetryDetails], object]) -> RetryPolicy:
    """The policy of every item: ``--retries``, ``--retry-delay``, ``--retry-on`` (module docstring)."""
    retry_on = settings.retry_on

    def result_failure(response: Any) -> Exception | None:
        if isinstance(response, Response) and response.status_code in retry_on:
            return status_error(response)
        return None

    return RetryPolicy(
        max_retries=settings.retries,
        initial_delay=settings.retry_delay,
        retry_statuses=retry_on,
        result_failure=None if settings.check_status else result_failure,
        on_finish=on_finish,
    )


async def run_batch(
    settings: _RunSettings,
    items: Iterable[JobItem] | AsyncIterable[JobItem],
    checkpoint: JsonlCheckpoint,
    display: _Display,
    stats: _Stats,
    total: Callable[[], int | None],
) -> _Outcome:
    """Run *items* as a job through one client, writing a record per result as it completes.

    The command is a shell over :class:`pynector.Job`: the output is the job's checkpoint, so
    ``--resume``, ``--shard`` and the durability of every line are the library's.

    Blocks until the input is exhausted and every request finished, the batch stopped
    (``--fail-fast``), SIGINT arrived or the output could not be written.

    Raises:
        pynector.ConfigurationError: invalid transport options (for example ``--base-url``).
        pynector.PynectorError: the batch could not run (other than per-request failures, which are
            records).
    """
    registry = get_transport_factory_registry()
    transport = registry.create_transport(settings.transport_type, **settings.transport_options)
    cassette = None
    if settings.cassette is not None:
        from ..testing import Cassette

        # A batch's order varies from run to run: any unused recorded exchange that matches answers.
        cassette = Cassette(settings.cassette, record_mode=settings.record_mode, order="any")
        transport = cassette.wrap(transport)
    # How each item's call went, by the identity of its request, until its record is written.
    finished: dict[int, RetryDetails] = {}

    def on_finish(request: Any, details: RetryDetails) -> None:
        finished[id(request)] = details

    client = Pynector(transport=transport, rate_limit=_quota(settings))
    outcome = _Outcome()
    no_body = settings.no_body
    include_headers = settings.include_headers
    retries = settings.retries

    def record(job_item: JobItem, result: Any) -> dict[str, Any]:
        details = finished.pop(id(job_item.data), None)
        return build_record(job_item, result, details, no_body=no_body, include_headers=include_headers)

    job = Job(
        client,
        items,
        checkpoint=checkpoint,
        shard=settings.shard,
        record=record,
        max_concurrency=settings.concurrency,
        ordered=settings.ordered,
        fail_fast=settings.fail_fast,
        max_per_second=_plain_rate(settings),
        retry=_retry_policy(settings, on_finish),
    )
    failure: PynectorError | None = None
    try:
        async with trio.open_nursery() as nursery:
            batch_scope = trio.CancelScope()
            await nursery.start(_watch_sigint, batch_scope, outcome)
            nursery.start_soon(_tick, display, stats, total)
            # Exceptions from a nursery's body come out wrapped in an ExceptionGroup: handle them here.
            try:
                with batch_scope:
                    async with client, job.run() as results:
                        async for done in results:
                            stats.add(done.record)
                            if retries and not done.record["ok"] and done.record["attempts"] > 1:
                                _warn_given_up(done)
            except JobOutputError as exc:
                if not checkpoint.opened:  # the output cannot be opened or resumed: a usage error
                    failure = exc
                elif isinstance(exc.__cause__, BrokenPipeError):
                    outcome.output_closed = True
                else:
                    outcome.output_error = exc
            except PynectorError as exc:
                failure = exc
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
            try:
                await transport.disconnect()
            except Exception as exc:
                logger.warning("closing the transport failed: {}", describe_exception(exc))
    if cassette is not None and not outcome.interrupted:
        cassette.save()
        unused = len(cassette.unused())
        if unused:
            logger.warning("{} recorded exchange(s) of {} were not replayed", unused, settings.cassette)
    job_stats = job.statistics()
    outcome.skipped_done = job_stats.skipped
    outcome.other_shards = job_stats.other_shards
    if failure is not None:
        raise failure
    return outcome


def _plain_rate(settings: _RunSettings) -> float | None:
    """``--rate N`` without ``--redis-url``: the batch's plain ``max_per_second``."""
    if isinstance(settings.rate, float) and settings.quota_url is None:
        return settings.rate
    return None


def _quota(settings: _RunSettings) -> Quota | None:
    """The client's quota for ``--rate auto`` and ``--redis-url`` (a number alone stays a plain limit)."""
    if settings.rate == "auto":
        return Quota(redis_url=settings.quota_url)
    if settings.quota_url is not None:
        per_second = 10.0 if settings.rate is None else float(settings.rate)
        return Quota(requests_per_minute=60 * per_second, headroom=0.0, redis_url=settings.quota_url)
    return None


def _settings(
    args: argparse.Namespace, transport_type: str, transport_options: Mapping[str, Any]
) -> _RunSettings:
    return _RunSettings(
        concurrency=args.concurrency,
        rate=args.rate,
        quota_url=args.redis_url,
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
        include_headers=getattr(args, "include_headers", False),
        shard=getattr(args, "shard", None),
        cassette=getattr(args, "cassette", None),
        record_mode=getattr(args, "record_mode", "once"),
    )


def _log_level(args: argparse.Namespace) -> str:
    if args.log_level is not None:
        return str(args.log_level)
    return "ERROR" if args.quiet else "WARNING"


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


def open_checkpoint(path: str | None, *, resume: bool = False, fsync: Any = "never") -> JsonlCheckpoint:
    """The job checkpoint that writes the records: *path*, standard output for ``-``, nowhere for
    ``None``.

    Raises:
        _UsageError: ``--resume`` with standard output (nothing to resume from).
    """
    if path == "-":
        if resume:
            raise _UsageError("--resume needs an output file (-o FILE): standard output cannot be read back")
        return JsonlCheckpoint(sys.stdout.fileno(), resume=False)
    if path is None:
        return JsonlCheckpoint(os.devnull, resume=False)
    return JsonlCheckpoint(path, resume=resume, fsync=fsync)


def _shows_bar(args: argparse.Namespace, stdout_used: bool) -> bool:
    if args.quiet or args.no_progress or not sys.stderr.isatty():
        return False
    # Records printed on the same terminal would tear the bar.
    return not (stdout_used and sys.stdout.isatty())


def _transport_options(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The transport and its options for ``pynector batch``.

    Raises:
        _UsageError: ``--cacert`` cannot be read.
    """
    if args.memory_target:
        return "memory", {"handler": _memory_handler}
    options: dict[str, Any] = {"raise_for_status": args.check_status, "headers": list(args.plain_headers)}
    if args.base_url is not None:
        options["base_url"] = args.base_url
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.concurrency is not None and args.concurrency > DEFAULT_MAX_CONNECTIONS:
        # Requests waiting for a pooled connection would spend their --timeout waiting.
        options["max_connections"] = args.concurrency
    if args.follow_redirects:
        options["follow_redirects"] = True
    if args.cacert is not None:
        try:
            options["verify"] = ssl.create_default_context(cafile=args.cacert)
        except (OSError, ssl.SSLError) as exc:
            raise _UsageError(f"cannot read --cacert {args.cacert!r}: {describe_exception(exc)}") from exc
    return "http", options


async def _batch_command(args: argparse.Namespace) -> int:
    if args.resume and args.output == "-":
        raise _UsageError("--resume needs an output file (-o FILE): standard output cannot be read back")
    # Credentials given with -H go only to the --base-url origin (see _input.CredentialHeaders).
    credentials = CredentialHeaders.split(args, args.headers)
    transport_type, options = _transport_options(args)
    settings = _settings(args, transport_type, options)
    stream, owns_input, size = _open_input(args.input)
    try:
        checkpoint = open_checkpoint(args.output, resume=args.resume, fsync=args.fsync)
        display = _open_display(_shows_bar(args, args.output == "-"), "requests")
        _configure_logging(_log_level(args), display)
        reader = _LineReader(
            stream,
            skip_invalid=args.skip_invalid,
            size=size,
            base_url=_MISSING if args.memory_target else args.base_url,
            credentials=credentials,
        )
        stats = _Stats()

        def estimated_total() -> int | None:
            if reader.exhausted:
                return reader.items
            if reader.size and reader.consumed:
                return max(reader.items, round(reader.items * reader.size / reader.consumed))
            return None

        display.start(estimated_total())
        items: Iterable[JobItem] | AsyncIterable[JobItem]
        items = _sync_items(reader.next_item) if size is not None else _AsyncItems(reader.anext_item)
        try:
            outcome = await run_batch(settings, items, checkpoint, display, stats, estimated_total)
        except PynectorError as exc:
            raise _UsageError(str(exc)) from exc
        finally:
            display.update(stats, estimated_total(), final=True)
            display.stop()
    finally:
        if owns_input:
            stream.close()
    if outcome.output_error is not None:  # one line says it all (the summary would count lost records)
        cause = outcome.output_error.__cause__
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
        _error(
            f"cannot write the output {args.output!r}: {reason}; "
            f"{_plural(stats.done, 'complete record')} written"
        )
        return EXIT_OUTPUT
    if not args.quiet:
        sys.stderr.write(
            f"pynector: {stats.summary_line(reader.skipped, outcome.skipped_done, outcome.other_shards)}\n"
        )
    if outcome.interrupted:
        _error(f"interrupted; {_plural(stats.done, 'complete result')} written")
        return EXIT_INTERRUPTED
    if reader.read_error is not None:
        _error(reader.read_error)
        return EXIT_USAGE
    if reader.usage_error is not None:
        _error(reader.usage_error)
        return EXIT_USAGE
    if reader.error is not None:
        _error(f"invalid input {reader.error} (use --skip-invalid to skip such lines)")
        return EXIT_INVALID_INPUT
    if outcome.output_closed:
        _error("the output was closed before every result was written")
        return EXIT_FAILED
    return EXIT_FAILED if stats.failed else EXIT_OK
