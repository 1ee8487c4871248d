"""The :class:`Cassette`: one file of recorded exchanges, its record modes, and the bookkeeping of one
exchange, from the live request to the line written.

The naive cassette appends each exchange to its file as the exchange ends. A test interrupted
half-way then leaves half a cassette that the next run replays as if it were whole, and concurrent
exchanges land in the order the service happened to answer them, not the order the code made them.
Here an exchange gets its entry when it starts (the file's order is the order the requests were
made), the entry is filled in when it ends, and the file is
written once, at :meth:`Cassette.close`, atomically (a temporary file, then a rename); exchanges
still in flight are left out. Which recorded exchange answers a request is the business of
``_matching``; how a request and its outcome become a record, of ``_codecs`` and ``_redaction``;
the transports :meth:`Cassette.wrap` hands out live in ``_transport``.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import trio

from ..._errors import ConfigurationError
from ..._version import __version__
from ...transport._base import adapt_transport
from ._codecs import Codec
from ._errors import CassetteError, UnmatchedRequestError
from ._matching import (
    BUILTIN_MATCHERS,
    DEFAULT_MATCH_ON,
    MATCHERS,
    Entry,
    Live,
    Matcher,
    RecordedExchanges,
    describe_request,
)
from ._records import ROUND, rebuild_error
from ._redaction import Scrub, Secrets
from ._transport import CassetteTransport, StreamingCassetteTransport

__all__ = ["FORMAT_VERSION", "RECORD_MODES", "Cassette"]

#: The record modes, as the tools people know them name them.
RECORD_MODES = ("once", "new_episodes", "none", "all")
RecordMode = Literal["once", "new_episodes", "none", "all"]
#: The version of the file format (the header line's ``pynector_cassette``).
FORMAT_VERSION = 1


@dataclass(eq=False)
class Cassette:
    """One cassette file: the exchanges to replay and the exchanges recorded.

    Args:
        path: the file (JSON Lines; parent directories are created when it is written).
        record_mode: ``"once"`` (default: replay when the file exists, else record every exchange),
            ``"new_episodes"`` (replay what matches, record and add what does not), ``"none"`` (replay
            only; the file must exist) or ``"all"`` (record every exchange, rewrite the file).
        match_on: what a live request must share with a recorded one: names from :data:`MATCHERS`
            (``"method"``, ``"url"``, ``"host"``, ``"path"``, ``"query"``, ``"headers"``, ``"body"``,
            ``"json_body"``) or callables ``(recorded_request, live_request) -> bool``. Default:
            method, URL and body (for non-HTTP transports, the request value and its options).
        order: ``"sequence"`` (default): each request must match the next unused recorded exchange;
            ``"any"``: it takes the first unused exchange that matches, wherever it is (batches, whose
            order varies from run to run).
        allow_unused: do not fail at :meth:`close` when recorded exchanges were never replayed.
        latency: factor applied to the recorded durations on replay (default 1: as recorded, on
            trio's clock; 0: answer at once).
        secret_headers: more header names (and call-argument names) whose values are never written.
        scrub: a hook ``scrub(entry) -> entry`` called on every exchange (a dict with ``request``
            and, when recording, the outcome) before it is written or matched; return the entry
            changed (or ``None`` to keep the one changed in place). See :func:`scrub_json_fields`.

    Use it as a context manager, or call :meth:`close` at the end: that writes what was recorded and
    checks that every request matched and every recorded exchange was replayed.

    Raises:
        pynector.ConfigurationError: an unknown record mode, matcher or order.
        pynector.testing.CassetteError: the file cannot be read or is not a cassette; mode ``none`` and no
            file.
    """

    path: str | os.PathLike[str]
    record_mode: str = "once"
    match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON
    order: str = "sequence"
    allow_unused: bool = False
    latency: float = 1.0
    secret_headers: Iterable[str] = ()
    scrub: Scrub | None = None
    entries: list[Entry] = field(init=False, repr=False)
    unmatched: list[UnmatchedRequestError] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.record_mode not in RECORD_MODES:
            raise ConfigurationError(
                f"record_mode must be one of {', '.join(RECORD_MODES)}, got {self.record_mode!r}"
            )
        if self.order not in ("sequence", "any"):
            raise ConfigurationError(f"order must be 'sequence' or 'any', got {self.order!r}")
        if isinstance(self.match_on, str):
            raise ConfigurationError("match_on must be a list of matcher names or callables")
        for matcher in self.match_on:
            if not callable(matcher) and matcher not in BUILTIN_MATCHERS:
                raise ConfigurationError(
                    f"unknown matcher {matcher!r}: use {', '.join(MATCHERS)} or a callable(recorded, live)"
                )
        if (
            isinstance(self.latency, bool)
            or not isinstance(self.latency, (int, float))
            or not (0 <= self.latency < math.inf)
        ):
            raise ConfigurationError(f"latency must be a number >= 0, got {self.latency!r}")
        if isinstance(self.secret_headers, str):
            raise ConfigurationError("secret_headers must be a list of header names")
        self.path = Path(self.path)
        self.secret_headers = tuple(self.secret_headers)
        self._recorded = RecordedExchanges(self.match_on, self.order)
        self.entries = self._recorded.entries
        self.unmatched = []
        self._origin: float | None = None
        self._closed = False
        exists = self.path.exists()
        if self.record_mode == "none" and not exists:
            raise CassetteError(
                f"cassette {self.path} does not exist and record_mode is 'none': record it first "
                "(record_mode 'once' or 'all')"
            )
        #: Whether recorded exchanges answer requests (else every request goes to the transport).
        self.replaying = exists and self.record_mode in ("once", "new_episodes", "none")
        #: Whether a request without a recorded answer is sent to the transport and recorded.
        self.recording = self.record_mode in ("all", "new_episodes") or (
            self.record_mode == "once" and not exists
        )
        if self.replaying:
            self._load()
        self._recorded.index_entries()

    # -- the file --

    def _load(self) -> None:
        path = Path(self.path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CassetteError(f"cannot read cassette {path}: {exc}") from exc
        records: list[dict[str, Any]] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise CassetteError(f"{path}:{number} is not a JSON line: {exc}") from exc
            if not isinstance(record, dict):
                raise CassetteError(f"{path}:{number} is not a JSON object")
            records.append(record)
        if not records or records[0].get("pynector_cassette") != FORMAT_VERSION:
            raise CassetteError(
                f"{path} is not a pynector cassette (its first line must be "
                f'{{"pynector_cassette": {FORMAT_VERSION}, ...}})'
            )
        for number, record in enumerate(records[1:], 2):
            if not isinstance(record.get("request"), dict) or "transport" not in record:
                raise CassetteError(f"{path}: exchange line {number} has no transport or request")
            op = str(record.setdefault("op", "exchange"))
            self.entries.append(
                Entry(record, key=self._recorded.key(str(record["transport"]), op, record["request"]))
            )

    def save(self) -> None:
        """Write the file when exchanges were recorded (atomically: a temporary file, then a rename).

        Exchanges still in flight are left out. Raises:
            pynector.testing.CassetteError: the file cannot be written.
        """
        if not self.recording or not any(e.new for e in self.entries):
            return
        path = Path(self.path)
        header = {"pynector_cassette": FORMAT_VERSION, "recorded_with": f"pynector {__version__}"}
        lines = [json.dumps(header)]
        kept = [e for e in self.entries if e.done and (e.new or self.record_mode == "new_episodes")]
        lines += [json.dumps(e.record, ensure_ascii=False) for e in kept]
        temporary = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
            os.replace(temporary, path)
        except OSError as exc:
            raise CassetteError(f"cannot write cassette {path}: {exc}") from exc

    def unused(self) -> list[dict[str, Any]]:
        """The recorded exchanges (read from the file) that no request replayed."""
        return [e.record for e in self.entries if not e.new and not e.used]

    def check(self) -> None:
        """Fail if a request found no recorded exchange, or (unless ``allow_unused``) if recorded
        exchanges were never replayed.

        Raises:
            pynector.testing.CassetteError: listing the unmatched requests or the unused exchanges.
        """
        if self.unmatched:
            raise CassetteError(
                f"{len(self.unmatched)} request(s) matched no recorded exchange of cassette {self.path}:\n"
                + "\n".join(str(error) for error in self.unmatched)
            )
        unused = [] if self.allow_unused else self.unused()
        if unused:
            listing = "\n".join(
                f"  #{r.get('id', '?')} {describe_request(r['request'])}" for r in unused[:20]
            )
            more = f"\n  ... and {len(unused) - 20} more" if len(unused) > 20 else ""
            raise CassetteError(
                f"{len(unused)} recorded exchange(s) of cassette {self.path} were never replayed "
                f"(the code no longer makes these requests; re-record, or pass allow_unused=True):\n"
                f"{listing}{more}"
            )

    def close(self) -> None:
        """Write what was recorded, then :meth:`check`. Idempotent.

        Raises:
            pynector.testing.CassetteError: as :meth:`save` and :meth:`check`.
        """
        if self._closed:
            return
        self._closed = True
        self.save()
        self.check()

    def __enter__(self) -> Cassette:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc is None:
            self.close()
        else:
            self._closed = True
            self.save()  # keep what was recorded; the block's own error is the one to report

    # -- wrapping --

    def wrap(self, transport: object) -> CassetteTransport:
        """A transport that records *transport*'s exchanges into this cassette or replays them.

        Raises:
            pynector.ConfigurationError: *transport* is not a transport.
        """
        adapted = adapt_transport(transport)
        if callable(getattr(adapted, "stream", None)):
            return StreamingCassetteTransport(self, adapted)
        return CassetteTransport(self, adapted)

    # -- used by the transport --

    def _prepare(self, codec: Codec, op: str, data: Any, options: Mapping[str, Any]) -> Live:
        cache = codec.cache
        key = codec.simple_key(data, options)
        if key is not None:
            cached = cache.get((key, op))
            if cached is not None:
                return cached[1]
            token = codec.token_for(data, options)
        else:
            token = codec.token_for(data, options)
            key = codec.cache_key(data, options, token)
            if key is not None:
                cached = cache.get((key, op))
                if cached is not None and cached[0] is token:
                    return cached[1]
        request, values = codec.request(data, options, token)
        live = self._redacted(codec, op, request, values)
        if key is not None:
            if len(cache) >= 512:
                cache.clear()
            cache[(key, op)] = (token, live)  # a token is kept alive: its id stays its own
        return live

    def _redacted(self, codec: Codec, op: str, request: dict[str, Any], values: Sequence[str]) -> Live:
        secrets = Secrets.of(request, values, (*self.secret_headers, *codec.secret_headers))
        request = secrets.redact(request)
        if self.scrub is not None:
            entry: dict[str, Any] = {"transport": codec.kind, "op": op, "request": request}
            entry = self.scrub(entry) or entry
            request = entry["request"]
        return Live(codec.kind, op, request, secrets, self._recorded.key(codec.kind, op, request))

    def _answer(self, live: Live) -> Entry | None:
        """The recorded exchange answering *live* (marked used), or ``None`` when *live* is to be
        sent and recorded.

        Raises:
            pynector.testing.UnmatchedRequestError: no recorded exchange matches and the mode does
                not record.
        """
        if self.replaying:
            entry = self._recorded.find(live)
            if entry is not None:
                return entry
            if not self.recording:
                raise self._unmatched(live)
        return None

    def _unmatched(self, live: Live) -> UnmatchedRequestError:
        lines = [
            f"no recorded exchange of cassette {self.path} matches {describe_request(live.request)} "
            f"(record_mode={self.record_mode!r}, order={self.order!r}, "
            f"match_on={[getattr(m, '__name__', m) for m in self.match_on]})",
            *self._recorded.explain(live),
        ]
        error = UnmatchedRequestError("\n".join(lines), live.request)
        self.unmatched.append(error)
        return error

    def _start_recording(self, live: Live, now: float) -> Entry:
        if self._origin is None:
            self._origin = now
        number = len(self.entries) + 1
        record: dict[str, Any] = {
            "id": number,
            "transport": live.kind,
            "op": live.op,
            "start": round(now - self._origin, ROUND),
            "duration": None,
            "request": copy.deepcopy(live.request),  # a scrub hook may change it in place
        }
        entry = Entry(record, new=True, done=False, used=True)
        self.entries.append(entry)
        return entry

    def _finish(self, entry: Entry, secrets: Secrets, started: float, **outcome: Any) -> None:
        record = entry.record
        record["duration"] = round(trio.current_time() - started, ROUND)
        for name, value in outcome.items():
            record[name] = secrets.redact(value)
        if self.scrub is not None:
            entry.record = self.scrub(record) or record
        entry.done = True

    async def _wait(self, seconds: object) -> None:
        """Sleep *seconds* (times ``latency``) on trio's clock; at least a checkpoint."""
        delay = float(seconds) * self.latency if isinstance(seconds, (int, float)) else 0.0
        if delay > 0:
            await trio.sleep(delay)
        else:
            await trio.lowlevel.checkpoint()

    async def _replay_outcome(self, entry: Entry, codec: Codec, started: float) -> Any:
        record = entry.record
        if record.get("cancelled"):
            # The caller's deadline or cancel scope ended this exchange while it was recorded: the
            # same deadline ends it now. Wait twice as long before saying nothing did.
            cut = float(record.get("duration") or 0.0)
            await self._wait(cut + max(cut, 1.0))
            raise CassetteError(
                f"exchange #{record.get('id')} ({describe_request(entry.request)}) was cancelled after "
                f"{cut:g}s when it was recorded, and nothing cancelled it on replay"
            )
        duration = record.get("duration")
        if duration and self.latency:
            await trio.sleep_until(started + float(duration) * self.latency)
        else:
            await trio.lowlevel.checkpoint()
        if "error" in record:
            raise rebuild_error(record["error"], codec.rebuild_error_response)
        return codec.rebuild(record["response"], entry.request, trio.current_time() - started)
