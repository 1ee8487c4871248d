"""Jobs: batches that survive crashes, resume exactly once and split across processes.

A job is an input of items with stable identities, a checkpoint that records each finished item, and
``stream_batch`` over the items the checkpoint does not have yet.

The naive resumable batch keeps the results in memory and writes them at the end, or through a buffered
file flushed now and then: a crash loses everything since the last flush, and the rerun cannot tell
which requests were answered. Writing a results file line by line through Python's buffered writer is
not enough either: a SIGKILL loses the buffer (up to a flush interval of finished results, whose
requests are then sent again), and a write that fails half-way (a full disk) leaves a torn last line
that looks like a result.

What we do instead:

* **The output is the checkpoint.** Every record is one JSON line written with one ``os.write`` of the
  whole line to a descriptor opened with ``O_APPEND`` (no user-space buffer), *before* the result is
  handed to the caller. Once ``write`` returns, the line is in the kernel: a SIGKILL of the process
  cannot lose it. A power cut can lose what the kernel had not written to the device; ``fsync`` sets
  that trade-off: ``"never"`` (the default; survives any crash of the process, not of the machine),
  ``"interval"`` (``fsync`` every ``fsync_interval`` seconds from a worker thread; a power cut loses at
  most that window), ``"always"`` (``fsync`` after every record, in a worker thread: survives a power
  cut, costs a device flush per record).
* **A record is whole or absent.** A short write is continued; a failed write (``ENOSPC``, ``EIO``)
  truncates the file back to the end of the last complete record and raises
  :class:`pynector.JobOutputError`. On resume, a last line without its newline (a crash or a power cut
  in the middle of a write) is cut off before anything is appended.
* **Identity.** An item is known by its ``id`` when it has one, else by its position in the input
  (``index``). Every record starts with ``{"id":...,"index":N`` (or ``{"index":N``), so resuming reads
  just that prefix of each line: ten million records are scanned in seconds, and only the identities
  are kept (a bitmap for indexes, a set for ids), never the records.
* **Exactly once.** On resume, items whose identity is in the checkpoint are skipped and counted; the
  rest run. A request whose record was written is never sent again. A request that was sent but whose
  record was not written (the crash came between the two) is sent again: a record cannot be written
  before its response exists, so "at least once on the wire, exactly once in the output" is the best
  any client can promise; make requests idempotent (an ``Idempotency-Key`` header from the item's id)
  where a repeat matters.
* **Sharding.** ``shard=(k, n)`` keeps the items whose identity hashes to ``k`` modulo ``n``: integers
  (ids or indexes) by value, other ids by a CRC-32 of their canonical JSON. The same input always
  splits the same way, the shards are disjoint and their union is the input, so ``n`` processes or
  machines each take one part and their outputs concatenate into one complete result.

Why JSON Lines and not SQLite: measured on this project's machine, resuming a 10,000,000-line job
with 9,000,000 records done scans the file in a few seconds with memory in the tens of MiB (the numbers
are in the closing note of the change and in ``benchmarks/job_resume.py``); SQLite would add a second
file format for no gain at that size, and a JSON Lines output is what the next tool in a pipeline reads.
"""

from __future__ import annotations

import json
import math
import os
import re
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

import trio

from ._batch import _reraise
from ._errors import (
    ConfigurationError,
    HTTPStatusError,
    JobOutputError,
    PynectorError,
    SerializationError,
    describe_exception,
)
from ._exctools import collapse_group

if TYPE_CHECKING:
    from ._client import Pynector

__all__ = [
    "FsyncPolicy",
    "Job",
    "JobItem",
    "JobResult",
    "JobStatistics",
    "JsonlCheckpoint",
    "default_record",
    "parse_shard",
    "shard_of",
]

FsyncPolicy = Literal["never", "interval", "always"]
_FSYNC_POLICIES: Final = ("never", "interval", "always")
#: Bytes read per block when a checkpoint is scanned on resume.
_SCAN_BLOCK: Final = 1 << 20
_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})
_DECODER: Final = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class JobItem:
    """One item of a job: its identity, the request data and its per-request options.

    Attributes:
        id: any JSON value that identifies the item across runs (``None``: the item is known by its
            position in the input).
        data: the request, as for :meth:`pynector.Pynector.request`.
        options: per-request options, as for :meth:`pynector.Pynector.request`.
        index: the item's position in the input, for an input with gaps (the command line counts
            blank and invalid lines); ``None``: counted by the job.
    """

    id: Any
    data: Any
    options: Mapping[str, Any] = field(default_factory=lambda: _NO_OPTIONS)
    index: int | None = None


@dataclass(frozen=True, slots=True)
class JobResult:
    """A finished item, yielded after its record was written to the checkpoint.

    Attributes:
        index: the item's position in the whole input (before sharding and skipping).
        id: the item's id (``None`` when it has none).
        data: the request data.
        result: the response, or the exception the item ended with.
        record: the record that was written.
    """

    index: int
    id: Any
    data: Any
    result: Any
    record: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        """Whether the item ended with a response rather than an exception."""
        return not isinstance(self.result, BaseException)


@dataclass(frozen=True, slots=True)
class JobStatistics:
    """What a job run did (see :meth:`Job.statistics`).

    Attributes:
        skipped: items already in the checkpoint when the run started (not sent again).
        other_shards: items that belong to another shard.
        written: records this run wrote.
        failed: records this run wrote for items that ended with an exception.
        recovered_bytes: bytes of a torn last line cut off the checkpoint on resume.
    """

    skipped: int
    other_shards: int
    written: int
    failed: int
    recovered_bytes: int


# --- identities and shards -------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def shard_of(key: Any, count: int) -> int:
    """The shard (``0 <= shard < count``) that an item with identity *key* belongs to.

    Integers (an ``id`` that is an integer, or an index) by value, anything else by the CRC-32 of its
    canonical JSON, so the split is the same in every process and on every machine.
    """
    if isinstance(key, int) and not isinstance(key, bool):
        return key % count
    return zlib.crc32(_canonical(key).encode("utf-8")) % count


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (``1 <= K <= N``, as the command line takes it) as the pair ``(K - 1, N)``.

    Raises:
        pynector.ConfigurationError: *text* is not of that form.
    """
    part, sep, total = text.partition("/")
    try:
        k, n = int(part), int(total)
    except ValueError:
        k = n = 0
    if not sep or not 1 <= k <= n:
        raise ConfigurationError(f"shard must be K/N with 1 <= K <= N (for example 1/4), got {text!r}")
    return k - 1, n


def _check_shard(shard: tuple[int, int] | None) -> tuple[int, int] | None:
    if shard is None:
        return None
    if (
        not isinstance(shard, tuple)
        or len(shard) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
        or not 0 <= shard[0] < shard[1]
    ):
        raise ConfigurationError(f"shard must be a pair (k, n) with 0 <= k < n, got {shard!r}")
    return shard


class _Done:
    """The identities found in a checkpoint.

    Indexes in a bitmap (one bit per item: ten million items take 1.2 MiB), string and integer ids in
    sets of the ids themselves, any other id by its canonical JSON. Only identities are kept, never
    records.
    """

    def __init__(self) -> None:
        self._indexes = bytearray()
        self._strings: set[str] = set()
        self._ints: set[int] = set()
        self._others: set[str] = set()
        self.count = 0

    def add_indexes(self, indexes: Iterable[int]) -> None:
        found = list(indexes)
        if not found:
            return
        bitmap = self._indexes
        size = (max(found) >> 3) + 1
        if size > len(bitmap):
            bitmap.extend(bytes(max(size - len(bitmap), len(bitmap))))
        for index in found:
            bitmap[index >> 3] |= 1 << (index & 7)
        self.count += len(found)

    def add_id(self, item_id: Any) -> None:
        kind = type(item_id)
        if kind is str:
            self._strings.add(item_id)
        elif kind is int:
            self._ints.add(item_id)
        else:
            self._others.add(_canonical(item_id))
        self.count += 1

    def has(self, index: int, item_id: Any) -> bool:
        kind = type(item_id)
        if item_id is None:
            byte = index >> 3
            return byte < len(self._indexes) and bool(self._indexes[byte] & (1 << (index & 7)))
        if kind is str:
            return item_id in self._strings
        if kind is int:
            return item_id in self._ints
        return _canonical(item_id) in self._others


# --- the checkpoint ------------------------------------------------------------------------------


# What every record starts with (see encode_record): the fast paths read identities with one regular
# expression per block of the file; any line they do not match is read by _parse_identity.
# (Each pattern starts with the newline before the record: the regular expression engine then
# searches for that literal prefix, several times faster than a multi-line ``^``.)
_INDEX_RECORDS: Final = re.compile(rb'\n\{"index":(\d+)[,}]')
_ID_RECORDS: Final = re.compile(rb'\n\{"id":(?:"([^"\\\n]*)"|(-?\d+)),"index":\d+[,}]')


def _parse_identity(line: bytes, done: _Done, number: int) -> None:
    """Add the identity that record *line* (without its newline) starts with to *done*.

    Raises:
        pynector.JobOutputError: the line is not a record this module wrote.
    """
    text = line.decode("utf-8", errors="replace")
    try:
        if text.startswith('{"id":'):
            item_id, end = _DECODER.raw_decode(text, 6)
            if item_id is not None and text.startswith(',"index":', end):
                done.add_id(item_id)
                return
        elif match := _INDEX_RECORDS.match(b"\n" + line):
            done.add_indexes((int(match[1]),))
            return
    except ValueError:
        pass
    raise JobOutputError(
        f"line {number} of the checkpoint is not a job record (it must start with "
        '{"id":... or {"index":...); refusing to resume from a file this job did not write'
    )


def _scan_block(block: bytes, done: _Done, first_line: int) -> None:
    """Add the identities of the complete lines in *block* (which ends with a newline) to *done*."""
    lines = block.count(b"\n")
    searched = b"\n" + block
    indexes = _INDEX_RECORDS.findall(searched)
    ids = _ID_RECORDS.findall(searched) if len(indexes) < lines else []
    if len(indexes) + len(ids) == lines:
        done.add_indexes(map(int, indexes))
        for text, number in ids:
            done.add_id(text.decode("utf-8") if number == b"" else int(number))
        return
    for number, line in enumerate(block.split(b"\n")[:-1], start=first_line):  # the slow, exact path
        if line:
            _parse_identity(line, done, number)


class JsonlCheckpoint:
    """A JSON Lines output file that is also the job's checkpoint (see the module docstring).

    Args:
        path: the output file, or an open file descriptor to write to (a pipe, standard output;
            nothing to resume from, never closed by the checkpoint).
        resume: keep the records already in the file and skip their items (default); ``False``
            starts the file afresh (truncates it).
        fsync: when records reach the device: ``"never"`` (the kernel decides; survives a crash of
            the process, not a power cut), ``"interval"`` (every *fsync_interval* seconds), or
            ``"always"`` (after every record).
        fsync_interval: seconds between two ``fsync`` calls with ``fsync="interval"``.

    Raises:
        pynector.ConfigurationError: an invalid *fsync* or *fsync_interval*.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | int,
        *,
        resume: bool = True,
        fsync: FsyncPolicy = "never",
        fsync_interval: float = 1.0,
    ) -> None:
        if fsync not in _FSYNC_POLICIES:
            raise ConfigurationError(f"fsync must be one of {', '.join(_FSYNC_POLICIES)}, got {fsync!r}")
        if (
            isinstance(fsync_interval, bool)
            or not isinstance(fsync_interval, int | float)
            or not math.isfinite(fsync_interval)
            or fsync_interval <= 0
        ):
            raise ConfigurationError(f"fsync_interval must be a finite number > 0, got {fsync_interval!r}")
        self._given_fd = path if isinstance(path, int) else None
        self.path = f"<file descriptor {path}>" if isinstance(path, int) else os.fspath(path)
        self.resume = resume and self._given_fd is None
        self.fsync = fsync
        self.fsync_interval = float(fsync_interval)
        self._fd = -1
        self._end = 0  # offset just past the last complete record
        self._unsynced = False
        #: Bytes of a torn last line cut off when the checkpoint was opened.
        self.recovered_bytes = 0
        #: Whether the file was opened (and read, on resume) successfully.
        self.opened = False

    def _open_sync(self) -> _Done:
        if self._given_fd is not None:
            self._fd = self._given_fd
            self._end = 0
            self.opened = True
            return _Done()
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        if not self.resume:
            flags |= os.O_TRUNC
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise JobOutputError(f"cannot open the output {self.path!r}: {describe_exception(exc)}") from exc
        try:
            done = _Done()
            end = self._scan(done) if self.resume else 0
            size = os.fstat(fd).st_size
            if size > end:  # a torn last line: cut it off before appending after it
                os.ftruncate(fd, end)
                self.recovered_bytes = size - end
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._end = end
        self.opened = True
        return done

    def _scan(self, done: _Done) -> int:
        """Read every complete record's identity; return the offset past the last complete line.

        Raises:
            pynector.JobOutputError: the file cannot be read, or holds lines that are not records.
        """
        try:
            stream = open(self.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise JobOutputError(f"cannot read the output {self.path!r}: {describe_exception(exc)}") from exc
        end = 0
        lines = 1
        tail = b""
        with stream:
            while block := stream.read(_SCAN_BLOCK):
                block = tail + block
                cut = block.rfind(b"\n") + 1
                block, tail = block[:cut], block[cut:]
                if block:
                    _scan_block(block, done, lines)
                    lines += block.count(b"\n")
                    end += len(block)
        return end

    async def open(self) -> _Done:
        """Open the file (in a worker thread) and read the identities already recorded.

        Raises:
            pynector.JobOutputError: the file cannot be opened or read, or holds lines that are not
                job records.
        """
        return await trio.to_thread.run_sync(self._open_sync)

    def write(self, line: bytes) -> None:
        """Append one complete record (*line* ends with a newline) with one write.

        Raises:
            pynector.JobOutputError: the write failed (the file is cut back to its last complete
                record first, so no torn line is ever left).
        """
        view = memoryview(line)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            if self._given_fd is None:
                with suppress(OSError):
                    os.ftruncate(self._fd, self._end)
            raise JobOutputError(
                f"writing the output {self.path!r} failed: {describe_exception(exc)}"
            ) from exc
        self._end += len(line)
        self._unsynced = True

    async def sync(self) -> None:
        """``fsync`` the file in a worker thread if anything was written since the last sync.

        Raises:
            pynector.JobOutputError: the device reported an error.
        """
        if not self._unsynced or self._fd < 0 or self._given_fd is not None:
            return
        self._unsynced = False
        try:
            await trio.to_thread.run_sync(os.fsync, self._fd)
        except OSError as exc:
            raise JobOutputError(
                f"syncing the output {self.path!r} failed: {describe_exception(exc)}"
            ) from exc

    def close(self) -> None:
        """Close the file (idempotent; a file descriptor given by the caller stays open)."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            if self._given_fd is None:
                os.close(fd)


# --- records -------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _header_value(response: object, name: str) -> str | None:
    headers = getattr(response, "headers", None)
    if headers is None or not hasattr(headers, "get"):
        return None
    value = headers.get(name)
    return value if isinstance(value, str) else None


def add_body(record: dict[str, Any], response: object) -> None:
    """Put *response*'s body in *record*: ``"json"`` for a JSON response, else ``"body"`` (text)."""
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


def default_record(item: JobItem, result: Any, *, body: bool = True) -> dict[str, Any]:
    """The record of *item*'s *result* (the job adds ``id`` and ``index`` in front).

    ``{"ok": true, "status": 200, "json": ...}`` for an HTTP response (``"body"`` for a non-JSON
    one), ``{"ok": true, "result": ...}`` for any other JSON-serialisable result (its ``str`` if it is
    not), ``{"ok": false, "error": {"type": ..., "message": ...}}`` (and the ``status`` and body of a
    status error) for an exception. ``body=False`` leaves the response bodies out (the command line's
    ``--no-body``, which builds its records on this one).
    """
    record: dict[str, Any] = {}
    response: object = None
    if isinstance(result, BaseException):
        record["ok"] = False
        if isinstance(result, HTTPStatusError):
            response = result.response
            record["status"] = result.status_code
        record["error"] = {
            "type": type(result).__name__,
            "message": str(result) or describe_exception(result),
        }
    else:
        record["ok"] = True
        status = getattr(result, "status_code", None)
        if isinstance(status, int):
            record["status"] = status
            response = result
        else:
            try:
                json.dumps(result, allow_nan=False)
                record["result"] = result
            except (TypeError, ValueError):
                record["result"] = str(result)
    if response is not None and body:
        add_body(record, response)
    return record


def encode_record(item_id: Any, index: int, record: Mapping[str, Any]) -> bytes:
    """One JSON line: ``{"id":...,"index":N,...record}`` (``id`` only when not ``None``).

    Raises:
        pynector.SerializationError: *record* holds a value JSON cannot represent.
    """
    head: dict[str, Any] = {} if item_id is None else {"id": item_id}
    head["index"] = index
    for key, value in record.items():
        if key not in ("id", "index"):
            head[key] = value
    try:
        try:
            text = json.dumps(head, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            return text.encode("utf-8") + b"\n"
        except UnicodeEncodeError:  # lone surrogates: escape them
            return json.dumps(head, separators=(",", ":"), allow_nan=False).encode("ascii") + b"\n"
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"the record of item {index} cannot be written as JSON: {exc}") from exc


# --- the job -------------------------------------------------------------------------------------


def _identity(value: Any, index: int) -> tuple[int, Any]:
    """The index and id of input item *value* (id ``None``: known by its index), cheaply.

    Raises:
        pynector.ConfigurationError: *value* is not a JobItem or an ``(id, data[, options])`` tuple.
    """
    if type(value) is tuple and 2 <= len(value) <= 3:
        return index, value[0]
    item = _as_item(value, index)
    return (index if item.index is None else item.index), item.id


def _as_item(value: Any, index: int) -> JobItem:
    if isinstance(value, JobItem):
        return value
    if isinstance(value, tuple) and len(value) in (2, 3):
        if len(value) == 2:
            return JobItem(value[0], value[1])
        options = value[2]
        if not isinstance(options, Mapping):
            raise ConfigurationError(
                f"job item {index}: options must be a mapping, got {type(options).__name__}"
            )
        return JobItem(value[0], value[1], options)
    raise ConfigurationError(
        f"job item {index} must be a JobItem or an (id, data[, options]) tuple, got {type(value).__name__}"
    )


class Job:
    """A batch that records every result in a checkpoint and resumes where it stopped.

    ``async with job.run() as results: async for done in results: ...`` runs the items the
    checkpoint does not hold yet through :meth:`pynector.Pynector.stream_batch` and yields a
    :class:`JobResult` for each, after its record was written. ``await job.run_all()`` does the same
    without looking at the results.

    Args:
        client: the client that sends the requests.
        items: the input: :class:`JobItem` objects or ``(id, data)`` / ``(id, data, options)``
            tuples, from any iterable or async iterable (read lazily). The same input must come in the
            same order on every run when items have no id (they are known by their position).
        checkpoint: a :class:`JsonlCheckpoint`, or a path for one with its defaults.
        shard: ``(k, n)``: run only the items of shard *k* of *n* (see :func:`shard_of`).
        record: ``record(item, result) -> dict`` builds what is written for an item's result
            (default: :func:`default_record`); the job puts ``id`` and ``index`` in front.
        **batch_options: passed to :meth:`pynector.Pynector.stream_batch` (``max_concurrency``,
            ``timeout``, ``retry``, ``max_per_second``, ``ordered``, request options...).

    Raises:
        pynector.ConfigurationError: invalid *shard* or *checkpoint*.
    """

    def __init__(
        self,
        client: Pynector,
        items: Iterable[Any] | AsyncIterable[Any],
        *,
        checkpoint: JsonlCheckpoint | str | os.PathLike[str],
        shard: tuple[int, int] | None = None,
        record: Callable[[JobItem, Any], Mapping[str, Any]] = default_record,
        **batch_options: Any,
    ) -> None:
        self._client = client
        self._items = items
        if isinstance(checkpoint, str | os.PathLike):
            checkpoint = JsonlCheckpoint(checkpoint)
        if not isinstance(checkpoint, JsonlCheckpoint):
            raise ConfigurationError(
                f"checkpoint must be a JsonlCheckpoint or a path, got {type(checkpoint).__name__}"
            )
        self.checkpoint = checkpoint
        self._shard = _check_shard(shard)
        self._record = record
        self._batch_options = batch_options
        self._inflight: dict[int, tuple[int, JobItem]] = {}
        self._skipped = 0
        self._other_shards = 0
        self._written = 0
        self._failed = 0

    def statistics(self) -> JobStatistics:
        """What the current or last run did so far."""
        return JobStatistics(
            skipped=self._skipped,
            other_shards=self._other_shards,
            written=self._written,
            failed=self._failed,
            recovered_bytes=self.checkpoint.recovered_bytes,
        )

    def _wanted(self, done: _Done, index: int, item_id: Any) -> bool:
        if self._shard is not None:
            k, n = self._shard
            if shard_of(index if item_id is None else item_id, n) != k:
                self._other_shards += 1
                return False
        if done.count and done.has(index, item_id):
            self._skipped += 1
            return False
        return True

    def _sync_pairs(self, items: Iterable[Any], done: _Done) -> Iterator[tuple[Any, Mapping[str, Any]]]:
        pulled = 0
        for position, value in enumerate(items):
            index, item_id = _identity(value, position)
            if self._wanted(done, index, item_id):
                item = _as_item(value, position)
                self._inflight[pulled] = (index, item)
                pulled += 1
                yield item.data, item.options

    async def _sync_every(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            await self.checkpoint.sync()

    @asynccontextmanager
    async def run(self) -> AsyncIterator[_JobResults]:
        """Open the checkpoint, skip what it holds, and run the rest.

        Yields:
            An async iterator of :class:`JobResult`, each yielded after its record was written
            (completion order, or input order with ``ordered=True``). Leaving the block early cancels
            the items in flight; their records are not written, so a later run sends them again.

        Raises:
            pynector.JobOutputError: the checkpoint cannot be opened, read or written (the run stops;
                every record already written is complete).
            pynector.ConfigurationError: invalid batch options or items.
            pynector.BatchInputError: iterating *items* raised.
        """
        checkpoint = self.checkpoint
        done = await checkpoint.open()
        self._skipped = self._other_shards = self._written = self._failed = 0
        self._inflight = {}
        pairs: Iterable[Any] | AsyncIterable[Any]
        if isinstance(self._items, AsyncIterable):
            pairs = _AsyncPairs(self, self._items, done)
        else:
            pairs = self._sync_pairs(self._items, done)
        try:
            try:
                async with trio.open_nursery() as nursery:
                    if checkpoint.fsync == "interval":
                        nursery.start_soon(self._sync_every, checkpoint.fsync_interval)
                    async with self._client.stream_batch(pairs, **self._batch_options) as results:
                        yield _JobResults(self, results)
                    nursery.cancel_scope.cancel()
            except BaseExceptionGroup as group:  # the block's own exception, or Cancelled
                _reraise(collapse_group(group))
            if checkpoint.fsync != "never":
                await checkpoint.sync()
        finally:
            checkpoint.close()

    async def run_all(self) -> JobStatistics:
        """Run the job to the end without looking at the results.

        Raises:
            The same as :meth:`run`.
        """
        async with self.run() as results:
            async for _ in results:
                pass
        return self.statistics()


class _AsyncPairs:
    """The batch's ``(data, options)`` pairs from an async input.

    A class, not an async generator: the batch engine may stop pulling at any time, and an abandoned
    generator would only be finalised later by the garbage collector.
    """

    def __init__(self, job: Job, items: AsyncIterable[Any], done: _Done) -> None:
        self._job = job
        self._items = items.__aiter__()
        self._done = done
        self._index = 0
        self._pulled = 0

    def __aiter__(self) -> _AsyncPairs:
        return self

    async def __anext__(self) -> tuple[Any, Mapping[str, Any]]:
        while True:
            value = await self._items.__anext__()
            index, item_id = _identity(value, self._index)
            self._index += 1
            if self._job._wanted(self._done, index, item_id):
                item = _as_item(value, index)
                self._job._inflight[self._pulled] = (index, item)
                self._pulled += 1
                return item.data, item.options


class _JobResults:
    """``async for done in results``: a :class:`JobResult` per finished item, after its record was
    written."""

    def __init__(self, job: Job, results: AsyncIterator[tuple[int, Any]]) -> None:
        self._job = job
        self._results = results

    def __aiter__(self) -> _JobResults:
        return self

    async def __anext__(self) -> JobResult:
        job = self._job
        checkpoint = job.checkpoint
        pulled, result = await self._results.__anext__()
        index, item = job._inflight.pop(pulled)
        record = job._record(item, result)
        checkpoint.write(encode_record(item.id, index, record))
        if checkpoint.fsync == "always":
            await checkpoint.sync()
        job._written += 1
        if isinstance(result, BaseException):
            job._failed += 1
        return JobResult(index, item.id, item.data, result, record)
